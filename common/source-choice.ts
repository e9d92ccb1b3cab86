/**
 * Source choice for fan-out (docs/architecture.md): when many nodes need one digest, every node that completed holds a copy
 * and can serve the others. A transfer takes the least busy holder that can take one more upload; a holder at its
 * cap (the worker's `--max-uploads-per-source`, or the agent's own refusal) is passed over, not failed.
 * Pure and deterministic, so workflows rank with it too.
 */

/** What ranking needs to know about a holder. */
export interface SourceLoad {
  node: string;
  /** Whether Node.status.images lists the digest on this node (kubelet saw it: likely warm). */
  hinted?: boolean;
  /** Sessions its agent reported streaming to peers when it was asked. */
  activeExports?: number;
  /** Its agent's `--max-concurrent-exports`: 0 means it never serves peers; undefined when not reported. */
  maxExports?: number;
}

/** The caller's view of load right now. Every field is optional: an empty view ranks by reported load only. */
export interface LoadView {
  /** Uploads the caller itself runs from `node` now. @default 0 */
  running?(node: string): number;
  /** Uploads one source may serve at once for the caller; 0 or undefined means no cap. */
  perSourceCap?: number;
  /** True for a holder to leave out for now (it refused as busy and is backing off). */
  unavailable?(node: string): boolean;
  /** Node to take first among equally loaded ones (the previous attempt's source: its session is warm). */
  prefer?: string;
}

/** Whether a holder serves peers at all (an agent with `--max-concurrent-exports 0` never does). */
export function servesPeers(c: SourceLoad): boolean {
  return c.maxExports !== 0;
}

/**
 * The load of a holder: the larger of what its agent reported and what the caller runs from it. The larger,
 * not the sum, because the agent's count already includes the caller's own sessions when it is the only caller.
 */
export function sourceLoad(c: SourceLoad, running = 0): number {
  return Math.max(c.activeExports ?? 0, running);
}

/** True when the caller may not start one more upload from `c` now. */
export function atCap(c: SourceLoad, view: LoadView = {}): boolean {
  const running = view.running?.(c.node) ?? 0;
  const cap = view.perSourceCap ?? 0;
  return (cap > 0 && running >= cap) || view.unavailable?.(c.node) === true;
}

/**
 * Preference order of holders: those that serve peers before those that never do, then those below their agent's
 * own cap, then the least loaded, then `view.prefer`, then nodes kubelet also reports, then by name.
 */
export function compareSources(view: LoadView = {}): (a: SourceLoad, b: SourceLoad) => number {
  const load = (c: SourceLoad): number => sourceLoad(c, view.running?.(c.node) ?? 0);
  // An agent that reported being at its own cap would refuse one more session: try it after the others.
  const full = (c: SourceLoad): number =>
    !servesPeers(c) ? 2 : c.maxExports !== undefined && load(c) >= c.maxExports ? 1 : 0;
  return (a, b) =>
    full(a) - full(b) ||
    load(a) - load(b) ||
    Number(b.node === view.prefer) - Number(a.node === view.prefer) ||
    Number(b.hinted === true) - Number(a.hinted === true) ||
    a.node.localeCompare(b.node);
}

/**
 * Holders that can take one more upload now, least busy first; ties go to the preferred node, then to nodes
 * kubelet also reports, then by name (deterministic). Holders that never serve peers or are at their cap are
 * left out; an empty answer means: wait for a slot or a new holder.
 */
export function rankSources<T extends SourceLoad>(candidates: readonly T[], view: LoadView = {}): T[] {
  return candidates.filter((c) => servesPeers(c) && !atCap(c, view)).sort(compareSources(view));
}

/** The holder to take now, or undefined when every one is at its cap (or none serves peers). */
export function chooseSource<T extends SourceLoad>(
  candidates: readonly T[],
  view: LoadView = {},
): T | undefined {
  return rankSources(candidates, view)[0];
}
