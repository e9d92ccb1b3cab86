/**
 * The controller's Prometheus metrics, in a Registry the composition root owns (no global default registry).
 * `tote_detected_failures_total` keeps the name of the original tote; the rest are controller internals.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ControllerMetrics } from '../controller/reconciler.js';

/** The metrics and the registry that exposes them. */
export interface ControllerMetricSet extends ControllerMetrics {
  registry: Registry;
  /** Sets the gauges read at scrape time. */
  observe(snapshot: {
    cached: Record<string, number>;
    synced: Record<string, boolean>;
    queueDepth: number;
  }): void;
}

/** Creates every controller metric in a fresh registry, with process metrics (RSS, CPU, event loop lag). */
export function createControllerMetrics(): ControllerMetricSet {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tote_controller_' });
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
    name: 'tote_controller_not_actionable_total',
    help: 'Detections the controller could not act on (invalid reference, unresolvable tag), by reason.',
    labelNames: ['why'],
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
    detected: (reason) => detected.inc({ reason }),
    workflowStart: (workflow, result) => starts.inc({ workflow, result }),
    notActionable: (why) => notActionable.inc({ why }),
    annotationProblem: (kind) => annotations.inc({ kind }),
    ignored: (why) => ignored.inc({ why }),
    observe(s) {
      for (const [resource, n] of Object.entries(s.cached)) cached.set({ resource }, n);
      for (const [resource, ok] of Object.entries(s.synced)) synced.set({ resource }, ok ? 1 : 0);
      depth.set(s.queueDepth);
    },
  };
}
