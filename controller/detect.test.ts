import {
  corruptImageSignal,
  detectFailures,
  digestNeed,
  planAction,
  type DetectedFailure,
} from './detect.js';
import type { ContainerStatus, Pod } from './types.js';

const D = 'sha256:' + 'd'.repeat(64);
const L = 'sha256:' + 'b50153e8'.repeat(8);
const C = 'sha256:' + 'c'.repeat(64);

function waiting(
  name: string,
  reason: string,
  extra: Partial<ContainerStatus> & { message?: string } = {},
): ContainerStatus {
  const { message, ...rest } = extra;
  return {
    name,
    image: '',
    imageID: '',
    state: { waiting: { reason, ...(message ? { message } : {}) } },
    ...rest,
  };
}

function podWith(status: NonNullable<Pod['status']>, spec: Partial<NonNullable<Pod['spec']>> = {}): Pod {
  return {
    metadata: { name: 'web-1', namespace: 'shop' },
    spec: {
      nodeName: 'node-a',
      containers: [
        { name: 'app', image: 'nginx:1.25' },
        { name: 'sidecar', image: 'quay.io/org/proxy:2' },
      ],
      initContainers: [{ name: 'migrate', image: `registry.k8s.io/migrate@${D}` }],
      ephemeralContainers: [{ name: 'debugger', image: 'busybox' }],
      ...spec,
    },
    status,
  };
}

describe('detectFailures', () => {
  it.each(['ErrImagePull', 'ImagePullBackOff', 'CreateContainerError'])(
    'given a regular container waiting with %s should report it with the spec image and node',
    (reason) => {
      const f = detectFailures(
        podWith({ containerStatuses: [waiting('app', reason, { image: 'nginx:1.25' })] }),
      );
      expect(f).toEqual([
        {
          container: 'app',
          containerKind: 'regular',
          reason,
          image: 'nginx:1.25',
          statusImage: 'nginx:1.25',
          node: 'node-a',
        },
      ]);
    },
  );

  it('given an init container in ImagePullBackOff should report it as init', () => {
    const f = detectFailures(podWith({ initContainerStatuses: [waiting('migrate', 'ImagePullBackOff')] }));
    expect(f).toMatchObject([
      { container: 'migrate', containerKind: 'init', image: `registry.k8s.io/migrate@${D}` },
    ]);
  });

  it('given an ephemeral container in ErrImagePull should report it as ephemeral', () => {
    const f = detectFailures(podWith({ ephemeralContainerStatuses: [waiting('debugger', 'ErrImagePull')] }));
    expect(f).toMatchObject([{ container: 'debugger', containerKind: 'ephemeral', image: 'busybox' }]);
  });

  it('given failures in all three lists should report each, init first', () => {
    const f = detectFailures(
      podWith({
        containerStatuses: [waiting('app', 'ErrImagePull'), waiting('sidecar', 'ImagePullBackOff')],
        initContainerStatuses: [waiting('migrate', 'ErrImagePull')],
        ephemeralContainerStatuses: [waiting('debugger', 'ErrImagePull')],
      }),
    );
    expect(f.map((x) => `${x.containerKind}/${x.container}`)).toEqual([
      'init/migrate',
      'regular/app',
      'regular/sidecar',
      'ephemeral/debugger',
    ]);
  });

  it('given a status image that differs from the spec should take the spec image and keep the status one aside', () => {
    const f = detectFailures(
      podWith({
        containerStatuses: [
          waiting('app', 'ErrImagePull', {
            image: 'docker.io/library/nginx:1.24',
            imageID: `docker.io/library/nginx@${D}`,
          }),
        ],
      }),
    );
    expect(f[0]).toMatchObject({
      image: 'nginx:1.25',
      statusImage: 'docker.io/library/nginx:1.24',
      imageID: `docker.io/library/nginx@${D}`,
    });
  });

  it('given a status without a matching spec container should fall back to the status image', () => {
    const f = detectFailures(
      podWith({ containerStatuses: [waiting('ghost', 'ErrImagePull', { image: 'ghost:1' })] }),
    );
    expect(f).toMatchObject([{ container: 'ghost', image: 'ghost:1' }]);
  });

  it('given no image in spec or status should skip the container', () => {
    expect(detectFailures(podWith({ containerStatuses: [waiting('ghost', 'ErrImagePull')] }))).toEqual([]);
  });

  it('given the waiting message should carry it', () => {
    const message =
      'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nginx:1.25": not found';
    const f = detectFailures(podWith({ containerStatuses: [waiting('app', 'ErrImagePull', { message })] }));
    expect(f[0]?.message).toBe(message);
  });

  it('given an unscheduled pod should report nothing', () => {
    expect(
      detectFailures(
        podWith({ containerStatuses: [waiting('app', 'ErrImagePull')] }, { nodeName: undefined }),
      ),
    ).toEqual([]);
    expect(
      detectFailures(podWith({ containerStatuses: [waiting('app', 'ErrImagePull')] }, { nodeName: '' })),
    ).toEqual([]);
  });

  it('given a terminating pod should report nothing', () => {
    const p = podWith({ containerStatuses: [waiting('app', 'ErrImagePull')] });
    expect(
      detectFailures({ ...p, metadata: { ...p.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } }),
    ).toEqual([]);
  });

  it.each([
    'ContainerCreating',
    'PodInitializing',
    'CrashLoopBackOff',
    'InvalidImageName',
    'ErrImageNeverPull',
    'RunContainerError',
    '',
    'errimagepull',
  ])('given waiting reason %p should report nothing', (reason) => {
    expect(detectFailures(podWith({ containerStatuses: [waiting('app', reason)] }))).toEqual([]);
  });

  it('given running or terminated containers should report nothing', () => {
    const statuses: ContainerStatus[] = [
      { name: 'app', image: 'nginx:1.25', imageID: '', state: {} },
      { name: 'sidecar' },
    ];
    expect(detectFailures(podWith({ containerStatuses: statuses }))).toEqual([]);
  });

  it('given a pod without spec or status should report nothing', () => {
    expect(detectFailures({})).toEqual([]);
    expect(detectFailures({ spec: { nodeName: 'n' } })).toEqual([]);
  });
});

const hex = (c: string): string => 'sha256:' + c.repeat(64);

/** Real CreateContainerError messages from containerd and CRI-O for images with missing or broken content. */
const CORRUPT_MESSAGES: Array<[string, string]> = [
  [
    'content-not-found',
    `failed to create containerd container: failed to resolve rootfs: content digest ${L}: not found`,
  ],
  [
    'content-not-found',
    `failed to create containerd container: error unpacking image: failed to extract layer ${hex('1')}: failed to get reader from content store: content digest ${L}: not found`,
  ],
  [
    'rootfs-unresolved',
    'failed to create containerd container: failed to resolve rootfs: failed to read manifest: unexpected end of JSON input',
  ],
  [
    'unexpected-eof',
    `failed to create containerd container: error unpacking image: failed to extract layer ${hex('2')}: unexpected EOF: unknown`,
  ],
  [
    'layer-extract-failed',
    `failed to create containerd container: error unpacking image: failed to extract layer ${hex('3')}: archive/tar: invalid tar header: unknown`,
  ],
  [
    'diff-id-mismatch',
    `failed to create containerd container: error unpacking image: wrong diff id calculated on extraction "${hex('4')}"`,
  ],
  [
    'diff-id-mismatch',
    `failed to create containerd container: unexpected commit digest ${hex('5')}, expected ${hex('6')}: failed precondition`,
  ],
  [
    'snapshot-missing',
    'failed to create containerd container: failed to stat parent: stat /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/1234/fs: no such file or directory',
  ],
  [
    'snapshot-missing',
    `failed to create containerd container: failed to create snapshot: missing parent "k8s.io/12/${hex('7')}" bucket: not found`,
  ],
  [
    'snapshot-missing',
    `failed to create containerd container: failed to stat snapshot ${hex('8')}: snapshot ${hex('8')} does not exist: not found`,
  ],
  ['layer-not-known', 'error creating read-write layer with ID "3f5c1a": layer not known'],
];

/** Real CreateContainerError messages that have nothing to do with image content. */
const NON_IMAGE_MESSAGES = [
  'Error response from daemon: Conflict. The container name "/k8s_app_web-1_shop_uid_0" is already in use by container "abc". You have to remove (or rename) that container to be able to reuse that name.',
  'failed to reserve container name "app_web-1_shop_0f1e_1": name "app_web-1_shop_0f1e_1" is reserved for "5d2c"',
  'configmap "app-config" not found',
  'secret "db-credentials" not found',
  "couldn't find key DB_HOST in ConfigMap shop/app-config",
  'failed to generate container "5d2c" spec: failed to generate spec: failed to mkdir "/data": mkdir /data: read-only file system',
  'Error: failed to create containerd task: failed to create shim task: OCI runtime create failed: invalid mount {Destination:/etc/cfg Type:bind Source:/missing Options:[rbind ro]}: stat /missing: no such file or directory: unknown',
  'failed to generate container "5d2c" spec: failed to generate spec: no command specified',
  'failed to create containerd container: failed to create snapshot: write /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/metadata.db: no space left on device',
  'context deadline exceeded',
  '',
];

describe('corruptImageSignal', () => {
  it.each(CORRUPT_MESSAGES)('given a %s message should classify it', (signal, message) => {
    expect(corruptImageSignal(message)).toBe(signal);
  });

  it.each(NON_IMAGE_MESSAGES)('given the non-image message %p should not classify it', (message) => {
    expect(corruptImageSignal(message)).toBeUndefined();
  });

  it('given no message should not classify it', () => {
    expect(corruptImageSignal(undefined)).toBeUndefined();
  });
});

function failure(over: Partial<DetectedFailure>): DetectedFailure {
  return {
    container: 'app',
    containerKind: 'regular',
    reason: 'ErrImagePull',
    image: 'nginx:1.25',
    node: 'node-a',
    ...over,
  };
}

describe('planAction', () => {
  it.each(['ErrImagePull', 'ImagePullBackOff'] as const)(
    'given %s on a pinned image should salvage with a known digest and workflow id',
    (reason) => {
      const plan = planAction(failure({ reason, image: `quay.io/org/app:1@${D}` }));
      expect(plan).toMatchObject({
        action: 'salvage',
        workflow: 'salvageImage',
        digest: { known: true, digest: D, source: 'reference' },
        workflowId: `salvage/${D}/node-a`,
      });
    },
  );

  it('given a pull failure on a tag-only image without imageID should ask for the resolution chain', () => {
    const plan = planAction(failure({}));
    expect(plan).toMatchObject({
      action: 'salvage',
      digest: {
        known: false,
        reference: 'docker.io/library/nginx:1.25',
        steps: ['node-status-images', 'agents', 'registry'],
      },
    });
    expect(plan).not.toHaveProperty('workflowId');
  });

  it('given a tag-only image whose status shows the same image with a repo digest should take the digest from imageID', () => {
    const plan = planAction(
      failure({ statusImage: 'docker.io/library/nginx:1.25', imageID: `docker-pullable://nginx@${D}` }),
    );
    expect(plan).toMatchObject({
      digest: { known: true, digest: D, source: 'pod-image-id' },
      workflowId: `salvage/${D}/node-a`,
    });
  });

  it('given an imageID left over from a different image should not trust it', () => {
    const plan = planAction(
      failure({ statusImage: 'docker.io/library/nginx:1.24', imageID: `docker.io/library/nginx@${D}` }),
    );
    expect(plan).toMatchObject({ digest: { known: false } });
  });

  it('given an imageID of another repository should not trust it', () => {
    const need = digestNeed(
      {
        registry: 'docker.io',
        repository: 'library/nginx',
        tag: '1.25',
        original: 'nginx:1.25',
        familiar: 'nginx:1.25',
      },
      {
        statusImage: 'nginx:1.25',
        imageID: `mirror.local/library/nginx@${D}`,
      },
    );
    expect(need).toMatchObject({ known: false });
  });

  it('given a bare sha256 imageID should pass it on as a config digest hint, not as the digest', () => {
    const plan = planAction(failure({ statusImage: 'nginx:1.25', imageID: C }));
    expect(plan).toMatchObject({ digest: { known: false, configDigest: C } });
  });

  it.each(CORRUPT_MESSAGES)(
    'given CreateContainerError with a %s message should clean up the corrupt image',
    (signal, message) => {
      const plan = planAction(failure({ reason: 'CreateContainerError', image: `nginx:1.25@${D}`, message }));
      expect(plan).toMatchObject({
        action: 'cleanup',
        workflow: 'cleanupCorruptImage',
        signal,
        workflowId: `cleanup/${D}/node-a`,
      });
    },
  );

  it('given a content-not-found message should name the missing blob', () => {
    const plan = planAction(failure({ reason: 'CreateContainerError', message: CORRUPT_MESSAGES[0]![1] }));
    expect(plan).toMatchObject({ action: 'cleanup', missingBlob: L, digest: { known: false } });
  });

  it.each(NON_IMAGE_MESSAGES)('given CreateContainerError %p should not act', (message) => {
    expect(planAction(failure({ reason: 'CreateContainerError', message }))).toEqual({
      action: 'none',
      why: 'not-image-related',
    });
  });

  it('given CreateContainerError without a message should not act', () => {
    expect(planAction(failure({ reason: 'CreateContainerError' }))).toEqual({
      action: 'none',
      why: 'not-image-related',
    });
  });

  it.each(['NGINX:1', 'nginx@sha512:' + 'a'.repeat(128), 'nginx:', ''])(
    'given the invalid image %p should not act and carry the typed error',
    (image) => {
      const plan = planAction(failure({ image }));
      expect(plan).toMatchObject({
        action: 'none',
        why: 'invalid-reference',
        error: { kind: 'InvalidImageReference' },
      });
    },
  );
});
