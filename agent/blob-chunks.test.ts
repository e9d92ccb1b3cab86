import fc from 'fast-check';
import { status } from '@grpc/grpc-js';
import { encodingOf } from '../common/wire.js';
import { ReadBlobResponse } from '../proto/gen/tote/v1/agent.js';
import { ChunkCutter, encodedChunks } from './blob-chunks.js';
import { AgentError } from './errors.js';

function cut(data: Uint8Array, points: number[]): Uint8Array[] {
  const sorted = [...new Set(points.map((p) => p % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let last = 0;
  for (const p of [...sorted, data.length]) {
    out.push(data.subarray(last, p));
    last = p;
  }
  return out;
}

async function* from(pieces: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* pieces;
}

test('cuts pieces of any size into chunkSize chunks with absolute offsets, each carrying its encoding', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.nat()),
      fc.integer({ min: 1, max: 700 }),
      fc.nat({ max: 1_000_000 }),
      async (data, points, chunkSize, offset) => {
        const opts = { digest: 'sha256:x', offset, size: offset + data.length, chunkSize };
        const chunks = [];
        for await (const c of encodedChunks(from(cut(data, points)), opts)) chunks.push(c);
        expect(Buffer.concat(chunks.map((c) => c.data)).equals(Buffer.from(data))).toBe(true);
        let at = offset;
        chunks.forEach((c, i) => {
          expect(c.offset).toBe(String(at));
          if (i < chunks.length - 1) expect(c.data.length).toBe(chunkSize);
          const encoded = Buffer.from(encodingOf(c) ?? []);
          expect(encoded.equals(Buffer.from(ReadBlobResponse.encode(c).finish()))).toBe(true);
          at += c.data.length;
        });
      },
    ),
  );
});

test('a store that holds more bytes than the blob size is a DATA_LOSS, not an overlong chunk', () => {
  const cutter = new ChunkCutter({ digest: 'sha256:x', offset: 0, size: 4, chunkSize: 3 });
  expect(cutter.take(Uint8Array.from([1, 2, 3]))).toHaveLength(1);
  expect(cutter.take(Uint8Array.from([4]))).toHaveLength(1);
  let err: unknown;
  try {
    cutter.take(Uint8Array.from([5]));
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AgentError);
  expect((err as AgentError).code).toBe(status.DATA_LOSS);
});

test('a store that holds fewer bytes ends with a short chunk (the importer then sees the size mismatch)', () => {
  const cutter = new ChunkCutter({ digest: 'sha256:x', offset: 10, size: 20, chunkSize: 8 });
  expect(cutter.take(Uint8Array.from([1, 2, 3]))).toEqual([]);
  const last = cutter.flush();
  expect(last?.offset).toBe('10');
  expect([...(last?.data ?? [])]).toEqual([1, 2, 3]);
  expect(cutter.flush()).toBeUndefined();
});
