/**
 * The second step of the last-copy scan: which nodes hold each image. One ListImages per agent finds the candidate
 * nodes (and the digest of tag-only references), then HasImage confirms that every blob is there: a record without
 * its blobs is no copy.
 */
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import { digestFromNodeImages, majorityDigest } from '../common/last-copy.js';
import type { ActivityDeps, AgentEndpoint, AgentImage, NodeInfo } from './deps.js';
import { mapFailures } from './failures.js';
import { discoverAgents, mapLimit } from './inventory.js';

/** What the scan asks about one image. */
export interface HolderQuery {
  key: string;
  /** `registry/repository`. */
  name: string;
  tag?: string;
  digest?: string;
}

/** Which nodes hold one image. */
export interface HolderAnswer {
  key: string;
  digest: string | null;
  /** How the digest was found when the pods did not say it. */
  resolvedVia?: 'node-status' | 'agents';
  holders: string[];
}

/** Result of `countImageHolders`. */
export interface HolderCount {
  images: HolderAnswer[];
  /** Nodes whose agent did not answer ListImages. */
  unreachable: string[];
}

/** How long one agent call may take before the node counts as unreachable. */
const AGENT_TIMEOUT_MS = 10_000;
/** Agent calls in flight at once. */
const PARALLEL = 8;

function callSignal(): AbortSignal {
  return AbortSignal.any([cancellationSignal(), AbortSignal.timeout(AGENT_TIMEOUT_MS)]);
}

async function inventoryOf(deps: ActivityDeps, agent: AgentEndpoint): Promise<AgentImage[] | null> {
  try {
    return await deps.agent.listImages(agent, { signal: callSignal() });
  } catch {
    return null;
  }
}

/** Node.status.images first (the hint kubelet keeps), then the agents' records of `name:tag`. */
function resolve(
  q: HolderQuery,
  nodes: NodeInfo[],
  inventories: (AgentImage[] | null)[],
): Pick<HolderAnswer, 'digest' | 'resolvedVia'> {
  if (q.digest) return { digest: q.digest };
  if (!q.tag) return { digest: null };
  const tag = q.tag;
  const hinted = nodes.map((n) => digestFromNodeImages(n.imageNames, q.name, tag));
  const fromNodes = majorityDigest(hinted.filter((d): d is string => d !== undefined));
  if (fromNodes) return { digest: fromNodes, resolvedVia: 'node-status' };
  const named = inventories.flatMap((inv) =>
    (inv ?? []).filter((i) => i.name === `${q.name}:${tag}`).map((i) => i.digest),
  );
  const fromAgents = majorityDigest(named);
  return fromAgents ? { digest: fromAgents, resolvedVia: 'agents' } : { digest: null };
}

async function complete(deps: ActivityDeps, agent: AgentEndpoint, digest: string): Promise<boolean> {
  try {
    return (await deps.agent.hasImage(agent, digest, { signal: callSignal() })).complete;
  } catch {
    return false;
  }
}

/** Resolves missing digests and finds, for every image, the nodes holding a complete copy. */
export async function countImageHolders(
  deps: ActivityDeps,
  input: { images: HolderQuery[] },
): Promise<HolderCount> {
  const nodes = await mapFailures('list nodes', () => deps.kube.listNodes({ signal: cancellationSignal() }));
  const agents = await mapFailures('discover agents', () => discoverAgents(deps, nodes));
  const inventories = await mapLimit(agents, PARALLEL, (a) => inventoryOf(deps, a));
  heartbeat({ agents: agents.length });
  const resolved = input.images.map((q) => ({ key: q.key, ...resolve(q, nodes, inventories) }));
  const checks = resolved.flatMap((r, i) =>
    agents
      .filter((_, j) => r.digest && inventories[j]?.some((img) => img.digest === r.digest))
      .map((agent) => ({ i, agent, digest: r.digest as string })),
  );
  const ok = await mapLimit(checks, PARALLEL, (c) => complete(deps, c.agent, c.digest));
  const images: HolderAnswer[] = resolved.map((r) => ({ ...r, holders: [] }));
  checks.forEach((c, n) => {
    if (ok[n]) images[c.i]?.holders.push(c.agent.node);
  });
  for (const img of images) img.holders = [...new Set(img.holders)].sort();
  const unreachable = agents.filter((_, j) => inventories[j] === null).map((a) => a.node);
  return { images, unreachable: [...new Set(unreachable)].sort() };
}
