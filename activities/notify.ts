/**
 * Webhooks: one JSON POST per event type, filtered by `--webhook-events`, signed when a secret is configured.
 * Temporal retries a failed delivery; a receiver that rejects the request (4xx) is not retried.
 */
import { ApplicationFailure, cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps } from './deps.js';
import { mapFailures } from './failures.js';
import type { WebhookEvent } from './types.js';

/** Input of `sendWebhook`. */
export interface WebhookInput {
  event: WebhookEvent;
  workflowId: string;
  /** Event-specific fields: pod, image, digest, nodes, error, … (never credentials). */
  data: Record<string, unknown>;
}

/** The JSON body receivers get. MAINTENANCE: docs/operations-guide.md documents this shape. */
export interface WebhookBody {
  event: WebhookEvent;
  timestamp: string;
  workflowId: string;
  data: Record<string, unknown>;
}

/** Builds the notify activity. */
export function createNotifyActivities(deps: ActivityDeps): {
  sendWebhook(input: WebhookInput): Promise<{ sent: boolean; status?: number }>;
} {
  return {
    /** Posts the event when a webhook is configured and the event type is selected. */
    async sendWebhook(input: WebhookInput): Promise<{ sent: boolean; status?: number }> {
      const hook = deps.config.webhook;
      if (!hook || (hook.events.length > 0 && !hook.events.includes(input.event))) return { sent: false };
      const body: WebhookBody = {
        event: input.event,
        timestamp: deps.clock.now().toISOString(),
        workflowId: input.workflowId,
        data: input.data,
      };
      const { status } = await mapFailures(`webhook ${input.event}`, () =>
        deps.http.postJson({
          url: hook.url,
          body,
          secret: hook.secret,
          timeoutMs: hook.timeoutMs,
          signal: cancellationSignal(),
        }),
      );
      if (status >= 200 && status < 300) return { sent: true, status };
      const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
      throw ApplicationFailure.create({
        type: 'WebhookRejected',
        message: `webhook ${input.event} answered HTTP ${status}`,
        nonRetryable: permanent,
      });
    },
  };
}
