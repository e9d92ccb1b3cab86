/**
 * Copy-light protobuf codecs for the messages that carry blob bytes ({offset, data} chunks and containerd's
 * WRITE requests). The generated codecs copy each chunk several times (growing writer, finish, Buffer.from),
 * which dominated CPU and GC in transfers; these write the header and copy the data once, and decode the data as
 * a view. Pure (Uint8Array only). MAINTENANCE: field numbers must match the .proto files; the round-trip tests in
 * common/wire.test.ts compare every codec with the generated one.
 */

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

/**
 * Encodes non-negative varint fields (zero values omitted, as proto3 does) followed by one bytes field, in a
 * single allocation. Only for non-negative safe integers.
 */
export function encodeVarintsAndBytes(
  varints: Array<[field: number, value: number]>,
  field: number,
  data: Uint8Array,
): Uint8Array {
  const present = varints.filter(([, v]) => v !== 0);
  const header = present.reduce((n, [f, v]) => n + varintLength(f << 3) + varintLength(v), 0);
  const withData = data.length > 0;
  const size =
    header + (withData ? varintLength((field << 3) | 2) + varintLength(data.length) + data.length : 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const [f, v] of present) at = putVarint(out, putVarint(out, at, f << 3), v);
  if (withData) {
    at = putVarint(out, putVarint(out, at, (field << 3) | 2), data.length);
    out.set(data, at);
  }
  return out;
}

function readVarint(buf: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = buf[at++];
    if (b === undefined) throw new RangeError('truncated varint');
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, at];
    scale *= 128;
  }
}

/** Skips a field of wire type `wire` starting at `at` (its value, not its key). */
function skip(buf: Uint8Array, at: number, wire: number): number {
  if (wire === 0) return readVarint(buf, at)[1];
  if (wire === 1) return at + 8;
  if (wire === 5) return at + 4;
  if (wire === 2) {
    const [len, next] = readVarint(buf, at);
    return next + len;
  }
  throw new RangeError(`unsupported wire type ${wire}`);
}

/** Decodes `{ int64 offset = 1; bytes data = 2; }` (ReadBlobResponse, containerd's ReadContentResponse). */
export function decodeOffsetData(buf: Uint8Array): { offset: number; data: Uint8Array } {
  let offset = 0;
  let data: Uint8Array = new Uint8Array(0);
  for (let at = 0; at < buf.length;) {
    const [key, next] = readVarint(buf, at);
    at = next;
    if (key === 0x08) [offset, at] = readVarint(buf, at);
    else if (key === 0x12) {
      const [len, start] = readVarint(buf, at);
      data = buf.subarray(start, start + len);
      at = start + len;
    } else at = skip(buf, at, key & 7);
  }
  return { offset, data };
}
