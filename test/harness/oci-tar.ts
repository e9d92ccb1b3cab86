import { createReadStream, statSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { once } from 'node:events';

/** Size of a tar block; headers and file data are padded to it. */
export const TAR_BLOCK = 512;

/** Header fields of one regular-file tar entry. */
export interface TarEntry {
  /** Path inside the archive, at most 100 bytes (no ustar prefix support: our names are short). */
  name: string;
  size: number;
  mode?: number;
}

function putString(buf: Buffer, offset: number, len: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > len) throw new Error(`tar field too long: ${value}`);
  bytes.copy(buf, offset);
}

function putOctal(buf: Buffer, offset: number, len: number, value: number): void {
  // len-1 octal digits followed by NUL, zero padded (plain POSIX ustar; 11 digits hold sizes up to 8 GiB).
  putString(buf, offset, len, value.toString(8).padStart(len - 1, '0') + '\0');
}

/**
 * A ustar header for a regular file. Timestamps, owners and names are fixed so the same content always gives
 * the same bytes (and therefore the same layer digest).
 */
export function tarHeader(entry: TarEntry): Buffer {
  const h = Buffer.alloc(TAR_BLOCK);
  putString(h, 0, 100, entry.name);
  putOctal(h, 100, 8, entry.mode ?? 0o644);
  putOctal(h, 108, 8, 0); // uid
  putOctal(h, 116, 8, 0); // gid
  putOctal(h, 124, 12, entry.size);
  putOctal(h, 136, 12, 0); // mtime: epoch, for reproducible digests
  h.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  h[156] = 0x30; // typeflag '0': regular file
  putString(h, 257, 6, 'ustar\0');
  putString(h, 263, 2, '00');
  putString(h, 265, 32, 'root');
  putString(h, 297, 32, 'root');
  let sum = 0;
  for (const b of h) sum += b;
  putString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** Zero bytes that pad `size` bytes of file data up to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % TAR_BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : TAR_BLOCK - rest);
}

/** The two zero blocks that end an archive. */
export function tarTrailer(): Buffer {
  return Buffer.alloc(2 * TAR_BLOCK);
}

/** One member of {@link writeTarFile}: in-memory data or a file streamed from disk. */
export type TarSource = { name: string; data: Buffer } | { name: string; file: string };

/**
 * Writes a tar archive to `out` (a file or a child's stdin) and ends it. File members are streamed, so big blobs
 * are never held in memory; back-pressure is respected.
 */
export async function writeTar(out: Writable, members: TarSource[]): Promise<void> {
  const write = async (chunk: Buffer): Promise<void> => {
    if (!out.write(chunk)) await once(out, 'drain');
  };
  for (const m of members) {
    const size = 'data' in m ? m.data.length : statSync(m.file).size;
    await write(tarHeader({ name: m.name, size }));
    if ('data' in m) await write(m.data);
    else for await (const chunk of createReadStream(m.file)) await write(chunk as Buffer);
    await write(tarPadding(size));
  }
  await write(tarTrailer());
  out.end();
}
