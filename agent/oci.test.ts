import { gcLabels, parseChildren, ManifestError } from './oci.js';
import { criRecordNames } from './records.js';

const d = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;

test('gcLabels numbers children as containerd does: config unsuffixed, layers and manifests from 0', () => {
  const layer = 'application/vnd.oci.image.layer.v1.tar+gzip';
  expect(
    gcLabels({
      manifests: [],
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d(1), size: 1 },
      layers: [
        { mediaType: layer, digest: d(2), size: 1 },
        { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: d(3), size: 1 },
      ],
    }),
  ).toEqual({
    'containerd.io/gc.ref.content.config': d(1),
    'containerd.io/gc.ref.content.l.0': d(2),
    'containerd.io/gc.ref.content.l.1': d(3),
  });
  expect(
    gcLabels({
      manifests: [
        { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: d(4), size: 1 },
        { mediaType: 'application/vnd.oci.image.index.v1+json', digest: d(5), size: 1 },
      ],
      layers: [],
    }),
  ).toEqual({ 'containerd.io/gc.ref.content.m.0': d(4), 'containerd.io/gc.ref.content.0': d(5) });
});

test('parseChildren refuses descriptors with foreign digests or bad sizes', () => {
  const manifest = (layer: unknown): Buffer =>
    Buffer.from(JSON.stringify({ config: { mediaType: 'x', digest: d(1), size: 1 }, layers: [layer] }));
  const mt = 'application/vnd.oci.image.manifest.v1+json';
  expect(() => parseChildren(mt, manifest({ mediaType: 'x', digest: 'sha512:ab', size: 1 }))).toThrow(
    ManifestError,
  );
  expect(() => parseChildren(mt, manifest({ mediaType: 'x', digest: d(2), size: -1 }))).toThrow(
    ManifestError,
  );
  expect(() => parseChildren(mt, Buffer.from('{'))).toThrow(ManifestError);
  expect(() => parseChildren('text/plain', Buffer.from('{}'))).toThrow(ManifestError);
});

test('criRecordNames gives repo:tag, repo@digest and the id record, normalized', () => {
  expect(criRecordNames(['nginx:1.25', `quay.io/x/y@${d(7)}`], d(7), d(8))).toEqual([
    'docker.io/library/nginx:1.25',
    `docker.io/library/nginx@${d(7)}`,
    `quay.io/x/y@${d(7)}`,
    d(8),
  ]);
  expect(() => criRecordNames([`nginx@${d(1)}`], d(7))).toThrow(/pinned/);
});
