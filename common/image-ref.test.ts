import {
  canonicalName,
  digestFromImageID,
  formatReference,
  parseImageReference,
  withDigest,
  type ImageReference,
  type InvalidImageReferenceCode,
} from './image-ref.js';

const D = 'sha256:' + 'a'.repeat(64);
const D2 = 'sha256:' + '0123456789abcdef'.repeat(4);

function mustParse(s: string): ImageReference {
  const r = parseImageReference(s);
  if (!r.ok) throw new Error(`expected ${s} to parse: ${r.error.reason}`);
  return r.ref;
}

describe('parseImageReference on real-world references', () => {
  // [input, registry, repository, tag, digest, familiar]
  const table: Array<[string, string, string, string | undefined, string | undefined, string]> = [
    ['nginx', 'docker.io', 'library/nginx', 'latest', undefined, 'nginx:latest'],
    ['nginx:1.25', 'docker.io', 'library/nginx', '1.25', undefined, 'nginx:1.25'],
    ['nginx:1.25-alpine', 'docker.io', 'library/nginx', '1.25-alpine', undefined, 'nginx:1.25-alpine'],
    [`nginx@${D}`, 'docker.io', 'library/nginx', undefined, D, `nginx@${D}`],
    [`nginx:1.25@${D}`, 'docker.io', 'library/nginx', '1.25', D, `nginx:1.25@${D}`],
    ['library/nginx', 'docker.io', 'library/nginx', 'latest', undefined, 'nginx:latest'],
    ['docker.io/nginx', 'docker.io', 'library/nginx', 'latest', undefined, 'nginx:latest'],
    ['docker.io/library/nginx:1', 'docker.io', 'library/nginx', '1', undefined, 'nginx:1'],
    ['index.docker.io/library/nginx', 'docker.io', 'library/nginx', 'latest', undefined, 'nginx:latest'],
    ['index.docker.io/user/app:v2', 'docker.io', 'user/app', 'v2', undefined, 'user/app:v2'],
    ['user/app', 'docker.io', 'user/app', 'latest', undefined, 'user/app:latest'],
    [
      'bitnami/postgresql:16.2.0-debian-12-r8',
      'docker.io',
      'bitnami/postgresql',
      '16.2.0-debian-12-r8',
      undefined,
      'bitnami/postgresql:16.2.0-debian-12-r8',
    ],
    ['docker.io/library/a/b', 'docker.io', 'library/a/b', 'latest', undefined, 'library/a/b:latest'],
    ['registry.k8s.io/pause:3.9', 'registry.k8s.io', 'pause', '3.9', undefined, 'registry.k8s.io/pause:3.9'],
    [
      'registry.k8s.io/kube-apiserver:v1.34.4',
      'registry.k8s.io',
      'kube-apiserver',
      'v1.34.4',
      undefined,
      'registry.k8s.io/kube-apiserver:v1.34.4',
    ],
    [
      'gcr.io/google-containers/busybox:1.27',
      'gcr.io',
      'google-containers/busybox',
      '1.27',
      undefined,
      'gcr.io/google-containers/busybox:1.27',
    ],
    [
      'us-docker.pkg.dev/my-proj/my-repo/app:sha-abc123',
      'us-docker.pkg.dev',
      'my-proj/my-repo/app',
      'sha-abc123',
      undefined,
      'us-docker.pkg.dev/my-proj/my-repo/app:sha-abc123',
    ],
    [
      'quay.io/prometheus/node-exporter:v1.8.1',
      'quay.io',
      'prometheus/node-exporter',
      'v1.8.1',
      undefined,
      'quay.io/prometheus/node-exporter:v1.8.1',
    ],
    [
      'ghcr.io/spegel-org/spegel:v0.0.23',
      'ghcr.io',
      'spegel-org/spegel',
      'v0.0.23',
      undefined,
      'ghcr.io/spegel-org/spegel:v0.0.23',
    ],
    [`ghcr.io/org/app@${D2}`, 'ghcr.io', 'org/app', undefined, D2, `ghcr.io/org/app@${D2}`],
    [
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/service:2024.05.01',
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      'team/service',
      '2024.05.01',
      undefined,
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/service:2024.05.01',
    ],
    [
      'mcr.microsoft.com/dotnet/aspnet:8.0',
      'mcr.microsoft.com',
      'dotnet/aspnet',
      '8.0',
      undefined,
      'mcr.microsoft.com/dotnet/aspnet:8.0',
    ],
    [
      'myregistry.azurecr.io/a/b/c/d:e',
      'myregistry.azurecr.io',
      'a/b/c/d',
      'e',
      undefined,
      'myregistry.azurecr.io/a/b/c/d:e',
    ],
    [
      'public.ecr.aws/eks-distro/kubernetes/pause:3.9',
      'public.ecr.aws',
      'eks-distro/kubernetes/pause',
      '3.9',
      undefined,
      'public.ecr.aws/eks-distro/kubernetes/pause:3.9',
    ],
    ['localhost:5000/app', 'localhost:5000', 'app', 'latest', undefined, 'localhost:5000/app:latest'],
    ['localhost/app:dev', 'localhost', 'app', 'dev', undefined, 'localhost/app:dev'],
    ['localhost', 'docker.io', 'library/localhost', 'latest', undefined, 'localhost:latest'],
    [
      `localhost:5000/team/app:1.0@${D}`,
      'localhost:5000',
      'team/app',
      '1.0',
      D,
      `localhost:5000/team/app:1.0@${D}`,
    ],
    [
      '127.0.0.1:5000/tote/fixture:v1',
      '127.0.0.1:5000',
      'tote/fixture',
      'v1',
      undefined,
      '127.0.0.1:5000/tote/fixture:v1',
    ],
    ['10.0.0.12:443/x', '10.0.0.12:443', 'x', 'latest', undefined, '10.0.0.12:443/x:latest'],
    ['[::1]:5000/x', '[::1]:5000', 'x', 'latest', undefined, '[::1]:5000/x:latest'],
    ['[fe80::1]/x:y', '[fe80::1]', 'x', 'y', undefined, '[fe80::1]/x:y'],
    [
      'Registry.Example.COM/app',
      'Registry.Example.COM',
      'app',
      'latest',
      undefined,
      'Registry.Example.COM/app:latest',
    ],
    [
      'harbor.corp:8443/proj/a__b/c.d/e-f--g:TAG_1.x',
      'harbor.corp:8443',
      'proj/a__b/c.d/e-f--g',
      'TAG_1.x',
      undefined,
      'harbor.corp:8443/proj/a__b/c.d/e-f--g:TAG_1.x',
    ],
    // Docker's own familiar form would read back as registry "docker.io" / "localhost": keep the long form.
    [
      'docker.io/docker.io/a',
      'docker.io',
      'docker.io/a',
      'latest',
      undefined,
      'docker.io/docker.io/a:latest',
    ],
    [
      'docker.io/localhost/app',
      'docker.io',
      'localhost/app',
      'latest',
      undefined,
      'docker.io/localhost/app:latest',
    ],
    ['foo/bar:_hidden', 'docker.io', 'foo/bar', '_hidden', undefined, 'foo/bar:_hidden'],
    [
      'a'.repeat(40) + '/b',
      'docker.io',
      'a'.repeat(40) + '/b',
      'latest',
      undefined,
      'a'.repeat(40) + '/b:latest',
    ],
    ['x:' + 'T'.repeat(128), 'docker.io', 'library/x', 'T'.repeat(128), undefined, 'x:' + 'T'.repeat(128)],
  ];

  it.each(table)(
    'given %s should parse into its parts',
    (input, registry, repository, tag, digest, familiar) => {
      const ref = mustParse(input);
      expect(ref).toEqual({
        registry,
        repository,
        ...(tag !== undefined ? { tag } : {}),
        ...(digest !== undefined ? { digest } : {}),
        original: input,
        familiar,
      });
    },
  );

  it.each(table)('given %s should format to a string that parses to the same reference', (input) => {
    const ref = mustParse(input);
    const again = mustParse(formatReference(ref));
    expect(formatReference(again)).toBe(formatReference(ref));
    expect(again.familiar).toBe(ref.familiar);
  });

  it('given a 255-character name should accept it', () => {
    const name = 'r.io/' + 'a'.repeat(250);
    expect(mustParse(name).repository).toHaveLength(250);
  });
});

describe('parseImageReference on malformed references', () => {
  const table: Array<[unknown, InvalidImageReferenceCode]> = [
    [undefined, 'not-a-string'],
    [null, 'not-a-string'],
    [42, 'not-a-string'],
    ['', 'empty'],
    ['a'.repeat(2000), 'too-long'],
    ['NGINX', 'uppercase-repository'],
    ['docker.io/Library/nginx', 'uppercase-repository'],
    ['quay.io/Org/app:1', 'uppercase-repository'],
    ['nginx:', 'invalid-tag'],
    ['nginx:-dash', 'invalid-tag'],
    ['nginx:.dot', 'invalid-tag'],
    ['nginx:a/b', 'invalid-domain'],
    ['nginx:tag with space', 'invalid-tag'],
    ['nginx:' + 'a'.repeat(129), 'tag-too-long'],
    ['nginx@', 'invalid-digest'],
    ['nginx@sha256:abc', 'invalid-digest'],
    ['nginx@sha256:' + 'A'.repeat(64), 'invalid-digest'],
    ['nginx@sha256:' + 'a'.repeat(65), 'invalid-digest'],
    ['nginx@' + 'a'.repeat(64), 'invalid-digest'],
    [`nginx@${D}@${D}`, 'invalid-digest'],
    ['nginx@sha512:' + 'a'.repeat(128), 'unsupported-digest-algorithm'],
    ['nginx@sha384:' + 'b'.repeat(96), 'unsupported-digest-algorithm'],
    ['nginx@blake3:' + 'c'.repeat(64), 'unsupported-digest-algorithm'],
    ['a'.repeat(64), 'hex-repository'],
    ['/nginx', 'invalid-format'],
    ['nginx/', 'invalid-format'],
    ['a//b', 'invalid-format'],
    ['quay.io/', 'invalid-format'],
    ['quay.io//a', 'invalid-format'],
    ['-app', 'invalid-format'],
    ['app-', 'invalid-format'],
    ['a..b', 'invalid-format'],
    ['a___b', 'invalid-format'],
    ['a_-b', 'invalid-format'],
    ['a/b:c/d', 'invalid-format'],
    [':tag', 'invalid-format'],
    [`@${D}`, 'invalid-format'],
    [' nginx', 'invalid-format'],
    ['nginx ', 'invalid-format'],
    ['ngïnx', 'invalid-format'],
    ['-bad.io/app', 'invalid-domain'],
    ['bad-.io/app', 'invalid-domain'],
    ['bad_host.io/app', 'invalid-domain'],
    ['host.io:port/app', 'invalid-domain'],
    ['host.io:5000:1/app', 'invalid-domain'],
    ['host.io:/app', 'invalid-domain'],
    ['[::1/app', 'invalid-domain'],
    ['[zz::1]:5000/app', 'invalid-domain'],
    ['[::1]:5000', 'invalid-tag'],
    ['r.io/' + 'a'.repeat(251), 'name-too-long'],
    ['u/' + 'a'.repeat(250), 'name-too-long'],
  ];

  it.each(table)('given %p should return the typed error %s', (input, code) => {
    const r = parseImageReference(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.kind).toBe('InvalidImageReference');
    expect(r.error.code).toBe(code);
    expect(r.error.reason.length).toBeGreaterThan(0);
  });

  it('given a non-sha256 digest should say tote supports sha256 only', () => {
    const r = parseImageReference('nginx@sha512:' + 'a'.repeat(128));
    expect(!r.ok && r.error.reason).toMatch(/tote supports sha256 only/);
  });
});

describe('formatReference and canonicalName', () => {
  it('given a short name should format the fully qualified form with the default tag', () => {
    expect(formatReference(mustParse('nginx'))).toBe('docker.io/library/nginx:latest');
    expect(canonicalName(mustParse('nginx:1'))).toBe('docker.io/library/nginx');
  });

  it('given tag and digest should keep both', () => {
    expect(formatReference(mustParse(`quay.io/a/b:1@${D}`))).toBe(`quay.io/a/b:1@${D}`);
  });

  it('given a digest-only reference should not invent a tag', () => {
    expect(formatReference(mustParse(`nginx@${D}`))).toBe(`docker.io/library/nginx@${D}`);
  });
});

describe('withDigest', () => {
  it('given a tagged reference should produce the repo-digest form without the tag', () => {
    expect(withDigest(mustParse('nginx:1.25'), D)).toBe(`docker.io/library/nginx@${D}`);
    expect(withDigest(mustParse(`localhost:5000/app:1@${D}`), D2)).toBe(`localhost:5000/app@${D2}`);
  });

  it('given something that is not a sha256 digest should throw a RangeError', () => {
    expect(() => withDigest(mustParse('nginx'), 'sha256:xyz')).toThrow(RangeError);
  });
});

describe('digestFromImageID', () => {
  it.each([
    [`docker-pullable://nginx@${D}`, 'docker.io/library/nginx'],
    [`docker-pullable://registry.k8s.io/pause@${D}`, 'registry.k8s.io/pause'],
    [`docker.io/library/nginx@${D}`, 'docker.io/library/nginx'],
    [`localhost:5000/tote/fixture@${D}`, 'localhost:5000/tote/fixture'],
    [`quay.io/org/app:1.0@${D}`, 'quay.io/org/app'],
  ])('given the repo-digest imageID %s should return the manifest digest', (imageID, name) => {
    expect(digestFromImageID(imageID)).toEqual({ kind: 'manifest', digest: D, name });
  });

  it.each([D, `docker://${D}`])(
    'given the bare image id %s should mark it as the config digest',
    (imageID) => {
      expect(digestFromImageID(imageID)).toEqual({ kind: 'config', digest: D });
    },
  );

  it.each([
    [undefined, /empty/],
    ['', /empty/],
    ['docker.io/library/nginx:1.25', /no digest/],
    ['docker-pullable://nginx@sha512:' + 'a'.repeat(128), /sha256 only/],
    ['sha256:short', /no digest/],
    ['docker-pullable://NGINX@' + D, /lowercase/],
  ])('given %p should return none with a reason', (imageID, reason) => {
    const r = digestFromImageID(imageID);
    expect(r.kind).toBe('none');
    expect(r.kind === 'none' && r.reason).toMatch(reason);
  });
});
