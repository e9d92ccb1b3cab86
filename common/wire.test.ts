import fc from 'fast-check';
import {
  ReadContentResponse,
  WriteContentRequest,
} from '../proto/gen/containerd/services/content/v1/content.js';
import { ReadBlobResponse } from '../proto/gen/tote/v1/agent.js';
import { decodeOffsetData, encodeVarintsAndBytes } from './wire.js';

const offsets = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2 ** 31 }), fc.maxSafeNat());
const bytes = fc.uint8Array({ maxLength: 600 });

test('encodeVarintsAndBytes writes exactly what the generated ReadBlobResponse codec writes', () => {
  fc.assert(
    fc.property(offsets, bytes, (offset, data) => {
      const ours = encodeVarintsAndBytes([[1, offset]], 2, data);
      const generated = ReadBlobResponse.encode({ offset: String(offset), data: Buffer.from(data) }).finish();
      expect(Buffer.from(ours).equals(Buffer.from(generated))).toBe(true);
    }),
  );
});

test("encodeVarintsAndBytes writes containerd's WRITE requests as the generated codec does", () => {
  fc.assert(
    fc.property(offsets, offsets, bytes, (total, offset, data) => {
      const ours = encodeVarintsAndBytes(
        [
          [1, 1],
          [3, total],
          [5, offset],
        ],
        6,
        data,
      );
      const req = WriteContentRequest.fromPartial({
        action: 1,
        total: String(total),
        offset: String(offset),
        data: Buffer.from(data),
      });
      expect(Buffer.from(ours).equals(Buffer.from(WriteContentRequest.encode(req).finish()))).toBe(true);
    }),
  );
});

test('decodeOffsetData reads what the generated codecs write, skipping unknown fields', () => {
  fc.assert(
    fc.property(offsets, bytes, (offset, data) => {
      const encoded = ReadContentResponse.encode({
        offset: String(offset),
        data: Buffer.from(data),
      }).finish();
      const unknown = Uint8Array.from([0x1a, 0x02, 0x61, 0x62, 0x20, 0x05]); // field 3 bytes "ab", field 4 varint 5
      const d = decodeOffsetData(Uint8Array.from([...encoded, ...unknown]));
      expect(d.offset).toBe(offset);
      expect(Buffer.from(d.data).equals(Buffer.from(data))).toBe(true);
    }),
  );
  expect(() => decodeOffsetData(Uint8Array.from([0x08, 0x80]))).toThrow(RangeError);
});
