import { pullPolicyBlocksSalvage, pullPolicyFix, pullPolicyPatch } from './pull-policy.js';

describe('pull policy', () => {
  test('only Always blocks a salvage from starting the pod', () => {
    expect(pullPolicyBlocksSalvage('Always')).toBe(true);
    expect(pullPolicyBlocksSalvage('IfNotPresent')).toBe(false);
    expect(pullPolicyBlocksSalvage('Never')).toBe(false);
    expect(pullPolicyBlocksSalvage(undefined)).toBe(false);
  });

  test.each([
    [
      'Deployment',
      { spec: { template: { spec: { containers: [{ name: 'web', imagePullPolicy: 'IfNotPresent' }] } } } },
    ],
    [
      'CronJob',
      {
        spec: {
          jobTemplate: {
            spec: { template: { spec: { containers: [{ name: 'web', imagePullPolicy: 'IfNotPresent' }] } } },
          },
        },
      },
    ],
  ])('given a %s, the patch should reach its pod template', (kind, want) => {
    expect(pullPolicyPatch({ kind, name: 'x' }, 'web', 'containers', 'IfNotPresent')).toEqual(want);
  });

  test('given an init container, the patch should name the init list', () => {
    expect(pullPolicyPatch({ kind: 'StatefulSet', name: 'db' }, 'setup', 'initContainers', 'Always')).toEqual(
      {
        spec: { template: { spec: { initContainers: [{ name: 'setup', imagePullPolicy: 'Always' }] } } },
      },
    );
  });

  test('the fix is one kubectl command for a workload, and a manifest change for a bare pod', () => {
    expect(pullPolicyFix('shop', { kind: 'Deployment', name: 'web' }, 'app')).toBe(
      `kubectl -n shop patch deployment web -p '{"spec":{"template":{"spec":{"containers":[{"name":"app","imagePullPolicy":"IfNotPresent"}]}}}}'`,
    );
    expect(pullPolicyFix('shop', undefined, 'app')).toMatch(/manifest and recreate the pod/);
    expect(pullPolicyFix('shop', { kind: 'Pod', name: 'p' }, 'app')).toMatch(/recreate the pod/);
  });
});
