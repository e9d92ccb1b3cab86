import type { V1Namespace, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import { slimNamespace, slimOwner, slimPod, type Namespace, type OwnerObject, type Pod } from './types.js';

// Compile-time proof (checked by `tsc`): client-node objects fit the slim shapes without conversion.
const _podFits = (p: V1Pod): Pod => p;
const _nsFits = (n: V1Namespace): Namespace => n;
const _rsFits = (rs: V1ReplicaSet): OwnerObject => ({ ...rs, kind: 'ReplicaSet' });
void [_podFits, _nsFits, _rsFits];

const fullPod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'web-1',
    namespace: 'shop',
    uid: 'u1',
    resourceVersion: '42',
    labels: { app: 'web' },
    annotations: {
      'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(10_000),
      'tote.dev/auto-salvage': 'true',
    },
    ownerReferences: [
      {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: 'web-7c9',
        uid: 'rs1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
    managedFields: [{ manager: 'kubectl' }],
  },
  spec: {
    nodeName: 'node-a',
    containers: [{ name: 'app', image: 'nginx:1.25', env: [{ name: 'A', value: 'b' }], command: ['nginx'] }],
    initContainers: [{ name: 'init', image: 'busybox' }],
    volumes: [{ name: 'v' }],
  },
  status: {
    phase: 'Pending',
    containerStatuses: [
      {
        name: 'app',
        image: 'nginx:1.25',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "nginx:1.25"' } },
        lastState: { terminated: { exitCode: 1 } },
      },
    ],
    initContainerStatuses: [
      { name: 'init', image: 'busybox', imageID: 'x', state: { terminated: { exitCode: 0 } } },
    ],
  },
};

describe('slimPod', () => {
  it('given a full pod should keep only what detection and opt-in read', () => {
    expect(JSON.parse(JSON.stringify(slimPod(fullPod as Pod)))).toEqual({
      metadata: {
        name: 'web-1',
        namespace: 'shop',
        uid: 'u1',
        resourceVersion: '42',
        annotations: { 'tote.dev/auto-salvage': 'true' },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7c9', uid: 'rs1', controller: true },
        ],
      },
      spec: {
        nodeName: 'node-a',
        containers: [{ name: 'app', image: 'nginx:1.25' }],
        initContainers: [{ name: 'init', image: 'busybox' }],
      },
      status: {
        containerStatuses: [
          {
            name: 'app',
            image: 'nginx:1.25',
            imageID: '',
            state: {
              waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "nginx:1.25"' },
            },
          },
        ],
        initContainerStatuses: [{ name: 'init', image: 'busybox', imageID: 'x' }],
      },
    });
  });

  it('given a pod without tote annotations should drop the annotations entirely', () => {
    expect(slimPod({ metadata: { annotations: { a: 'b' } } }).metadata?.annotations).toBeUndefined();
  });

  it('given an empty pod should not throw', () => {
    expect(() => slimPod({})).not.toThrow();
  });
});

describe('slimNamespace and slimOwner', () => {
  it('given a namespace should keep its name and tote annotations only', () => {
    const ns = slimNamespace({
      metadata: { name: 'shop', uid: 'n1', annotations: { 'tote.dev/allow': 'true', other: 'x' } },
    });
    expect(JSON.parse(JSON.stringify(ns))).toEqual({
      metadata: { name: 'shop', uid: 'n1', annotations: { 'tote.dev/allow': 'true' } },
    });
  });

  it('given an owner should keep its kind, owners and tote annotations', () => {
    const o = slimOwner({
      kind: 'ReplicaSet',
      metadata: {
        name: 'web-7c9',
        namespace: 'shop',
        annotations: { 'deployment.kubernetes.io/revision': '3', 'tote.dev/auto-salvage': 'false' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
      },
    });
    expect(JSON.parse(JSON.stringify(o))).toEqual({
      kind: 'ReplicaSet',
      metadata: {
        name: 'web-7c9',
        namespace: 'shop',
        annotations: { 'tote.dev/auto-salvage': 'false' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }],
      },
    });
  });
});
