/**
 * What the reconciler needs from the outside, owned here (STYLE §6.3): workflow starts over Temporal
 * (controller/starter.ts) and counters over prom-client (workers/controller-metrics.ts). Tests pass fakes.
 */
import type { CleanupInput, SalvageInput } from '../workflows/index.js';

/** Starts tote's workflows; `workers/` implements it over @temporalio/client with workflows/start-options.ts. */
export interface WorkflowStarter {
  /** Starts (or joins) `salvageImage` for `input`; resolves with the workflow id. */
  startSalvage(input: SalvageInput): Promise<string>;
  /** Starts (or joins) `cleanupCorruptImage`; resolves with the workflow id. */
  startCleanup(input: CleanupInput): Promise<string>;
}

/** The counters the reconciler updates. */
export interface ControllerMetrics {
  /** One new detection in an opted-in pod (`tote_detected_failures_total`). */
  detected(reason: string): void;
  /** A workflow start attempt. */
  workflowStart(workflow: string, result: 'ok' | 'error'): void;
  /** A detection tote cannot act on. */
  notActionable(why: string): void;
  /** A bad `tote.dev/*` annotation reported. */
  annotationProblem(kind: string): void;
  /** A pod with a detection that tote leaves alone (not opted in, denied namespace, `--enabled=false`). */
  ignored(why: string): void;
}
