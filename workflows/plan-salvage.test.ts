import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { ToteActivities } from '../activities/index.js';
import type { SalvagePolicy, SourceInventory } from '../activities/types.js';
import { DIGEST, inventory, policy, type CallLog } from '../test/replay/stubs.js';
import { workflowTestKit } from '../test/replay/workflow-kit.js';
import { planSalvage, salvageImage } from './index.js';
import { planProblems, type SalvagePlan } from './plan-salvage.js';
import type { SalvageRun } from './salvage-run.js';
import { ensureSalvageable } from './salvage-start.js';
import { salvageStartOptions } from './start-options.js';

const kit = workflowTestKit();

const POD = { namespace: 'shop', name: 'web-1', uid: 'uid-1' };

async function plan(over: Partial<ToteActivities>): Promise<{ out: SalvagePlan; log: CallLog }> {
  return kit.withWorker(
    over,
    (taskQueue) =>
      kit.env.client.workflow.execute(planSalvage, {
        taskQueue,
        workflowId: `plan/${DIGEST}/target/${randomUUID()}`,
        args: [{ digest: DIGEST, node: 'target', pod: POD }],
      }),
    'plan',
  );
}

describe('planSalvage', () => {
  test('given two sources and a target agent, should plan the first source and read nothing else', async () => {
    const { out, log } = await plan({});
    expect(out.transfer).toMatchObject({ source: 'node-a', bytesToMove: 500, dedup: 'exact' });
    expect(out.sources.map((s) => s.node)).toEqual(['node-a', 'node-b']);
    expect(out.policy?.mode).toBe('auto');
    expect(out.problems).toEqual([]);
    // A plan only reads: no event, no webhook, no transfer, no record.
    expect(log.names().sort()).toEqual(['loadPolicy', 'locateSources', 'planTransfer']);
  });

  test('given a target that already holds the image, should not plan a transfer', async () => {
    const { out, log } = await plan({
      locateSources: async () => inventory(['node-a'], { targetHasImage: true }),
    });
    expect(out.targetHasImage).toBe(true);
    expect(out.transfer).toBeUndefined();
    expect(log.names()).not.toContain('planTransfer');
  });

  test('given no source anywhere, should say so instead of failing', async () => {
    const { out } = await plan({ locateSources: async () => inventory([]) });
    expect(out.problems).toEqual([`no node with a reachable tote agent holds a complete copy of ${DIGEST}`]);
  });

  test('given a source that cannot describe the image, should report it as a problem', async () => {
    const { out } = await plan({
      planTransfer: async () => {
        throw ApplicationFailure.nonRetryable('image is incomplete on node node-a', 'AgentGrpc9');
      },
    });
    expect(out.transfer).toBeUndefined();
    expect(out.problems).toEqual([
      'source node-a could not describe the image: image is incomplete on node node-a',
    ]);
  });
});

describe('planProblems', () => {
  const input = { digest: DIGEST, node: 'target' };
  test('given a size over the limit and detect-only mode, should list both', () => {
    const inv = inventory(['node-a']);
    expect(
      planProblems(input, inv, { policy: policy({ mode: 'detect-only', maxImageSizeBytes: 999 }) }),
    ).toEqual([
      'image is 1000 bytes, over the limit of 999 bytes (--max-image-size)',
      'the namespace is in detect-only mode: tote would only report',
    ]);
  });

  test('given no agent on the target, should name the node', () => {
    expect(planProblems(input, inventory(['node-a'], { targetEndpoint: undefined }), {})).toEqual([
      'no ready tote agent on target node target',
    ]);
  });
});

describe('salvageImage asked for by an operator', () => {
  test('given requestedBy, should re-check opt-in without requiring the workload annotation', async () => {
    let seen: unknown = 'not called';
    const checkOptIn: ToteActivities['checkOptIn'] = async (_pod, opts) => void (seen = opts);
    const { out } = await kit.withWorker(
      { checkOptIn },
      (taskQueue) =>
        kit.env.client.workflow.execute(
          salvageImage,
          salvageStartOptions(
            {
              digest: DIGEST,
              imageRef: 'registry.gone/app:1.0',
              node: `target-${randomUUID().slice(0, 8)}`,
              pod: POD,
              reason: 'ImagePullBackOff',
              requestedBy: 'alice@host',
            },
            taskQueue,
          ),
        ),
      'plan',
    );
    expect(out.outcome).toBe('salvaged');
    expect(seen).toEqual({ requireWorkload: false });
  });
});

describe('the plan and the real run check the same preconditions', () => {
  const input = { digest: DIGEST, node: 'target' };
  /** What `ensureSalvageable` fails with (type and message), or undefined when it lets the salvage go on. */
  async function realRun(
    inv: SourceInventory,
    p: SalvagePolicy,
    digest = DIGEST,
  ): Promise<{ type: string; message: string } | undefined> {
    const run = {
      input: { digest, node: 'target' },
      fail: async (type: string, message: string): Promise<never> => {
        throw Object.assign(new Error(message), { type });
      },
    } as unknown as SalvageRun;
    try {
      await ensureSalvageable(run, inv, p);
      return undefined;
    } catch (err) {
      return { type: (err as { type: string }).type, message: (err as Error).message };
    }
  }

  test.each<[string, SourceInventory, SalvagePolicy]>([
    ['no source', inventory([]), policy()],
    ['no source and no target agent', inventory([], { targetEndpoint: undefined }), policy()],
    [
      'too large and no target agent',
      inventory(['node-a'], { targetEndpoint: undefined }),
      policy({ maxImageSizeBytes: 999 }),
    ],
    ['no target agent', inventory(['node-a'], { targetEndpoint: undefined }), policy()],
    ['too large', inventory(['node-a']), policy({ maxImageSizeBytes: 999 })],
    ['nothing wrong', inventory(['node-a']), policy()],
    [
      'the target already holds it',
      inventory([], { targetHasImage: true, targetEndpoint: undefined }),
      policy(),
    ],
  ])("given %s, the plan's first problem is what the real run fails with", async (_, inv, p) => {
    const failure = await realRun(inv, p);
    expect(planProblems(input, inv, { policy: p })[0]).toBe(failure?.message);
  });

  test('given a digest that is not sha256 hex, both refuse it', async () => {
    const bad = `sha256:${'AB'.repeat(32)}`;
    const problems = planProblems({ digest: bad, node: 'target' }, inventory(['node-a']), {
      policy: policy(),
    });
    const failure = await realRun(inventory(['node-a']), policy(), bad);
    expect(failure?.type).toBe('InvalidImageReference');
    expect(problems).toEqual([failure?.message]);
  });
});
