import { status } from '@grpc/grpc-js';
import { OffsetDataBuilder, withEncoding } from '../common/wire.js';
import type { ReadBlobResponse } from '../proto/gen/tote/v1/agent.js';
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

/**
 * Cuts a blob's bytes, given in pieces of any size, into ReadBlob chunks of `chunkSize` bytes (the last one
 * shorter) with absolute offsets. Each chunk is built already encoded, its bytes copied once straight into
 * place, and carries that encoding (common/wire.ts `withEncoding`) so the server sends it as is.
 */
export class ChunkCutter {
  private next: number;
  private building: OffsetDataBuilder | undefined;

  constructor(private readonly opts: ChunkOptions) {
    this.next = opts.offset;
  }

  /** Takes a piece; returns the chunks it completes. */
  take(piece: Uint8Array): ReadBlobResponse[] {
    const out: ReadBlobResponse[] = [];
    for (let taken = 0; taken < piece.length;) {
      const b = (this.building ??= this.start());
      const n = b.fill(taken === 0 ? piece : piece.subarray(taken));
      taken += n;
      this.next += n;
      if (b.full) {
        out.push(this.finish(b));
        this.building = undefined;
      }
    }
    return out;
  }

  /** The last, partial chunk, if any. */
  flush(): ReadBlobResponse | undefined {
    const b = this.building;
    this.building = undefined;
    return b && b.length > 0 ? this.finish(b) : undefined;
  }

  private start(): OffsetDataBuilder {
    const { size, chunkSize, digest } = this.opts;
    if (this.next >= size) {
      throw new AgentError(status.DATA_LOSS, `the store holds more than the ${size} bytes of ${digest}`);
    }
    const capacity = Math.min(chunkSize, size - this.next);
    // Not zero-filled: every byte sent is written first.
    return new OffsetDataBuilder(
      this.next,
      capacity,
      Buffer.allocUnsafe(OffsetDataBuilder.bytesFor(capacity)),
    );
  }

  private finish(b: OffsetDataBuilder): ReadBlobResponse {
    const { message, data } = b.finish();
    const chunk = { offset: String(b.offset), data: Buffer.from(data.buffer, data.byteOffset, data.length) };
    return withEncoding(chunk, message);
  }
}

/** {@link ChunkCutter} over a stream of pieces. */
export async function* encodedChunks(
  pieces: AsyncIterable<Uint8Array>,
  opts: ChunkOptions,
): AsyncGenerator<ReadBlobResponse> {
  const cutter = new ChunkCutter(opts);
  for await (const piece of pieces) yield* cutter.take(piece);
  const last = cutter.flush();
  if (last) yield last;
}
