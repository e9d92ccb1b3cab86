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
}
