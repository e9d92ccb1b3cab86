/**
 * Kubernetes events the controller writes itself: bad `tote.dev/*` annotations and images it cannot act on
 * (an unparseable reference, or a tag no step of the resolution chain could resolve). Everything after a
 * workflow has started is reported by the workflow's activities instead.
 */
import type { KubeHttp } from '../infra/kube-http.js';

/** The pod an event is about. */
export interface EventPod {
  namespace: string;
  name: string;
  uid?: string;
}

/** One event to record. */
export interface ControllerEvent {
  pod: EventPod;
  type: 'Normal' | 'Warning';
  /** e.g. `ImageNotActionable`, `InvalidAnnotation`. */
  reason: string;
  /** Short verb for events.k8s.io `action`. */
  action: string;
  /** The message; trimmed to the API's 1 KiB limit. */
  note: string;
}

/** Writes events; implemented over events.k8s.io/v1, faked in tests. */
export interface EventRecorder {
  /** Records one event; rejects on API errors (the caller logs them, nothing retries). */
  record(e: ControllerEvent): Promise<void>;
}

/** The sentence every image Warning carries, shared with the worker's events. */
export { TECHNICAL_DEBT } from '../common/technical-debt.js';

/** Name of the component in `reportingController`. */
export const REPORTING_CONTROLLER = 'tote.dev/controller';

const MAX_NOTE = 1024;

/** Trims a note to the events.k8s.io limit. */
export function trimNote(note: string): string {
  return note.length > MAX_NOTE ? `${note.slice(0, MAX_NOTE - 1)}…` : note;
}

/**
 * A unique event name in kubelet's style, `<object>.<hex time><hex random>` (a `generateName` ending in "." is
 * rejected by the apiserver's name validation).
 */
export function eventName(objectName: string): string {
  const suffix = `${Date.now().toString(16)}${Math.floor(Math.random() * 0xffffff)
    .toString(16)
    .padStart(6, '0')}`;
  return `${objectName.slice(0, 253 - suffix.length - 1)}.${suffix}`;
}

/**
 * `eventTime` in the MicroTime format the apiserver insists on: six fractional digits
 * (JavaScript's `toISOString` has three; facts temporal-k8s.md §4.6).
 */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Records events through events.k8s.io/v1 as `tote.dev/controller` from `instance` (the pod name). */
export function kubeEventRecorder(kube: KubeHttp, instance: string): EventRecorder {
  return {
    async record(e: ControllerEvent): Promise<void> {
      const ns = encodeURIComponent(e.pod.namespace);
      await kube.post(`/apis/events.k8s.io/v1/namespaces/${ns}/events`, {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: eventName(e.pod.name), namespace: e.pod.namespace },
        eventTime: microTime(new Date()),
        type: e.type,
        reason: e.reason,
        action: e.action,
        note: trimNote(e.note),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: instance.slice(0, 128),
        regarding: {
          apiVersion: 'v1',
          kind: 'Pod',
          namespace: e.pod.namespace,
          name: e.pod.name,
          uid: e.pod.uid,
        },
      });
    },
  };
}
