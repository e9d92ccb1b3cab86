/**
 * Tag resolution through the agents: each node's containerd knows which digest a `name:tag` record points to.
 * Used by the `resolveImage` workflow when the controller found nothing in pod statuses or Node.status.images.
 */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps, AgentEndpoint } from './deps.js';
import { mapFailures } from './failures.js';
import { discoverAgents, mapLimit } from './inventory.js';

/** How long one agent may take to answer. */
const RESOLVE_TIMEOUT_MS = 10_000;
/** Agents asked at once. */
const PARALLEL = 8;

/** Answer of `resolveTagOnAgents`: the digest most agents agree on, and which nodes said so. */
export interface AgentResolution {
  digest: string | null;
  nodes: string[];
}

async function ask(deps: ActivityDeps, agent: AgentEndpoint, ref: string): Promise<string | null> {
  const resolveTag = deps.agent.resolveTag;
  if (!resolveTag) return null;
  const signal = AbortSignal.any([cancellationSignal(), AbortSignal.timeout(RESOLVE_TIMEOUT_MS)]);
  try {
    return await resolveTag.call(deps.agent, agent, ref, { signal });
  } catch {
    // An agent that does not know the tag (NOT_FOUND) or does not answer is just not a witness.
    return null;
  }
}

/** Builds the agent resolution activity. */
export function createResolveActivities(deps: ActivityDeps): {
  resolveTagOnAgents(input: { ref: string }): Promise<AgentResolution>;
} {
  return {
    /** Asks every agent which digest `input.ref` (a normalised `name:tag`) has on its node. */
    async resolveTagOnAgents(input: { ref: string }): Promise<AgentResolution> {
      if (!deps.agent.resolveTag) return { digest: null, nodes: [] };
      const nodes = await mapFailures('list nodes', () =>
        deps.kube.listNodes({ signal: cancellationSignal() }),
      );
      // Whole node objects: `{nodeIP}` endpoint templates need each node's address, not just its name.
      const agents = await mapFailures('discover agents', () => discoverAgents(deps, nodes));
      const answers = await mapLimit(agents, PARALLEL, (a) => ask(deps, a, input.ref));
      const votes = new Map<string, string[]>();
      answers.forEach((d, i) => {
        if (d) votes.set(d, [...(votes.get(d) ?? []), agents[i]?.node ?? '']);
      });
      const best = [...votes.entries()].sort((a, b) => b[1].length - a[1].length)[0];
      return best ? { digest: best[0], nodes: best[1].sort() } : { digest: null, nodes: [] };
    },
  };
}
