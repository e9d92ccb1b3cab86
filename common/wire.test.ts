import fc from 'fast-check';
import {
  ReadContentResponse,
  WriteContentRequest,
} from '../proto/gen/containerd/services/content/v1/content.js';
import { ReadBlobResponse } from '../proto/gen/tote/v1/agent.js';
import {
  grpcFrame,
  grpcHeader,
  MessageAssembler,
  OffsetDataDecoder,
  protoHeader,
  WireError,
  type OffsetDataPart,
} from './wire.js';

const offsets = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 31 }), fc.maxSafeNat());
const bytes = fc.uint8Array({ maxLength: 600 });

/** Splits `buf` at the given cut points (any order, duplicates allowed). */
function split(buf: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let last = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(last, p));
    last = p;
  }
  return out;
}

function concat(parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p)));
}

function blobMessage(offset: number, data: Uint8Array): Uint8Array {
  return ReadBlobResponse.encode({ offset: String(offset), data: Buffer.from(data) }).finish();
}

test('protoHeader + data is exactly what the generated ReadBlobResponse codec writes', () => {
  fc.assert(
    fc.property(offsets, bytes, (offset, data) => {
      const ours = Buffer.concat([protoHeader([[1, offset]], 2, data.length), data]);
      expect(ours.equals(Buffer.from(blobMessage(offset, data)))).toBe(true);
    }),
  );
});

test("protoHeader + data is containerd's WRITE request as the generated codec writes it", () => {
  fc.assert(
    fc.property(offsets, offsets, bytes, (total, offset, data) => {
      const fields: Array<[number, number]> = [
        [1, 1],
        [3, total],
        [5, offset],
      ];
      const ours = concat([protoHeader(fields, 6, data.length), data]);
      const req = WriteContentRequest.fromPartial({
        action: 1,
        total: String(total),
        offset: String(offset),
        data: Buffer.from(data),
      });
      expect(ours.equals(Buffer.from(WriteContentRequest.encode(req).finish()))).toBe(true);
      const framed = concat([grpcHeader(fields, 6, data.length), data]);
      expect(framed.equals(Buffer.from(grpcFrame(ours)))).toBe(true);
      expect(framed.readUInt32BE(1)).toBe(ours.length);
    }),
  );
});

describe('OffsetDataDecoder', () => {
  const messages = fc.array(fc.tuple(offsets, bytes), { maxLength: 6 });
  const unknown = Uint8Array.from([0x1a, 0x02, 0x61, 0x62, 0x20, 0x05, 0x29, 1, 2, 3, 4, 5, 6, 7, 8]);

  function decodeAll(stream: Uint8Array, cuts: number[]): { parts: OffsetDataPart[]; end: boolean } {
    const d = new OffsetDataDecoder();
    const parts = split(stream, cuts).flatMap((c) => d.push(c));
    return { parts, end: d.atBoundary };
  }

  test('returns the data of every message as views, in order, with absolute offsets, however split', () => {
    fc.assert(
      fc.property(messages, fc.array(fc.nat()), fc.boolean(), (msgs, cuts, extra) => {
        const stream = concat(
          msgs.map(([o, d]) => grpcFrame(concat([blobMessage(o, d), extra ? unknown : new Uint8Array(0)]))),
        );
        const { parts, end } = decodeAll(stream, cuts);
        expect(end).toBe(true);
        for (const [offset, data] of msgs) {
          let got = 0;
          while (got < data.length) {
            const p = parts.shift();
            if (!p) throw new Error('missing part');
            expect(p.offset).toBe(offset + got);
            expect(p.data.buffer).toBe(stream.buffer); // a view, not a copy
            expect(Buffer.from(p.data).equals(Buffer.from(data.subarray(got, got + p.data.length)))).toBe(
              true,
            );
            got += p.data.length;
          }
        }
        expect(parts).toEqual([]);
      }),
    );
  });

  test('reads containerd ReadContentResponse messages', () => {
    const m = ReadContentResponse.encode({ offset: '42', data: Buffer.from('hello') }).finish();
    const [p] = new OffsetDataDecoder().push(grpcFrame(m));
    expect(p?.offset).toBe(42);
    expect(Buffer.from(p?.data ?? []).toString()).toBe('hello');
  });

  test('is not at a boundary in the middle of a message', () => {
    const frame = grpcFrame(blobMessage(5, Uint8Array.from([1, 2, 3])));
    for (let cut = 1; cut < frame.length; cut++) {
      const d = new OffsetDataDecoder();
      d.push(frame.subarray(0, cut));
      expect(d.atBoundary).toBe(false);
    }
  });

  test.each([
    ['compressed', Uint8Array.from([1, 0, 0, 0, 0])],
    ['offset after data', grpcFrame(Uint8Array.from([0x12, 1, 7, 0x08, 3]))],
    ['two data fields', grpcFrame(Uint8Array.from([0x12, 1, 7, 0x12, 1, 8]))],
    ['field longer than its message', grpcFrame(Uint8Array.from([0x12, 5, 7]))],
    ['truncated varint', grpcFrame(Uint8Array.from([0x08, 0x80]))],
    ['key without value', grpcFrame(Uint8Array.from([0x08]))],
    ['group wire type', grpcFrame(Uint8Array.from([0x0b]))],
    ['over the size limit', Uint8Array.from([0, 0x7f, 0, 0, 0])],
  ])('refuses a stream with %s', (_what, stream) => {
    expect(() => new OffsetDataDecoder().push(stream)).toThrow(WireError);
  });
});

test('MessageAssembler returns whole messages however the stream is split', () => {
  fc.assert(
    fc.property(fc.array(bytes, { maxLength: 6 }), fc.array(fc.nat()), (msgs, cuts) => {
      const stream = concat(msgs.map((m) => grpcFrame(m)));
      const a = new MessageAssembler();
      const got = split(stream, cuts).flatMap((c) => a.push(c));
      expect(got.map((m) => Buffer.from(m).toString('hex'))).toEqual(
        msgs.map((m) => Buffer.from(m).toString('hex')),
      );
      expect(a.atBoundary).toBe(true);
    }),
  );
  expect(() => new MessageAssembler(10).push(Uint8Array.from([0, 0, 0, 0, 11]))).toThrow(WireError);
  expect(() => new MessageAssembler().push(Uint8Array.from([1, 0, 0, 0, 0]))).toThrow(WireError);
});
