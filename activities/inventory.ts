/**
 * Inventory: which nodes hold a digest. The agents' containerd is the truth (it can say whether every blob is
 * there); `Node.status.images` is only a hint, because kubelet reports names, not completeness.
 */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps, AgentEndpoint, ImageStatus, NodeInfo } from './deps.js';
import { agentUnavailable, mapFailures } from './failures.js';
import { compareSources } from '../common/source-choice.js';
import type { SourceCandidate, SourceInventory } from './types.js';

/** Input of `locateSources`. */
export interface LocateInput {
  digest: string;
  targetNode: string;
}

/** How long one HasImage may take before the agent counts as unreachable. */
const HAS_IMAGE_TIMEOUT_MS = 10_000;

/** Agents asked at once: enough to be quick on big clusters, few enough not to flood the worker. */
const PARALLEL = 8;

/** A node as discovery needs it: its name, or its name and InternalIP. */
export type NodeRef = string | Pick<NodeInfo, 'name' | 'internalIP'>;

function fromTemplate(template: string, node: NodeRef): AgentEndpoint | undefined {
  const { name, internalIP } = typeof node === 'string' ? { name: node, internalIP: undefined } : node;
  if (template.includes('{nodeIP}') && !internalIP) return undefined;
  return {
    node: name,
    address: template.replaceAll('{node}', name).replaceAll('{nodeIP}', internalIP ?? ''),
  };
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
): Promise<ImageStatus | null> {
  const signal = AbortSignal.any([cancellationSignal(), AbortSignal.timeout(HAS_IMAGE_TIMEOUT_MS)]);
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

/**
 * Asks every agent about the digest and combines the answers with Node.status.images. The transfer activity
 * calls it again while it waits for a free holder, so nodes that completed in the meantime become sources.
 */
export async function locateInventory(deps: ActivityDeps, input: LocateInput): Promise<SourceInventory> {
  const nodes = await mapFailures('list nodes', () => deps.kube.listNodes({ signal: cancellationSignal() }));
  const hinted = new Set(
    nodes.filter((n) => n.imageNames.some((name) => name.endsWith(`@${input.digest}`))).map((n) => n.name),
  );
  const agents = await mapFailures('discover agents', () => discoverAgents(deps, nodes));
  const answers = await mapLimit(agents, PARALLEL, (a) => askAgent(deps, a, input.digest));
  const inv: SourceInventory = { sources: [], skipped: [], targetHasImage: false };
  const seen = new Set<string>();
  agents.forEach((agent, i) => {
    const st = answers[i];
    if (agent.node === input.targetNode) {
      inv.targetEndpoint = agent.address;
      inv.targetHasImage = st?.complete === true;
      return;
    }
    if (st) seen.add(agent.node);
    if (!st?.present) return;
    (st.complete ? inv.sources : inv.skipped).push(candidateOf(agent, st, hinted.has(agent.node)));
  });
  for (const node of [...hinted].filter((n) => n !== input.targetNode && !seen.has(n)).sort()) {
    inv.skipped.push({ node, complete: false, sizeBytes: 0, hinted: true });
  }
  inv.sources.sort(orderSources);
  return inv;
}

/** Builds the inventory activity. */
export function createInventoryActivities(deps: ActivityDeps): {
  locateSources(input: LocateInput): Promise<SourceInventory>;
} {
  return {
    /** Asks every agent about the digest and combines the answers with Node.status.images. */
    locateSources: (input: LocateInput): Promise<SourceInventory> => locateInventory(deps, input),
  };
}

/** The agent of one node; throws a retryable failure when it is not (yet) running there. */
export async function findAgent(deps: ActivityDeps, node: string): Promise<AgentEndpoint> {
  const signal = cancellationSignal();
  const needsNodes =
    deps.config.agents.kind === 'template' && deps.config.agents.template.includes('{nodeIP}');
  const nodes: NodeRef[] = needsNodes
    ? await mapFailures('list nodes', () => deps.kube.listNodes({ signal }))
    : [node];
  const agents = await mapFailures('discover agents', () => discoverAgents(deps, nodes));
  const agent = agents.find((a) => a.node === node);
  if (!agent) throw agentUnavailable(node);
  return agent;
}
