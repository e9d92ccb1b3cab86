/**
 * What the reconciler needs from the outside, owned here (docs/conventions.md, module boundaries): workflow starts over Temporal
 * (controller/starter.ts) and counters over prom-client (workers/controller-metrics.ts). Tests pass fakes.
 */
import type { CleanupInput, SalvageInput } from '../workflows/index.js';

/** Starts tote's workflows; `workers/` implements it over @temporalio/client with workflows/start-options.ts. */
export interface WorkflowStarter {
  /**
   * Starts (or joins) `salvageImage` for `input`; resolves with the workflow id, or with a {@link DeferredStart}
   * when the last run for the same (digest, node) ended without success too recently (controller/cooldown.ts).
   */
  startSalvage(input: SalvageInput): Promise<string | DeferredStart>;
  /** Starts (or joins) `cleanupCorruptImage`; resolves with the workflow id. */
  startCleanup(input: CleanupInput): Promise<string>;
}

/** A salvage start held back by the cool-down after a run that ended without success. */
export interface DeferredStart {
  workflowId: string;
  /** How the last run ended (Temporal status name, e.g. FAILED). */
  lastStatus: string;
  /** When a new run may start. */
  retryInMs: number;
}

/** The counters the reconciler updates. */
export interface ControllerMetrics {
  /** One new detection in an opted-in pod (`tote_detected_failures_total`). */
  detected(reason: string): void;
  /** A workflow start attempt. */
  workflowStart(workflow: string, result: 'ok' | 'error' | 'deferred'): void;
  /** A detection tote cannot act on. */
  notActionable(why: string): void;
  /** A bad `tote.dev/*` annotation reported. */
  annotationProblem(kind: string): void;
  /** A pod with a detection that tote leaves alone (not opted in, denied namespace, `--enabled=false`). */
  ignored(why: string): void;
  /** The pod work queue's series (controller-runtime's `workqueue_*`); absent in tests that do not read them. */
  workQueue?: WorkQueueMetrics;
}

/** What the work queue reports, in client-go's terms (controller/work-queue.ts says when each moves). */
export interface WorkQueueMetrics {
  /** A key became pending (`workqueue_adds_total`). */
  added(): void;
  /** Pending keys now (`workqueue_depth`). */
  depth(n: number): void;
  /** Seconds a key waited from its add to the start of processing (`workqueue_queue_duration_seconds`). */
  queued(seconds: number): void;
  /** Seconds one processing of a key took (`workqueue_work_duration_seconds`). */
  worked(seconds: number): void;
  /** A failed key was scheduled for a retry (`workqueue_retries_total`). */
  retried(): void;
}
