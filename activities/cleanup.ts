/**
 * Corrupt-image cleanup: the node's agent removes the broken image record (only the record and its own
 * references; blobs another image shares stay, containerd's garbage collector decides about the rest).
 */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps } from './deps.js';
import { mapFailures } from './failures.js';
import { findAgent } from './inventory.js';

/** Builds the cleanup activity. */
export function createCleanupActivities(deps: ActivityDeps): {
  removeImageRecord(input: { node: string; ref: string }): Promise<{ removed: boolean }>;
} {
  return {
    /** Removes the image record `ref` on `node`; removing a record that is already gone succeeds. */
    async removeImageRecord(input: { node: string; ref: string }): Promise<{ removed: boolean }> {
      const agent = await findAgent(deps, input.node);
      return mapFailures(`remove ${input.ref} on ${input.node}`, () =>
        deps.agent.removeImage(agent, input.ref, { signal: cancellationSignal() }),
      );
    },
  };
}
