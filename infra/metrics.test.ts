import { Registry } from 'prom-client';
import { createWorkerMetrics, WORKER_COUNTERS } from './metrics.js';

test('given a registry, should register every metric there and nowhere else', async () => {
  const a = new Registry();
  const b = new Registry();
  const m = createWorkerMetrics(a);
  createWorkerMetrics(b); // a second set in another registry must not clash (no global state)
  m.inc('salvage_successes');
  m.inc('registry_resolve', { result: 'not_found' });
  m.observe('salvage_duration', 1.5);
  m.addTransferBytes(1024);
  const text = await a.metrics();
  expect(text).toContain('tote_salvage_successes_total 1');
  expect(text).toContain('tote_registry_resolve_total{result="not_found"} 1');
  expect(text).toContain('tote_salvage_duration_seconds_count 1');
  expect(text).toContain('tote_transfer_bytes_total 1024');
  for (const [name] of Object.values(WORKER_COUNTERS)) expect(text).toContain(`# TYPE ${name} counter`);
  expect(await b.metrics()).toContain('tote_salvage_successes_total 0');
});
