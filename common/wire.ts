/**
 * Copy-free protobuf and gRPC framing for the messages that carry blob bytes ({offset, data} chunks and
 * containerd's WRITE requests). The generated codecs copy each chunk several times (growing writer, finish,
 * Buffer.from) and grpc-js assembles every received message into a fresh buffer; at hundreds of MiB per transfer
 * those copies and the garbage they make dominated the agents' CPU. Here headers are encoded on their own so the
 * data can be written after them untouched, and received data is returned as views of the received chunks, in
 * pieces, as it arrives. Pure (Uint8Array only). MAINTENANCE: field numbers must match the .proto files; the
 * tests in common/wire.test.ts compare every codec with the generated one.
 */

/** Bytes of the gRPC message prefix: a compressed flag, then the message length (4 bytes, big-endian). */
export const GRPC_PREFIX_BYTES = 5;

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function putVarint(out: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    out[at++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/** Varint fields (field number, non-negative safe integer) in the order they are written. */
export type VarintFields = Array<[field: number, value: number]>;

/**
 * The protobuf bytes that precede the data of a message made of non-negative varint fields (zero values
 * omitted, as proto3 does) and then one bytes field of `dataLength` bytes (omitted when empty). The data itself
 * is not part of the result: the caller writes it after the header.
 */
export function protoHeader(varints: VarintFields, field: number, dataLength: number): Uint8Array {
  const present = varints.filter(([, v]) => v !== 0);
  const fields = present.reduce((n, [f, v]) => n + varintLength(f << 3) + varintLength(v), 0);
  const key = (field << 3) | 2;
  const size = fields + (dataLength > 0 ? varintLength(key) + varintLength(dataLength) : 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const [f, v] of present) at = putVarint(out, putVarint(out, at, f << 3), v);
  if (dataLength > 0) putVarint(out, putVarint(out, at, key), dataLength);
  return out;
}

/**
 * {@link protoHeader} preceded by the gRPC message prefix (uncompressed): write it, then exactly `dataLength`
 * bytes of data, and the peer receives one whole message.
 */
export function grpcHeader(varints: VarintFields, field: number, dataLength: number): Uint8Array {
  const proto = protoHeader(varints, field, dataLength);
  const out = new Uint8Array(GRPC_PREFIX_BYTES + proto.length);
  writeGrpcPrefix(out, proto.length + dataLength);
  out.set(proto, GRPC_PREFIX_BYTES);
  return out;
}

/** Writes the uncompressed gRPC prefix of a message of `length` bytes at the start of `out`. */
export function writeGrpcPrefix(out: Uint8Array, length: number): void {
  out[0] = 0;
  new DataView(out.buffer, out.byteOffset, GRPC_PREFIX_BYTES).setUint32(1, length);
}

/** A whole message (`protobuf` bytes) with its gRPC prefix, in one new buffer. */
export function grpcFrame(protobuf: Uint8Array): Uint8Array {
  const out = new Uint8Array(GRPC_PREFIX_BYTES + protobuf.length);
  writeGrpcPrefix(out, protobuf.length);
  out.set(protobuf, GRPC_PREFIX_BYTES);
  return out;
}

/** A piece of an {offset, data} message's data: `offset` is the blob offset of its first byte. */
export interface OffsetDataPart {
  offset: number;
  data: Uint8Array;
}

/** A gRPC stream that does not follow the wire format (a broken or hostile peer). */
export class WireError extends Error {
  override readonly name = 'WireError';
}

const enum State {
  Prefix,
  Key,
  Varint,
  Length,
  Data,
  Skip,
}

/**
 * Incremental decoder of a gRPC stream of `{ int64 offset = 1; bytes data = 2; }` messages (ReadBlobResponse,
 * containerd's ReadContentResponse), fed with the stream's chunks as they arrive. Data comes out as views of
 * those chunks (never copied), possibly in several parts per message; unknown fields are skipped. A message whose
 * offset comes after its data, or with two data fields, is refused rather than guessed at (no encoder writes
 * one). Compressed messages are refused: nobody asked for compression.
 */
export class OffsetDataDecoder {
  private state = State.Prefix;
  private prefix = new Uint8Array(GRPC_PREFIX_BYTES);
  private prefixFilled = 0;
  /** Bytes of the current message not consumed yet. */
  private messageLeft = 0;
  private offset = 0;
  private dataSeen = false;
  private dataAt = 0;
  private field = 0;
  /** Bytes left in the current data or skipped field. */
  private fieldLeft = 0;
  private varint = 0;
  private scale = 1;

  constructor(private readonly maxMessageBytes = 64 << 20) {}

  /** True between messages: a stream may end only here. */
  get atBoundary(): boolean {
    return this.state === State.Prefix && this.prefixFilled === 0;
  }

  /** Consumes one chunk; returns the data parts it completes (views of `chunk`). */
  push(chunk: Uint8Array): OffsetDataPart[] {
    const parts: OffsetDataPart[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.state === State.Prefix) at = this.readPrefix(chunk, at);
      else if (this.state === State.Data || this.state === State.Skip) at = this.readBody(chunk, at, parts);
      else at = this.readVarintByte(chunk, at);
      if (this.state !== State.Prefix && this.messageLeft === 0) this.endMessage();
    }
    return parts;
  }

  private readPrefix(chunk: Uint8Array, at: number): number {
    const n = Math.min(GRPC_PREFIX_BYTES - this.prefixFilled, chunk.length - at);
    this.prefix.set(chunk.subarray(at, at + n), this.prefixFilled);
    this.prefixFilled += n;
    if (this.prefixFilled < GRPC_PREFIX_BYTES) return at + n;
    if (this.prefix[0] !== 0) throw new WireError('compressed gRPC message (not negotiated)');
    const length = new DataView(this.prefix.buffer).getUint32(1);
    if (length > this.maxMessageBytes) {
      throw new WireError(`gRPC message of ${length} bytes is over the limit of ${this.maxMessageBytes}`);
    }
    this.prefixFilled = 0;
    this.messageLeft = length;
    this.offset = 0;
    this.dataSeen = false;
    // An empty message has no fields; a non-empty one starts with a key.
    this.state = length === 0 ? State.Prefix : this.startVarint(State.Key);
    return at + n;
  }

  private startVarint(state: State.Key | State.Varint | State.Length): State {
    this.varint = 0;
    this.scale = 1;
    return state;
  }

  private readVarintByte(chunk: Uint8Array, at: number): number {
    const b = chunk[at] as number;
    this.messageLeft--;
    this.varint += (b & 0x7f) * this.scale;
    this.scale *= 128;
    if (b >= 0x80) {
      if (this.scale >= 2 ** 70 || this.messageLeft === 0) throw new WireError('malformed varint');
      return at + 1;
    }
    this.varintDone();
    return at + 1;
  }

  private varintDone(): void {
    const value = this.varint;
    if (this.state === State.Key) return this.keyDone(value);
    if (this.state === State.Varint) {
      if (this.field === 1) {
        if (this.dataSeen) throw new WireError('offset after data in one message');
        this.offset = value;
      }
      this.state = this.startVarint(State.Key);
      return;
    }
    // Length of a length-delimited field.
    if (value > this.messageLeft) throw new WireError('field longer than its message');
    this.fieldLeft = value;
    if (this.field === 2) {
      if (this.dataSeen) throw new WireError('two data fields in one message');
      this.dataSeen = true;
      this.dataAt = this.offset;
    }
    if (value === 0) this.state = this.startVarint(State.Key);
    else this.state = this.field === 2 ? State.Data : State.Skip;
  }

  private keyDone(key: number): void {
    this.field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) this.state = this.startVarint(State.Varint);
    else if (wire === 2) this.state = this.startVarint(State.Length);
    else if (wire === 1 || wire === 5) {
      this.fieldLeft = wire === 1 ? 8 : 4;
      if (this.fieldLeft > this.messageLeft) throw new WireError('field longer than its message');
      this.field = 0;
      this.state = State.Skip;
    } else throw new WireError(`unsupported wire type ${wire}`);
  }

  private readBody(chunk: Uint8Array, at: number, parts: OffsetDataPart[]): number {
    const n = Math.min(this.fieldLeft, chunk.length - at);
    if (this.state === State.Data && n > 0) {
      parts.push({ offset: this.dataAt, data: chunk.subarray(at, at + n) });
      this.dataAt += n;
    }
    this.fieldLeft -= n;
    this.messageLeft -= n;
    if (this.fieldLeft === 0) this.state = this.startVarint(State.Key);
    return at + n;
  }

  private endMessage(): void {
    if (this.state !== State.Key || this.scale !== 1) throw new WireError('truncated field at message end');
    this.state = State.Prefix;
  }
}

/**
 * Splits a gRPC stream into whole messages (each copied into its own buffer, without the prefix): for the small
 * messages of a stream, such as containerd's answers to WRITE requests.
 */
export class MessageAssembler {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxMessageBytes = 4 << 20) {}

  /** True between messages. */
  get atBoundary(): boolean {
    return this.pendingBytes === 0;
  }

  /** Consumes one chunk; returns the messages it completes. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length) this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const out: Uint8Array[] = [];
    while (this.pendingBytes >= GRPC_PREFIX_BYTES) {
      const head = this.copyOut(GRPC_PREFIX_BYTES, false);
      if (head[0] !== 0) throw new WireError('compressed gRPC message (not negotiated)');
      const length = new DataView(head.buffer).getUint32(1);
      if (length > this.maxMessageBytes) {
        throw new WireError(`gRPC message of ${length} bytes is over the limit of ${this.maxMessageBytes}`);
      }
      if (this.pendingBytes < GRPC_PREFIX_BYTES + length) break;
      out.push(this.copyOut(GRPC_PREFIX_BYTES + length, true).subarray(GRPC_PREFIX_BYTES));
    }
    return out;
  }

  /** Copies the first `n` pending bytes into a new buffer, removing them from the pending ones when `consume`. */
  private copyOut(n: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    let i = 0;
    for (; filled < n; i++) {
      const p = this.pending[i] as Uint8Array;
      const take = Math.min(p.length, n - filled);
      out.set(p.subarray(0, take), filled);
      filled += take;
      if (consume && take < p.length) this.pending[i] = p.subarray(take);
      else if (consume) this.pending[i] = new Uint8Array(0);
    }
    if (consume) {
      this.pending = this.pending.filter((p) => p.length > 0);
      this.pendingBytes -= n;
    }
    return out;
  }
}
