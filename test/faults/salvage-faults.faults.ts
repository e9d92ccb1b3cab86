// The fault suite: salvages driven by the controller on a real cluster (kubelets, scheduler, controller-manager),
// each hit by one seeded SIGKILL of the worker, an agent, the controller or the Temporal dev server before, during
// or after its transfer, followed by a restart. Each salvage must end complete and verified with the Deployment's
// pod Running on its node from the salvaged digest, or failed with ImageSalvageFailed and nothing half-imported;
// never two SalvageRecords or two workflows for one (digest, node).
// Run: `npm run test:faults` (all 20) or `TOTE_FAULT_SALVAGES=5 npm run test:faults`; `TOTE_FAULT_SEED=<n>` replays.
import { RUNS_ROOT } from '../harness/run.js';
import { halfImported, runCase, type CaseResult } from './case.js';
import { duplicatedSalvages, type ManifestCache } from './checks.js';
import { startFaultEnv, type FaultEnv } from './env.js';
import { generatePlan } from './plan.js';
import { parseSeed } from './prng.js';
import { renderReport, writeReport } from './report.js';

const TOTAL = 20;
const NODES = 4;

function salvageCount(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return TOTAL;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > TOTAL)
    throw new Error(`TOTE_FAULT_SALVAGES must be an integer from 1 to ${TOTAL}, got ${JSON.stringify(raw)}`);
  return n;
}

const seed = parseSeed(process.env.TOTE_FAULT_SEED);
const salvages = salvageCount(process.env.TOTE_FAULT_SALVAGES);
// Small chunks slow the agents' streams down, so a transfer lasts long enough to be interrupted mid-way.
const chunkSize = process.env.TOTE_FAULT_CHUNK_SIZE ?? '4Ki';
const plan = generatePlan({ seed, salvages, total: TOTAL, nodes: NODES });

const results: CaseResult[] = [];
const globalViolations: string[] = [];
const cache: ManifestCache = new Map();
const startedAt = new Date();
let env: FaultEnv | undefined;
let aborted: string | undefined;

beforeAll(async () => {
  env = await startFaultEnv({ nodes: NODES, chunkSize });
  process.stdout.write(`fault suite seed ${seed}, ${salvages} salvages\n${env.sb.describe()}\n`);
}, 600_000);

afterAll(async () => {
  const meta = {
    seed,
    salvages,
    total: TOTAL,
    nodes: NODES,
    chunkSize,
    startedAt,
    durationMs: Date.now() - startedAt.getTime(),
    runDir: env?.sb.run.dir ?? '(not started)',
    globalViolations,
    aborted,
  };
  const text = renderReport(meta, results);
  const file = writeReport(RUNS_ROOT, meta, text);
  process.stdout.write(`\n${text}\nreport written to ${file}\n`);
  await env?.stop();
}, 600_000);

describe(`fault suite, seed ${seed}`, () => {
  test.each(
    plan.salvages.map(
      (p) =>
        [`${p.name}: ${p.fault.component} killed ${p.fault.moment}, down ${p.fault.delayMs} ms`, p] as const,
    ),
  )(
    '%s: ends complete and verified, or failed cleanly',
    async (_title, p) => {
      if (!env) throw new Error('the fault environment did not start');
      let r: CaseResult;
      try {
        r = await runCase(env, p, { cache });
      } catch (err) {
        aborted ??= `${p.name}: the case could not run: ${String(err)}`;
        throw err;
      }
      results.push(r);
      expect(r.violations).toEqual([]);
    },
    1_200_000,
  );

  test('run-wide: one workflow per (digest, node), no half-imported record on any node', async () => {
    if (!env) throw new Error('the fault environment did not start');
    const fenv = env;
    for (const [id, n] of await fenv.withClient((c) => duplicatedSalvages(c)))
      globalViolations.push(`${n} runs of workflow ${id}`);
    for (const b of await halfImported(fenv, cache))
      globalViolations.push(
        `half-imported on ${b.node}: ${b.record} → ${b.digest} lacks ${b.missing.join(', ')}`,
      );
    expect(globalViolations).toEqual([]);
  }, 120_000);
});
