import { createHash, randomBytes } from 'node:crypto';
import { StoreError, type Ingest, type Store } from '../../agent/store.js';

/** Shared contract of agent/store.ts: run against the fake (unit) and a real containerd (e2e). */
export interface StoreContractTarget {
  store: Store;
}

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

async function open(store: Store, data: Buffer, ref?: string): Promise<Ingest> {
  const digest = digestOf(data);
  const w = await store.openWrite({
    ref: ref ?? `contract-${digest.slice(7, 23)}`,
    digest,
    size: data.length,
  });
  if (w === 'exists') throw new Error('unexpectedly exists');
  return w;
}

async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof StoreError ? err.kind : `not a StoreError: ${String(err)}`;
  }
}

/** Registers the contract tests; `target()` returns the store under test (set up in the caller's beforeAll). */
export function storeContract(target: () => StoreContractTarget): void {
  const store = (): Store => target().store;

  test('given a written blob, commit verifies it and read returns it from any offset', async () => {
    const data = randomBytes(300_000);
    const w = await open(store(), data);
    expect(w.offset).toBe(0);
    await w.write(data.subarray(0, 100_000));
    await w.write(data.subarray(100_000));
    expect(await w.commit({ 'tote.test/label': 'x' })).toBe('committed');
    const info = await store().info(digestOf(data));
    expect(info).toMatchObject({ size: data.length, labels: { 'tote.test/label': 'x' } });
    expect((await collect(store().read(digestOf(data)))).equals(data)).toBe(true);
    expect(
      (await collect(store().read(digestOf(data), { offset: 123_456 }))).equals(data.subarray(123_456)),
    ).toBe(true);
  });

  test('given a committed blob, openWrite says it exists', async () => {
    const data = randomBytes(1000);
    const w = await open(store(), data);
    await w.write(data);
    await w.commit({});
    expect(
      await store().openWrite({ ref: 'contract-other', digest: digestOf(data), size: data.length }),
    ).toBe('exists');
  });

  test('given bytes that do not match the digest, commit fails and nothing is committed', async () => {
    const data = randomBytes(5000);
    const w = await open(store(), data);
    const bad = Buffer.from(data);
    bad[10] = (bad[10] ?? 0) ^ 0xff;
    await w.write(bad);
    expect(await kindOf(w.commit({}))).toBe('precondition');
    expect(await store().info(digestOf(data))).toBeUndefined();
    await w.abort();
    const again = await open(store(), data);
    expect(again.offset).toBe(0);
    await again.abort();
  });

  test('given a closed partial ingest, the same ref resumes from its offset', async () => {
    const data = randomBytes(200_000);
    const ref = `contract-resume-${digestOf(data).slice(7, 20)}`;
    const w = await open(store(), data, ref);
    await w.write(data.subarray(0, 70_000));
    await w.close();
    const r = await open(store(), data, ref);
    expect(r.offset).toBe(70_000);
    await r.write(data.subarray(70_000));
    expect(await r.commit({})).toBe('committed');
    expect((await collect(store().read(digestOf(data)))).equals(data)).toBe(true);
  });

  test('given a ref being written, a second writer is refused as unavailable', async () => {
    const data = randomBytes(1000);
    const ref = `contract-lock-${digestOf(data).slice(7, 20)}`;
    const w = await open(store(), data, ref);
    expect(await kindOf(store().openWrite({ ref, digest: digestOf(data), size: data.length }))).toBe(
      'unavailable',
    );
    await w.abort();
  });

  test('setLabels merges labels into a committed blob', async () => {
    const data = randomBytes(100);
    const w = await open(store(), data);
    await w.write(data);
    await w.commit({ 'tote.test/a': '1' });
    await store().setLabels(digestOf(data), { 'tote.test/b': '2' });
    expect((await store().info(digestOf(data)))?.labels).toMatchObject({
      'tote.test/a': '1',
      'tote.test/b': '2',
    });
  });

  test('unknown digests: info is undefined, read is not-found, offsets past the end are out-of-range', async () => {
    const missing = digestOf(randomBytes(10));
    expect(await store().info(missing)).toBeUndefined();
    expect(await kindOf(collect(store().read(missing)))).toBe('not-found');
    const data = randomBytes(10);
    const w = await open(store(), data);
    await w.write(data);
    await w.commit({});
    expect(await kindOf(collect(store().read(digestOf(data), { offset: 11 })))).toBe('out-of-range');
  });

  test('image records: create, update target, list, get, delete', async () => {
    const name = `example.com/contract/img-${randomBytes(4).toString('hex')}:v1`;
    const t1 = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: digestOf(randomBytes(8)),
      size: 10,
    };
    const t2 = { ...t1, digest: digestOf(randomBytes(8)) };
    await store().putImage({ name, target: t1, labels: { 'tote.test/x': 'y' } });
    await store().putImage({ name, target: t2, labels: { 'tote.test/x': 'z' } });
    expect(await store().getImage(name)).toMatchObject({ name, target: t2, labels: { 'tote.test/x': 'z' } });
    expect((await store().listImages()).map((r) => r.name)).toContain(name);
    expect(await store().deleteImage(name)).toBe(true);
    expect(await store().deleteImage(name)).toBe(false);
    expect(await store().getImage(name)).toBeUndefined();
  });

  test('leases: creating twice is fine, writes under a lease work, deleting removes it', async () => {
    const id = `contract-lease-${randomBytes(4).toString('hex')}`;
    await store().createLease(id, 60_000);
    await store().createLease(id, 60_000);
    const data = randomBytes(100);
    const w = await store().openWrite({
      ref: `contract-l-${id}`,
      digest: digestOf(data),
      size: 100,
      lease: id,
    });
    if (w === 'exists') throw new Error('exists');
    await w.write(data);
    expect(await w.commit({})).toBe('committed');
    await store().deleteLease(id);
    expect(await kindOf(store().deleteLease(id))).toBe('not-found');
  });
}
