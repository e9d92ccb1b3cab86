/**
 * Kubernetes events on the pod, with the metric each reason stands for. Messages are finished here, in one place,
 * so every Warning says it is technical debt and every event names the workflow that emitted it.
 */
import { cancellationSignal } from '@temporalio/activity';
import { TECHNICAL_DEBT } from '../common/technical-debt.js';
import type { ActivityDeps, CounterName, HistogramName } from './deps.js';
import { mapFailures } from './failures.js';
import type { EventReason, PodRef } from './types.js';

/** Input of {@link createEventActivities}' `emitEvent`. */
export interface EmitEventInput {
  pod: PodRef;
  type: 'Normal' | 'Warning';
  reason: EventReason;
  /** The specific part of the message; the workflow id and the technical-debt note are appended here. */
  message: string;
  workflowId: string;
  /** Seconds the salvage or push took, for the duration histograms. */
  durationSeconds?: number;
  /** Counters to increment besides the reason's own (e.g. `detected_failures` with the first event). */
  extraCounters?: CounterName[];
}

/** events.k8s.io caps `note` at 1 KiB; stay under it with room for the suffixes. */
const MAX_MESSAGE = 1024;

/** The counter and histogram each reason feeds. */
const REASON_METRICS: Record<EventReason, { counter?: CounterName; histogram?: HistogramName }> = {
  ImageSalvageable: { counter: 'salvageable_images' },
  ImageNotActionable: { counter: 'not_actionable' },
  ImageResolvedUncached: {},
  ImageSalvaged: { counter: 'salvage_successes', histogram: 'salvage_duration' },
  ImageSalvageFailed: { counter: 'salvage_failures' },
  ImageCorrupt: { counter: 'corrupt_images' },
  ImagePushed: { counter: 'push_successes', histogram: 'push_duration' },
  ImagePushFailed: { counter: 'push_failures' },
  ImagePullPolicyAlways: {},
  ImagePullPolicyChanged: {},
  // The salvage is counted once, on the pod that started it.
  ImageSalvageJoined: {},
};

/** Short `action` verbs for events.k8s.io/v1. */
const REASON_ACTION: Record<EventReason, string> = {
  ImageSalvageable: 'Detected',
  ImageNotActionable: 'Detected',
  ImageResolvedUncached: 'Detected',
  ImageSalvaged: 'Salvaged',
  ImageSalvageFailed: 'Salvaging',
  ImageCorrupt: 'Cleaning',
  ImagePushed: 'Pushed',
  ImagePushFailed: 'Pushing',
  ImagePullPolicyAlways: 'Restarting',
  ImagePullPolicyChanged: 'Restarting',
  ImageSalvageJoined: 'Restarting',
};

/** The final event message: the text, the workflow id, and for Warnings the technical-debt sentence. */
export function eventMessage(type: 'Normal' | 'Warning', message: string, workflowId: string): string {
  const suffix = ` (workflow ${workflowId}).` + (type === 'Warning' ? ` ${TECHNICAL_DEBT}` : '');
  const room = MAX_MESSAGE - suffix.length;
  const text = message.replace(/\.\s*$/, '');
  return (text.length > room ? `${text.slice(0, room - 1)}…` : text) + suffix;
}

/** Builds the event activity. */
export function createEventActivities(deps: ActivityDeps): {
  emitEvent(input: EmitEventInput): Promise<void>;
} {
  return {
    /** Records the event on the pod, then counts it (after success, so a retried activity counts once). */
    async emitEvent(input: EmitEventInput): Promise<void> {
      await mapFailures(`event ${input.reason}`, () =>
        deps.kube.createEvent(
          {
            pod: input.pod,
            type: input.type,
            reason: input.reason,
            action: REASON_ACTION[input.reason],
            message: eventMessage(input.type, input.message, input.workflowId),
          },
          { signal: cancellationSignal() },
        ),
      );
      const m = REASON_METRICS[input.reason];
      for (const c of [...(input.extraCounters ?? []), ...(m.counter ? [m.counter] : [])])
        deps.metrics.inc(c);
      if (m.histogram && input.durationSeconds !== undefined) {
        deps.metrics.observe(m.histogram, input.durationSeconds);
      }
    },
  };
}
