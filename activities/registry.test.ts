import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { fakeAgent, fakeConfig, fakeDeps, fakeKube } from './fake-deps.js';
import type { RegistryCredentials } from './deps.js';
import { LIVENESS_EVERY_MS } from './liveness.js';
import { backupReference, createRegistryActivities, credentialsFor, splitReference } from './registry.js';

const DIGEST = `sha256:${'77'.repeat(32)}`;

describe('references', () => {
  test.each([
    ['registry.gone:5000/team/app:1.2', { host: 'registry.gone:5000', path: 'team/app', tag: '1.2' }],
    ['team/app', { path: 'team/app', tag: undefined }],
    [`localhost/app@${DIGEST}`, { host: 'localhost', path: 'app', tag: undefined }],
    [`nginx:1.25@${DIGEST}`, { path: 'nginx', tag: '1.25' }],
  ])('splitReference(%s)', (ref, want) => {
    expect(splitReference(ref)).toEqual(want);
  });

  test('backupReference keeps the path and tag, or tags by digest', () => {
    expect(backupReference('backup:5000/', 'registry.gone/team/app:1', DIGEST)).toBe(
      'backup:5000/team/app:1',
    );
    expect(backupReference('backup:5000/salvaged', `registry.gone/app@${DIGEST}`, DIGEST)).toBe(
      `backup:5000/salvaged/app:sha256-${'77'.repeat(32)}`,
    );
  });

  test('backupReference refuses a reference it cannot place', () => {
    expect(() => backupReference('b', 'UPPER/Case:1', DIGEST)).toThrow(ApplicationFailure);
  });
});

describe('credentialsFor', () => {
  const doc = JSON.stringify({
    auths: {
      'backup:5000': { auth: Buffer.from('robot:s3cr:et').toString('base64') },
      'https://other.example': { username: 'u', password: 'p' },
    },
  });
  test('decodes auth, accepts scheme-prefixed keys, and answers undefined for unknown hosts', () => {
    expect(credentialsFor(doc, 'backup:5000')).toEqual({ username: 'robot', password: 's3cr:et' });
    expect(credentialsFor(doc, 'other.example')).toEqual({ username: 'u', password: 'p' });
    expect(credentialsFor(doc, 'nope')).toBeUndefined();
  });
});

describe('pushBackup', () => {
  test('given a dockerconfigjson Secret, should read it at push time and push through the target agent', async () => {
    let pushed: { targetRef: string; credentials?: RegistryCredentials; insecure: boolean } | undefined;
    const secretReads: string[] = [];
    const deps = fakeDeps({
      config: fakeConfig({
        backup: {
          registry: 'backup:5000',
          secret: { namespace: 'tote-system', name: 'push' },
          insecure: true,
        },
      }),
      kube: fakeKube({
        readDockerConfig: async (ns, name) => {
          secretReads.push(`${ns}/${name}`);
          return JSON.stringify({ auths: { 'backup:5000': { username: 'robot', password: 'pw' } } });
        },
      }),
      agent: fakeAgent({
        pushImage: async (agent, req) => {
          expect(agent).toEqual({ node: 'node-a', address: 'node-a.agents:7443' });
          pushed = req;
          return { bytesPushed: 99 };
        },
      }),
    });
    const r = await new MockActivityEnvironment().run(createRegistryActivities(deps).pushBackup, {
      digest: DIGEST,
      imageRef: 'registry.gone/app:1',
      node: 'node-a',
    });
    expect(r).toMatchObject({ targetRef: 'backup:5000/app:1', bytesPushed: 99 });
    expect(pushed).toEqual({
      digest: DIGEST,
      targetRef: 'backup:5000/app:1',
      credentials: { username: 'robot', password: 'pw' },
      insecure: true,
    });
    expect(secretReads).toEqual(['tote-system/push']);
    expect(JSON.stringify(r)).not.toContain('pw');
    expect(deps.metrics.count('push_attempts')).toBe(1);
  });
});

test('pushBackup heartbeats the bytes pushed so far while the agent pushes', async () => {
  const deps = fakeDeps({
    config: fakeConfig({ backup: { registry: 'backup:5000', insecure: true } }),
    agent: fakeAgent({
      pushImage: async (_agent, _req, opts) => {
        opts?.onProgress?.({ bytesDone: 40, bytesTotal: 100, bytesUploaded: 40 });
        // Long enough for the liveness timer to beat once more with the progress above.
        await new Promise((r) => setTimeout(r, LIVENESS_EVERY_MS + 300));
        return { bytesPushed: 100 };
      },
    }),
  });
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  await env.run(createRegistryActivities(deps).pushBackup, {
    digest: DIGEST,
    imageRef: 'registry.gone/app:1',
    node: 'node-a',
  });
  expect(beats[0]).toEqual({ targetRef: 'backup:5000/app:1', bytesDone: 0, bytesTotal: 0, bytesUploaded: 0 });
  expect(beats).toContainEqual({
    targetRef: 'backup:5000/app:1',
    bytesDone: 40,
    bytesTotal: 100,
    bytesUploaded: 40,
  });
});

describe('resolveTag', () => {
  test('given resolution disabled, should not ask the registry', async () => {
    const deps = fakeDeps({
      registry: { resolveTag: async () => Promise.reject(new Error('must not be called')) },
    });
    const r = await new MockActivityEnvironment().run(createRegistryActivities(deps).resolveTag, {
      ref: 'a/b:1',
    });
    expect(r).toEqual({ digest: null });
  });

  test('given resolution enabled, should count the result', async () => {
    const deps = fakeDeps({
      config: fakeConfig({ registryResolve: true }),
      registry: { resolveTag: async () => DIGEST },
    });
    const r = await new MockActivityEnvironment().run(createRegistryActivities(deps).resolveTag, {
      ref: 'a/b:1',
    });
    expect(r).toEqual({ digest: DIGEST });
    expect(deps.metrics.counters).toEqual([{ name: 'registry_resolve', labels: { result: 'success' } }]);
  });
});
