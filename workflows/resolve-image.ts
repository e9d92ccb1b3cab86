/**
 * `resolveImage`: the last two steps of the tag resolution chain (docs/architecture.md), run for the controller, which never
 * talks to agents or registries itself: the agents' containerd first, then (only with `--registry-resolve`) the
 * source registry's v2 API. Returns the digest or what was tried; the controller reports `ImageNotActionable`
 * when nothing answered, and starts `salvageImage` with the digest otherwise.
 */
import type { ActivityOptions } from '@temporalio/workflow';
import { acts } from './acts.js';
import { INVENTORY, LIVENESS_TIMEOUT, NON_RETRYABLE } from './activity-options.js';
import { messageOf } from './salvage-transfer.js';

/** Input of `resolveImage`. */
export interface ResolveImageInput {
  /** Fully qualified tagged reference, e.g. `docker.io/library/nginx:1.25`. */
  reference: string;
  /** Whether the registry may be asked (the controller's `--registry-resolve`). */
  registryResolve: boolean;
}

/** Result of `resolveImage`. */
export type ResolveImageResult =
  | { digest: string; via: 'agents' | 'registry'; nodes?: string[] }
  | { digest: null; tried: string[]; error?: string };

/** A registry that is gone (the reason tote runs) should not hold the controller for minutes: few attempts. */
const REGISTRY: ActivityOptions = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: LIVENESS_TIMEOUT,
  retry: { initialInterval: '1s', maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE },
};

/** Resolves `input.reference` through the agents, then the registry. */
export async function resolveImage(input: ResolveImageInput): Promise<ResolveImageResult> {
  const ref = input.reference;
  const tried = ['agents'];
  const onAgents = await acts(INVENTORY, `Resolve ${ref} on agents`).resolveTagOnAgents({ ref });
  if (onAgents.digest) return { digest: onAgents.digest, via: 'agents', nodes: onAgents.nodes };
  if (!input.registryResolve) return { digest: null, tried };
  tried.push('registry');
  try {
    const { digest } = await acts(REGISTRY, `Resolve ${ref} on its registry`).resolveTag({ ref });
    return digest ? { digest, via: 'registry' } : { digest: null, tried };
  } catch (err) {
    return { digest: null, tried, error: messageOf(err) };
  }
}
