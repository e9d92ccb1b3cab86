/**
 * Inventory: which nodes hold a digest. The agents' containerd is the truth (it can say whether every blob is
 * there); `Node.status.images` is only a hint, because kubelet reports names, not completeness.
 */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps, AgentEndpoint, ImageStatus, NodeInfo } from './deps.js';
import { agentUnavailable, holdersUnreachable, mapFailures } from './failures.js';
import { expandAgentTemplate, needsNodeIP } from '../common/agent-endpoint.js';
import { compareSources } from '../common/source-choice.js';
import type { SourceCandidate, SourceInventory } from './types.js';

/** Input of `locateSources`. */
export interface LocateInput {
  digest: string;
  targetNode: string;
  /**
   * Fail with a retryable failure instead of answering "no source" while holders kubelet reports have agents
   * that do not answer, or the target has no agent (restarting, rebooting): the salvage's first locate, so an
   * agent restart does not fail it. Without it (dry runs, later rounds) the inventory is answered as it is.
   */
  waitForHolders?: boolean;
}

/** How long one HasImage may take before the agent counts as unreachable. */
const HAS_IMAGE_TIMEOUT_MS = 10_000;

/** Agents asked at once: enough to be quick on big clusters, few enough not to flood the worker. */
const PARALLEL = 8;

/** A node as discovery needs it: its name, or its name and InternalIP. */
export type NodeRef = string | Pick<NodeInfo, 'name' | 'internalIP'>;

function fromTemplate(template: string, node: NodeRef): AgentEndpoint | undefined {
  const n = typeof node === 'string' ? { name: node } : node;
  const address = expandAgentTemplate(template, n);
  return address === undefined ? undefined : { node: n.name, address };
}

/** Finds every agent: the DaemonSet's ready pods, or one endpoint per node from the template. */
export async function discoverAgents(deps: ActivityDeps, nodes: NodeRef[]): Promise<AgentEndpoint[]> {
  const d = deps.config.agents;
  if (d.kind === 'template') {
    return nodes.map((n) => fromTemplate(d.template, n)).filter((a): a is AgentEndpoint => a !== undefined);
  }
  const pods = await deps.kube.listAgentPods({ signal: cancellationSignal() });
  return pods
    .filter((p) => p.ready && p.podIP)
    .map((p) => ({ node: p.node, address: `${p.podIP}:${d.port}` }));
}

/** Runs `fn` over `items` with at most `limit` in flight; keeps the order of `items`. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

/**
 * Orders sources: the least busy first (fan-out), nodes that never serve peers last; among equals, hinted by
 * kubelet first (more likely to be warm), then by node name for determinism.
 */
export const orderSources: (a: SourceCandidate, b: SourceCandidate) => number = compareSources();

async function askAgent(
  deps: ActivityDeps,
  agent: AgentEndpoint,
  digest: string,
  cancel?: AbortSignal,
): Promise<ImageStatus | null> {
  const timeout = AbortSignal.timeout(HAS_IMAGE_TIMEOUT_MS);
  const signal = cancel ? AbortSignal.any([cancel, timeout]) : timeout;
  try {
    return await deps.agent.hasImage(agent, digest, { signal });
  } catch {
    // An unreachable agent is not a failure of the inventory: the node is just not a usable source.
    return null;
  }
}

/** A holder as the inventory reports it, with the load its agent reported. */
function candidateOf(agent: AgentEndpoint, st: ImageStatus, hinted: boolean): SourceCandidate {
  return {
    node: agent.node,
    endpoint: agent.address,
    complete: st.complete,
    sizeBytes: st.sizeBytes,
    hinted,
    ...(st.activeExports !== undefined ? { activeExports: st.activeExports } : {}),
    ...(st.maxExports !== undefined ? { maxExports: st.maxExports } : {}),
  };
}

/** What every agent said about one digest, with the nodes kubelet reports it on: the raw inventory. */
export interface Survey {
  agents: AgentEndpoint[];
  /** HasImage answer per agent (same order); null when the agent did not answer. */
  answers: (ImageStatus | null)[];
  /** Nodes whose Node.status.images lists the digest. */
  hinted: Set<string>;
}

/** Asks every agent about `digest` (8 at a time) and reads Node.status.images. */
async function survey(deps: ActivityDeps, digest: string, cancel?: AbortSignal): Promise<Survey> {
  const nodes = await mapFailures('list nodes', () => deps.kube.listNodes({ signal: cancel }));
  const hinted = new Set(
    nodes.filter((n) => n.imageNames.some((name) => name.endsWith(`@${digest}`))).map((n) => n.name),
  );
  const agents = await mapFailures('discover agents', () => discoverAgents(deps, nodes));
  const answers = await mapLimit(agents, PARALLEL, (a) => askAgent(deps, a, digest, cancel));
  return { agents, answers, hinted };
}

/** How long a survey answers every caller: salvages of one digest on many nodes start together. */
const SURVEY_TTL_MS = 2_000;

/**
 * Surveys shared per digest (single flight): when one digest is salvaged on many nodes at once, every workflow
 * locates its sources at about the same time, and asking every agent once per workflow would cost
 * nodes × nodes HasImage calls. Callers within `ttlMs` of a survey share it; the inventory it gives is at most
 * that old, which is harmless (a holder that completed since is learned by the transfer's source picker).
 */
export class HolderSurveys {
  private readonly recent = new Map<string, { at: number; survey: Promise<Survey> }>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  /** `ttlMs` @default 2000; `now` @default Date.now. */
  constructor(
    private readonly deps: ActivityDeps,
    opts: { ttlMs?: number; now?: () => number } = {},
  ) {
    this.ttlMs = opts.ttlMs ?? SURVEY_TTL_MS;
    this.now = opts.now ?? Date.now;
  }

  /** The survey of `digest`: the one in flight or younger than the TTL, else a new one. */
  of(digest: string, cancel?: AbortSignal): Promise<Survey> {
    const now = this.now();
    for (const [d, r] of this.recent) if (now - r.at >= this.ttlMs) this.recent.delete(d);
    let r = this.recent.get(digest);
    if (!r) {
      // Not bound to the first caller's cancellation: the others still need it. Each HasImage has a timeout.
      r = { at: now, survey: survey(this.deps, digest) };
      r.survey.catch(() => this.recent.delete(digest));
      this.recent.set(digest, r);
    }
    return cancel ? abortable(r.survey, cancel) : r.survey;
  }
}

/** `p`, or a rejection as soon as `signal` aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason ?? new Error('aborted'));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason ?? new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The inventory of a survey as seen from `targetNode`. */
export function inventoryOf(s: Survey, targetNode: string): SourceInventory {
  const inv: SourceInventory = { sources: [], skipped: [], targetHasImage: false };
  const seen = new Set<string>();
  s.agents.forEach((agent, i) => {
    const st = s.answers[i];
    if (agent.node === targetNode) {
      inv.targetEndpoint = agent.address;
      inv.targetHasImage = st?.complete === true;
      return;
    }
    if (st) seen.add(agent.node);
    if (!st?.present) return;
    (st.complete ? inv.sources : inv.skipped).push(candidateOf(agent, st, s.hinted.has(agent.node)));
  });
  for (const node of [...s.hinted].filter((n) => n !== targetNode && !seen.has(n)).sort()) {
    inv.skipped.push({ node, complete: false, sizeBytes: 0, hinted: true });
  }
  inv.sources.sort(orderSources);
  return inv;
}

/**
 * Asks every agent about the digest and combines the answers with Node.status.images; with `surveys`, shares
 * the agents' answers with concurrent callers. The transfer activity calls it again while it waits for a free
 * holder, so nodes that completed in the meantime become sources.
 */
export async function locateInventory(
  deps: ActivityDeps,
  input: LocateInput,
  surveys?: HolderSurveys,
): Promise<SourceInventory> {
  const cancel = cancellationSignal();
  const s = await mapFailures(`survey the holders of ${input.digest}`, () =>
    surveys ? surveys.of(input.digest, cancel) : survey(deps, input.digest, cancel),
  );
  const inv = inventoryOf(s, input.targetNode);
  if (input.waitForHolders) ensureReachable(inv, input);
  return inv;
}

/**
 * Throws a retryable failure when the inventory cannot be trusted yet: no complete source while holders that
 * kubelet reports do not answer, or no agent on the target. "No source" stays an answer when every holder
 * kubelet knows of answered (the workflow then fails with NoSourceNode at once).
 */
export function ensureReachable(inv: SourceInventory, input: LocateInput): void {
  if (inv.targetHasImage) return;
  const away = inv.skipped.filter((s) => !s.endpoint).map((s) => s.node);
  if (inv.sources.length === 0 && away.length > 0) throw holdersUnreachable(input.digest, away);
  if (!inv.targetEndpoint) throw agentUnavailable(input.targetNode);
}

/** Builds the inventory activity; `surveys` (shared with the transfer activity) batches concurrent locates. */
export function createInventoryActivities(
  deps: ActivityDeps,
  surveys?: HolderSurveys,
): {
  locateSources(input: LocateInput): Promise<SourceInventory>;
} {
  return {
    /** Asks every agent about the digest and combines the answers with Node.status.images. */
    locateSources: (input: LocateInput): Promise<SourceInventory> => locateInventory(deps, input, surveys),
  };
}

/** The agent of one node; throws a retryable failure when it is not (yet) running there. */
export async function findAgent(deps: ActivityDeps, node: string): Promise<AgentEndpoint> {
  const signal = cancellationSignal();
  const needsNodes = deps.config.agents.kind === 'template' && needsNodeIP(deps.config.agents.template);
  const nodes: NodeRef[] = needsNodes
    ? await mapFailures('list nodes', () => deps.kube.listNodes({ signal }))
    : [node];
  const agents = await mapFailures('discover agents', () => discoverAgents(deps, nodes));
  const agent = agents.find((a) => a.node === node);
  if (!agent) throw agentUnavailable(node);
  return agent;
}
