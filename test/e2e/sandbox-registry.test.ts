import { createHash } from 'node:crypto';
import { buildImage, hostPlatform, inspectRaw, pullFromRegistry, pushToRegistry } from '../harness/images.js';
import { MEDIA_TYPES } from '../harness/oci-blobs.js';
import {
  MANIFEST_ACCEPT,
  basicAuth,
  registryGet,
  startRegistry,
  type Registry,
} from '../harness/registry.js';
import { Run } from '../harness/run.js';

const MiB = 1 << 20;
const auth = { username: 'tote', password: 's3cret-pw' };
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

// Explicit per-hook/test timeouts: a project-level testTimeout in jest.config.js is not applied (we saw 5 s).
const TIMEOUT = 120_000;

let run: Run;
let plain: Registry;
let tls: Registry;

beforeAll(async () => {
  run = Run.create('registry');
  try {
    plain = await startRegistry(run, { auth });
    tls = await startRegistry(run, { auth, tls: true, name: 'registry-tls' });
  } catch (err) {
    console.error(run.tailLogs());
    throw err;
  }
  console.log(`registry started: basic auth in ${plain.startMs} ms, TLS + auth in ${tls.startMs} ms`);
}, TIMEOUT);

afterAll(async () => {
  await run?.stop();
}, TIMEOUT);

test(
  'given basic auth, a pushed OCI image is served and pulled back with the same manifest digest',
  async () => {
    const image = await buildImage(run, { layers: 2, layerSize: 2 * MiB });
    const ref = await pushToRegistry(image, plain, 'fixtures/app:1');
    expect(ref).toBe(`${plain.host}/fixtures/app:1`);

    const res = await registryGet(plain, '/v2/fixtures/app/manifests/1', { accept: MANIFEST_ACCEPT });
    expect(res.status).toBe(200);
    expect(res.headers['docker-content-digest']).toBe(image.digest);
    expect(res.headers['content-type']).toBe(MEDIA_TYPES.oci.manifest);
    expect(sha256(res.body)).toBe(image.digest);

    expect(sha256(await inspectRaw(plain, ref))).toBe(image.digest);
    const pulled = await pullFromRegistry(run, plain, ref);
    expect(pulled.digest).toBe(image.digest);
    const layer = await registryGet(plain, `/v2/fixtures/app/blobs/${image.layerDigests[1]}`);
    expect(sha256(layer.body)).toBe(image.layerDigests[1]);
  },
  TIMEOUT,
);

test(
  'given a wrong password or none, the registry refuses access',
  async () => {
    expect((await registryGet(plain, '/v2/', { authorization: null })).status).toBe(401);
    expect(
      (await registryGet(plain, '/v2/', { authorization: basicAuth(auth.username, 'wrong') })).status,
    ).toBe(401);
    expect((await registryGet(plain, '/v2/')).status).toBe(200);

    const image = await buildImage(run, { layers: 1, layerSize: MiB });
    await expect(
      pushToRegistry(image, plain, 'fixtures/denied:1', { creds: { ...auth, password: 'wrong' } }),
    ).rejects.toThrow(/unauthorized|authentication required|401/i);
    expect(
      (await registryGet(plain, '/v2/fixtures/denied/manifests/1', { accept: MANIFEST_ACCEPT })).status,
    ).toBe(404);
  },
  TIMEOUT,
);

test(
  'given TLS with a CA from pki.ts, a push and pull keep the digest',
  async () => {
    expect(tls.url).toMatch(/^https:/);
    expect(tls.caFile).toBeDefined();
    const image = await buildImage(run, { layers: 1, layerSize: MiB });
    const ref = await pushToRegistry(image, tls, 'fixtures/secure:1');
    expect(sha256(await inspectRaw(tls, ref))).toBe(image.digest);
    expect((await pullFromRegistry(run, tls, ref)).digest).toBe(image.digest);
    const res = await registryGet(tls, '/v2/fixtures/secure/manifests/1', { accept: MANIFEST_ACCEPT });
    expect(res.headers['docker-content-digest']).toBe(image.digest);
  },
  TIMEOUT,
);

test(
  'given a multi-arch docker manifest list, every platform is pushed and the list digest is kept',
  async () => {
    const other = { os: 'linux', architecture: hostPlatform().architecture === 'arm64' ? 'amd64' : 'arm64' };
    const image = await buildImage(run, {
      layers: 1,
      layerSize: MiB,
      mediaTypes: 'docker',
      platforms: [hostPlatform(), other],
    });
    const ref = await pushToRegistry(image, plain, 'fixtures/multi:1');

    const list = await registryGet(plain, '/v2/fixtures/multi/manifests/1', { accept: MANIFEST_ACCEPT });
    expect(list.headers['content-type']).toBe(MEDIA_TYPES.docker.index);
    expect(sha256(list.body)).toBe(image.digest);
    for (const digest of image.manifestDigests) {
      const m = await registryGet(plain, `/v2/fixtures/multi/manifests/${digest}`, {
        accept: MANIFEST_ACCEPT,
      });
      expect(m.headers['content-type']).toBe(MEDIA_TYPES.docker.manifest);
      expect(sha256(m.body)).toBe(digest);
    }
    expect((await pullFromRegistry(run, plain, ref)).digest).toBe(image.digest);
  },
  TIMEOUT,
);
