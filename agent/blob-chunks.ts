import { status } from '@grpc/grpc-js';
import { protoHeader } from '../common/wire.js';
import { EncodedMessage } from '../infra/grpc-h2-server.js';
import { AgentError } from './errors.js';

/** Where a ReadBlob stream starts and how it is cut. */
export interface ChunkOptions {
  digest: string;
  /** Blob offset of the first byte of `pieces`. */
  offset: number;
  /** The blob's size: more bytes than this is a store fault. */
  size: number;
  /** Largest chunk sent. */
  chunkSize: number;
}

/** One ReadBlobResponse `{offset, data}`, encoded as its header followed by the data pieces themselves. */
export class BlobChunk extends EncodedMessage {
  constructor(
    readonly offset: number,
    pieces: Uint8Array[],
    /** Bytes of blob data (the message minus its header). */
    readonly dataLength: number,
  ) {
    super([protoHeader([[1, offset]], 2, dataLength), ...pieces]);
  }
}

function message(offset: number, pieces: Uint8Array[], length: number): BlobChunk {
  return new BlobChunk(offset, pieces, length);
}

/**
 * Groups a blob's bytes, given in pieces of any size (views of what containerd sent), into ReadBlob messages of
 * `chunkSize` data bytes (the last one shorter) with absolute offsets, already encoded: a small header, then the
 * pieces themselves, split with views where a message ends. The bytes are never copied: the server writes the
 * pieces as they are (infra/grpc-h2-server.ts).
 */
export async function* encodedChunks(
  pieces: AsyncIterable<Uint8Array>,
  opts: ChunkOptions,
): AsyncGenerator<BlobChunk> {
  const { size, chunkSize, digest } = opts;
  let next = opts.offset;
  let batch: Uint8Array[] = [];
  let batchStart = next;
  for await (const piece of pieces) {
    for (let taken = 0; taken < piece.length;) {
      if (next >= size) {
        throw new AgentError(status.DATA_LOSS, `the store holds more than the ${size} bytes of ${digest}`);
      }
      const n = Math.min(chunkSize - (next - batchStart), size - next, piece.length - taken);
      batch.push(n === piece.length ? piece : piece.subarray(taken, taken + n));
      taken += n;
      next += n;
      if (next - batchStart === chunkSize || next === size) {
        yield message(batchStart, batch, next - batchStart);
        batch = [];
        batchStart = next;
      }
    }
  }
  // A store that holds fewer bytes: a short last chunk (the importer then sees the size mismatch).
  if (next > batchStart) yield message(batchStart, batch, next - batchStart);
}
