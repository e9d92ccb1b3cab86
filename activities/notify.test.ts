import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { HttpPost } from './deps.js';
import { fakeConfig, fakeDeps } from './fake-deps.js';
import { createNotifyActivities, type WebhookInput } from './notify.js';

const hook = { url: 'http://127.0.0.1:1/hook', events: [], secret: 'k', timeoutMs: 1000 };
const input: WebhookInput = { event: 'salvaged', workflowId: 'w', data: { pod: 'a/b' } };

function notify(status: number, events: WebhookInput['event'][] = []) {
  const posts: HttpPost[] = [];
  const deps = fakeDeps({
    config: fakeConfig({ webhook: { ...hook, events } }),
    http: { postJson: async (req) => (posts.push(req), { status }) },
  });
  return {
    posts,
    send: (i = input) => new MockActivityEnvironment().run(createNotifyActivities(deps).sendWebhook, i),
  };
}

describe('sendWebhook', () => {
  test('given a selected event, should post the JSON body with the signing secret and timeout', async () => {
    const { posts, send } = notify(200);
    expect(await send()).toEqual({ sent: true, status: 200 });
    expect(posts).toHaveLength(1);
    expect(posts[0]).toMatchObject({
      url: hook.url,
      secret: 'k',
      timeoutMs: 1000,
      body: {
        event: 'salvaged',
        workflowId: 'w',
        timestamp: '2026-11-25T12:00:00.000Z',
        data: { pod: 'a/b' },
      },
    });
  });

  test('given an event outside --webhook-events, should not post', async () => {
    const { posts, send } = notify(200, ['push_failed']);
    expect(await send()).toEqual({ sent: false });
    expect(posts).toEqual([]);
  });

  test('given no webhook configured, should not post', async () => {
    const deps = fakeDeps();
    const r = await new MockActivityEnvironment().run(createNotifyActivities(deps).sendWebhook, input);
    expect(r).toEqual({ sent: false });
  });

  test.each([
    [400, true],
    [408, false],
    [429, false],
    [503, false],
  ])('given HTTP %i, should fail (non-retryable: %s)', async (status, nonRetryable) => {
    const err = (await notify(status)
      .send()
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe('WebhookRejected');
    expect(err.nonRetryable).toBe(nonRetryable);
  });
});
