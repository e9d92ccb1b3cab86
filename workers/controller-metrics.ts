/**
 * The controller's Prometheus metrics, in a Registry the composition root owns (no global default registry).
 * `tote_detected_failures_total` keeps the name of the original tote; the rest are controller internals.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { WorkQueueMetrics } from '../controller/ports.js';
import type { ControllerMetrics } from '../controller/reconciler.js';
import { createProcessRegistry, type BuildInfo } from '../infra/build-info.js';

/** The metrics and the registry that exposes them. */
export interface ControllerMetricSet extends ControllerMetrics {
  registry: Registry;
  workQueue: WorkQueueMetrics;
  /** Sets the gauges read at scrape time. */
  observe(snapshot: {
    cached: Record<string, number>;
    synced: Record<string, boolean>;
    queueDepth: number;
  }): void;
}

// Queue and work times range from microseconds (a pod with nothing to do) to minutes (a stuck call).
const WORKQUEUE_BUCKETS = Array.from({ length: 12 }, (_, i) => Number((1e-8 * 10 ** i).toPrecision(1)));

/**
 * The work queue's series under controller-runtime's names and `name` label, so dashboards and alerts written for
 * controller-runtime operators (the Go tote among them) read tote's pod queue as they read a Go controller's.
 */
export function createWorkQueueMetrics(registry: Registry, name: string): WorkQueueMetrics {
  const registers = [registry];
  const labelNames = ['name'] as const;
  const depth = new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue',
    labelNames,
    registers,
  });
  const adds = new Counter({
    name: 'workqueue_adds_total',
    help: 'Total number of adds handled by workqueue',
    labelNames,
    registers,
  });
  const queued = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in workqueue before being requested',
    labelNames,
    buckets: WORKQUEUE_BUCKETS,
    registers,
  });
  const worked = new Histogram({
    name: 'workqueue_work_duration_seconds',
    help: 'How long in seconds processing an item from workqueue takes',
    labelNames,
    buckets: WORKQUEUE_BUCKETS,
    registers,
  });
  const retries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Total number of retries handled by workqueue',
    labelNames,
    registers,
  });
  // Present from the start at 0, so a fresh controller's rate() is 0 rather than absent.
  depth.set({ name }, 0);
  adds.inc({ name }, 0);
  retries.inc({ name }, 0);
  return {
    added: () => adds.inc({ name }),
    depth: (n) => depth.set({ name }, n),
    queued: (s) => queued.observe({ name }, s),
    worked: (s) => worked.observe({ name }, s),
    retried: () => retries.inc({ name }),
  };
}

/**
 * Creates every controller metric in a fresh registry, with process metrics (RSS, CPU, event loop lag) and
 * `tote_build_info`.
 */
export function createControllerMetrics(build?: BuildInfo): ControllerMetricSet {
  const registry = createProcessRegistry('controller', build);
  const registers = [registry];
  const detected = new Counter({
    name: 'tote_detected_failures_total',
    help: 'Image failures detected in opted-in pods (one per pod container and image), by kubelet reason.',
    labelNames: ['reason'],
    registers,
  });
  const starts = new Counter({
    name: 'tote_controller_workflow_starts_total',
    help: 'Workflow start requests (a start for a running (digest, node) joins it), by workflow and result.',
    labelNames: ['workflow', 'result'],
    registers,
  });
  const notActionable = new Counter({
    name: 'tote_not_actionable_total',
    help: 'Detections tote cannot act on (invalid image reference, tag with no digest found), by reason.',
    labelNames: ['reason'],
    registers,
  });
  const annotations = new Counter({
    name: 'tote_controller_annotation_problems_total',
    help: 'Bad tote.dev/* annotations reported as Warning events, by kind of problem.',
    labelNames: ['kind'],
    registers,
  });
  const ignored = new Counter({
    name: 'tote_controller_ignored_detections_total',
    help: 'Pods with an image failure that tote leaves alone, by reason (not opted in, denied namespace, disabled).',
    labelNames: ['why'],
    registers,
  });
  const cached = new Gauge({
    name: 'tote_controller_cached_objects',
    help: 'Objects in the informer caches, by resource.',
    labelNames: ['resource'],
    registers,
  });
  const synced = new Gauge({
    name: 'tote_controller_cache_synced',
    help: '1 once the informer of a resource has listed everything.',
    labelNames: ['resource'],
    registers,
  });
  const depth = new Gauge({
    name: 'tote_controller_queue_depth',
    help: 'Pods waiting to be reconciled.',
    registers,
  });
  return {
    registry,
    workQueue: createWorkQueueMetrics(registry, 'pod'),
    detected: (reason) => detected.inc({ reason }),
    workflowStart: (workflow, result) => starts.inc({ workflow, result }),
    notActionable: (reason) => notActionable.inc({ reason }),
    annotationProblem: (kind) => annotations.inc({ kind }),
    ignored: (why) => ignored.inc({ why }),
    observe(s) {
      for (const [resource, n] of Object.entries(s.cached)) cached.set({ resource }, n);
      for (const [resource, ok] of Object.entries(s.synced)) synced.set({ resource }, ok ? 1 : 0);
      depth.set(s.queueDepth);
    },
  };
}
