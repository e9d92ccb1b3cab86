import { MockActivityEnvironment } from '@temporalio/testing';
import { TECHNICAL_DEBT } from '../common/technical-debt.js';
import { createEventActivities, eventMessage, type EmitEventInput } from './events.js';
import { fakeDeps, fakeKube } from './fake-deps.js';

const pod = { namespace: 'shop', name: 'web-1' };

describe('eventMessage', () => {
  test('given a Warning, should name the workflow and say it is technical debt', () => {
    const m = eventMessage('Warning', 'Registry pull failed for x.', 'salvage/sha256:ab/node-a');
    expect(m).toBe(`Registry pull failed for x (workflow salvage/sha256:ab/node-a). ${TECHNICAL_DEBT}`);
    expect(m).toContain('This is technical debt');
  });

  test('given a Normal event, should name the workflow without the debt note', () => {
    expect(eventMessage('Normal', 'Image salvaged', 'w')).toBe('Image salvaged (workflow w).');
  });

  test('given a very long message, should stay within the 1 KiB note limit and keep the suffix', () => {
    const m = eventMessage('Warning', 'x'.repeat(5000), 'w');
    expect(m.length).toBeLessThanOrEqual(1024);
    expect(m.endsWith(TECHNICAL_DEBT)).toBe(true);
  });
});

describe('emitEvent', () => {
  test('given a salvaged event, should record it and count success and duration once', async () => {
    const deps = fakeDeps();
    const kube = deps.kube as ReturnType<typeof fakeKube>;
    await new MockActivityEnvironment().run(createEventActivities(deps).emitEvent, <EmitEventInput>{
      pod,
      type: 'Normal',
      reason: 'ImageSalvaged',
      message: 'done',
      workflowId: 'w',
      durationSeconds: 2.5,
    });
    expect(kube.events).toEqual([
      { pod, type: 'Normal', reason: 'ImageSalvaged', action: 'Salvaged', message: 'done (workflow w).' },
    ]);
    expect(deps.metrics.count('salvage_successes')).toBe(1);
    expect(deps.metrics.observed).toEqual([{ name: 'salvage_duration', seconds: 2.5 }]);
  });

  test('given the apiserver fails, should count nothing (a retry will count once)', async () => {
    const deps = fakeDeps({ kube: fakeKube({ createEvent: async () => Promise.reject(new Error('down')) }) });
    const run = new MockActivityEnvironment().run(createEventActivities(deps).emitEvent, <EmitEventInput>{
      pod,
      type: 'Warning',
      reason: 'ImageSalvageable',
      message: 'm',
      workflowId: 'w',
      extraCounters: ['detected_failures'],
    });
    await expect(run).rejects.toThrow('down');
    expect(deps.metrics.counters).toEqual([]);
  });

  test('given extra counters, should count them with the reason counter', async () => {
    const deps = fakeDeps();
    await new MockActivityEnvironment().run(createEventActivities(deps).emitEvent, <EmitEventInput>{
      pod,
      type: 'Warning',
      reason: 'ImageSalvageable',
      message: 'm',
      workflowId: 'w',
      extraCounters: ['detected_failures'],
    });
    expect(deps.metrics.counters.map((c) => c.name)).toEqual(['detected_failures', 'salvageable_images']);
  });
});
