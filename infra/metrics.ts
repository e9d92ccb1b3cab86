/**
 * The worker's Prometheus metrics (docs/architecture.md, names of the original tote), registered in a Registry the
 * composition root passes in: no default registry, no module-level state.
 *
 * `tote_detected_failures_total` belongs to the controller (one per detected pod container); the worker counts
 * the salvages it starts from a detection as `tote_salvage_detections_total`, so a sum over both never doubles.
 */
import { Counter, Histogram, type Registry } from 'prom-client';

/** Counter keys the activities use, mapped to metric names. MAINTENANCE: activities/deps.ts CounterName. */
export const WORKER_COUNTERS = {
  detected_failures: ['tote_salvage_detections_total', 'Salvage workflows that reported a detection.'],
  salvageable_images: ['tote_salvageable_images_total', 'Detections whose digest is cached on some node.'],
  not_actionable: ['tote_not_actionable_total', 'Images tote could not act on (tag-only, unresolvable).'],
  salvage_attempts: ['tote_salvage_attempts_total', 'Transfer attempts (each retry and each source counts).'],
  salvage_successes: [
    'tote_salvage_successes_total',
    'Salvages that ended with the image verified on the node.',
  ],
  salvage_failures: [
    'tote_salvage_failures_total',
    'Salvages that failed (no source, too large, every source failed).',
  ],
  push_attempts: ['tote_push_attempts_total', 'Backup registry push attempts.'],
  push_successes: ['tote_push_successes_total', 'Successful backup registry pushes.'],
  push_failures: ['tote_push_failures_total', 'Failed backup registry pushes (non-fatal to the salvage).'],
  corrupt_images: ['tote_corrupt_images_total', 'Corrupt image records found and removed.'],
  registry_resolve: ['tote_registry_resolve_total', 'Registry tag resolutions, by result.'],
} as const;

/** Histogram keys, mapped to metric names. MAINTENANCE: activities/deps.ts HistogramName. */
export const WORKER_HISTOGRAMS = {
  salvage_duration: [
    'tote_salvage_duration_seconds',
    'Time from transfer start to the image verified on the node.',
  ],
  push_duration: ['tote_push_duration_seconds', 'Time a backup push took.'],
  registry_resolve_duration: [
    'tote_registry_resolve_duration_seconds',
    'Time a registry tag resolution took.',
  ],
} as const;

/** Counter keys. */
export type WorkerCounter = keyof typeof WORKER_COUNTERS;
/** Histogram keys. */
export type WorkerHistogram = keyof typeof WORKER_HISTOGRAMS;

/** The worker's metrics, shaped as the activities' `SalvageMetrics`. */
export interface WorkerMetrics {
  inc(name: WorkerCounter, labels?: Record<string, string>): void;
  observe(name: WorkerHistogram, seconds: number): void;
  addTransferBytes(bytes: number): void;
}

// Transfers and pushes take from sub-second (small image, fast disk) to many minutes (GiB over a slow link).
const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/** Creates the worker's metrics in `registry`. */
export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  const registers = [registry];
  const counters = new Map<string, Counter>();
  for (const [key, [name, help]] of Object.entries(WORKER_COUNTERS)) {
    const labelNames = key === 'registry_resolve' ? ['result'] : [];
    counters.set(key, new Counter({ name, help, labelNames, registers }));
  }
  const histograms = new Map<string, Histogram>();
  for (const [key, [name, help]] of Object.entries(WORKER_HISTOGRAMS)) {
    histograms.set(key, new Histogram({ name, help, buckets: DURATION_BUCKETS, registers }));
  }
  const bytes = new Counter({
    name: 'tote_transfer_bytes_total',
    help: 'Image bytes moved into target nodes by salvages (blobs already there are not counted).',
    registers,
  });
  return {
    inc: (name, labels) => (labels ? counters.get(name)?.inc(labels) : counters.get(name)?.inc()),
    observe: (name, seconds) => histograms.get(name)?.observe(seconds),
    addTransferBytes: (n) => bytes.inc(n),
  };
}
