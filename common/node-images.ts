/**
 * Tag → digest from `Node.status.images`, the one rule the controller's resolution chain and the last-copy scan
 * share (docs/architecture.md, docs/limitations.md). Kubelet reports one entry per image it holds, and each entry's
 * `names` mix the image's tags (`repo:tag`) and repo digests (`repo@sha256:…`), short or fully qualified.
 *
 * The rule:
 * - Names are compared after normalisation (`nginx:1.25` is `docker.io/library/nginx:1.25`).
 * - An entry answers for `repo:tag` when it lists that tag and exactly one digest of the same repository. A
 *   digest of another repository never pairs, and two digests of the repository in one entry (an index and a
 *   platform manifest of one image) leave it ambiguous: the agents' containerd knows which one the tag names.
 * - A node answers when the entries that list the tag agree on one digest (one vote per node).
 * - Across nodes the digest most nodes name wins; a tie goes to the smallest digest, so the answer never depends
 *   on the order caches or lists return the nodes in.
 */
import { canonicalName, formatReference, parseImageReference } from './image-ref.js';

/** One node's `Node.status.images`: each entry's `names`, as kubelet reports them. */
export type ImageEntries = readonly (readonly string[])[];

/** The tagged reference asked about, normalised; undefined when it does not parse or is pinned. */
function taggedTarget(reference: string): { full: string; name: string; tag: string } | undefined {
  const p = parseImageReference(reference);
  if (!p.ok || p.ref.tag === undefined || p.ref.digest !== undefined) return undefined;
  return { full: formatReference(p.ref), name: canonicalName(p.ref), tag: p.ref.tag };
}

type Target = NonNullable<ReturnType<typeof taggedTarget>>;

/** Whether `n` names the target tag (a bare name does not: kubelet always writes the tag). */
function namesTag(n: string, t: Target): boolean {
  if (n.includes('@') || !n.endsWith(`:${t.tag}`)) return false;
  const p = parseImageReference(n);
  return p.ok && formatReference(p.ref) === t.full;
}

/** The digest `n` names when it is a repo digest of the target's repository. */
function digestOf(n: string, t: Target): string | undefined {
  if (!n.includes('@sha256:')) return undefined;
  const p = parseImageReference(n);
  return p.ok && p.ref.digest !== undefined && canonicalName(p.ref) === t.name ? p.ref.digest : undefined;
}

/** The one digest in `values`, or undefined when there is none or several. */
function single(values: Iterable<string | undefined>): string | undefined {
  let found: string | undefined;
  for (const v of values) {
    if (v === undefined || (found !== undefined && v !== found)) return undefined;
    found = v;
  }
  return found;
}

function nodeDigest(entries: ImageEntries, t: Target): string | undefined {
  const answers = entries
    .filter((names) => names.some((n) => namesTag(n, t)))
    .map((names) => single(new Set(names.map((n) => digestOf(n, t)).filter((d) => d !== undefined))));
  return single(answers);
}

/** The digest one node's `status.images` pairs with the tagged `reference`, or undefined (see the rule above). */
export function nodeDigestForTag(entries: ImageEntries, reference: string): string | undefined {
  const t = taggedTarget(reference);
  return t ? nodeDigest(entries, t) : undefined;
}

/** The votes of the nodes that answer for `reference`, in node order (one per node). */
export function nodeDigestVotes(nodes: Iterable<ImageEntries>, reference: string): string[] {
  const t = taggedTarget(reference);
  if (!t) return [];
  const votes: string[] = [];
  for (const entries of nodes) {
    const d = nodeDigest(entries, t);
    if (d !== undefined) votes.push(d);
  }
  return votes;
}

/** The digest most witnesses name, ties broken by the smallest digest (deterministic); undefined for none. */
export function majorityDigest(witnesses: readonly string[]): string | undefined {
  const votes = new Map<string, number>();
  for (const d of witnesses) votes.set(d, (votes.get(d) ?? 0) + 1);
  return [...votes.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))[0]?.[0];
}

/** The digest `Node.status.images` gives the tagged `reference` across `nodes`, or undefined. */
export function digestForTagFromNodes(nodes: Iterable<ImageEntries>, reference: string): string | undefined {
  return majorityDigest(nodeDigestVotes(nodes, reference));
}
