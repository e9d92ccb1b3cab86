import fc from 'fast-check';
import { status } from '@grpc/grpc-js';
import { ReadBlobResponse } from '../proto/gen/tote/v1/agent.js';
import type { EncodedMessage } from '../infra/grpc-h2-server.js';
import { encodedChunks, type ChunkOptions } from './blob-chunks.js';
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

async function all(pieces: Uint8Array[], opts: ChunkOptions): Promise<ReadBlobResponse[]> {
  const out: ReadBlobResponse[] = [];
  for await (const m of encodedChunks(from(pieces), opts)) out.push(decoded(m));
  return out;
}

/** What the peer decodes from an encoded message (its pieces, one after the other). */
function decoded(m: EncodedMessage): ReadBlobResponse {
  const bytes = Buffer.concat(m.pieces);
  expect(bytes.length).toBe(m.length);
  return ReadBlobResponse.decode(bytes);
}

test('groups pieces of any size into chunkSize messages with absolute offsets, as the generated codec reads them', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.nat()),
      fc.integer({ min: 1, max: 700 }),
      fc.nat({ max: 1_000_000 }),
      async (data, points, chunkSize, offset) => {
        const chunks = await all(cut(data, points), {
          digest: 'sha256:x',
          offset,
          size: offset + data.length,
          chunkSize,
        });
        expect(Buffer.concat(chunks.map((c) => c.data)).equals(Buffer.from(data))).toBe(true);
        let at = offset;
        chunks.forEach((c, i) => {
          expect(Number(c.offset)).toBe(at);
          if (i < chunks.length - 1) expect(c.data.length).toBe(chunkSize);
          at += c.data.length;
        });
      },
    ),
  );
});

test('the data travels as views of the pieces given, never copies', async () => {
  const piece = Buffer.alloc(10, 1);
  const [m] = await (async () => {
    const out: EncodedMessage[] = [];
    for await (const x of encodedChunks(from([piece]), {
      digest: 'sha256:x',
      offset: 0,
      size: 10,
      chunkSize: 4,
    }))
      out.push(x);
    return out;
  })();
  expect(m?.pieces[1]?.buffer).toBe(piece.buffer);
});

test('a store that holds more bytes than the blob size is a DATA_LOSS, not an overlong chunk', async () => {
  const err = await all([Uint8Array.from([1, 2, 3]), Uint8Array.from([4, 5])], {
    digest: 'sha256:x',
    offset: 0,
    size: 4,
    chunkSize: 3,
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AgentError);
  expect((err as AgentError).code).toBe(status.DATA_LOSS);
});

test('a store that holds fewer bytes ends with a short chunk (the importer then sees the size mismatch)', async () => {
  const chunks = await all([Uint8Array.from([1, 2, 3])], {
    digest: 'sha256:x',
    offset: 10,
    size: 20,
    chunkSize: 8,
  });
  expect(chunks).toHaveLength(1);
  expect(chunks[0]?.offset).toBe('10');
  expect([...(chunks[0]?.data ?? [])]).toEqual([1, 2, 3]);
});
