import { status } from '@grpc/grpc-js';
import type { PushImageRequest, PushImageResponse } from '../proto/gen/tote/v1/agent.js';
import { AgentError } from './errors.js';
import type { AgentMetrics } from './metrics.js';
import type { Store } from './store.js';

/** What a push needs. */
export interface PushDeps {
  store: Store;
  metrics: AgentMetrics;
}

/** PushImage: not built yet. */
export async function runPush(
  _deps: PushDeps,
  _req: PushImageRequest,
  _emit: (u: PushImageResponse) => void,
  _signal?: AbortSignal,
): Promise<void> {
  throw new AgentError(status.UNIMPLEMENTED, 'PushImage is not implemented yet');
}
