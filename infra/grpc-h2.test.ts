import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import {
  Server,
  ServerCredentials,
  status,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { grpcFrame } from '../common/wire.js';
import { AgentService, ReadBlobRequest, type ReadBlobResponse } from '../proto/gen/tote/v1/agent.js';
import { GrpcError, H2Connection, readOffsetData } from './grpc-h2.js';

type Handler = (call: ServerWritableStream<ReadBlobRequest, ReadBlobResponse>) => void;
let handler: Handler;
let server: Server;
let address: string;
let cancelled = 0;

beforeAll(async () => {
  server = new Server();
  server.addService(AgentService, {
    readBlob: (call: ServerWritableStream<ReadBlobRequest, ReadBlobResponse>) => {
      call.on('cancelled', () => cancelled++);
      handler(call);
    },
  } as UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  address = `127.0.0.1:${port}`;
});

afterAll(() => server.forceShutdown());

function chunks(n: number, size: number): ReadBlobResponse[] {
  return Array.from({ length: n }, (_, i) => ({
    offset: String(i * size),
    data: Buffer.alloc(size, i + 1),
  }));
}

async function read(conn: H2Connection, opts: { signal?: AbortSignal; deadlineMs?: number } = {}) {
  const call = conn.start({ path: '/tote.v1.Agent/ReadBlob', ...opts });
  call.stream.end(
    grpcFrame(ReadBlobRequest.encode({ token: 't', digest: 'd', offset: '0', node: 'n' }).finish()),
  );
  const parts: Array<{ offset: number; data: Buffer }> = [];
  for await (const p of readOffsetData(call)) parts.push({ offset: p.offset, data: Buffer.from(p.data) });
  return parts;
}

async function failure(p: Promise<unknown>): Promise<GrpcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GrpcError);
  return err as GrpcError;
}

test('reads a server stream as parts with absolute offsets, and the request reaches the server', async () => {
  let got: ReadBlobRequest | undefined;
  handler = (call) => {
    got = call.request;
    for (const c of chunks(5, 100_000)) call.write(c);
    call.end();
  };
  const conn = new H2Connection({ kind: 'tcp', address });
  const parts = await read(conn);
  conn.close();
  expect(got).toEqual({ token: 't', digest: 'd', offset: '0', node: 'n' });
  const all = Buffer.concat(parts.map((p) => p.data));
  expect(all.equals(Buffer.concat(chunks(5, 100_000).map((c) => c.data)))).toBe(true);
  let at = 0;
  for (const p of parts) {
    expect(p.offset).toBe(at);
    at += p.data.length;
  }
});

test("a server's error status after some data is thrown with its code and message", async () => {
  handler = (call) => {
    call.write(chunks(1, 10)[0] as ReadBlobResponse);
    call.emit('error', { code: status.PERMISSION_DENIED, details: 'token is not valid for this blob' });
  };
  const conn = new H2Connection({ kind: 'tcp', address });
  const err = await failure(read(conn));
  conn.close();
  expect(err.code).toBe(status.PERMISSION_DENIED);
  expect(err.details).toBe('token is not valid for this blob');
});

test('an error before any data (trailers only) is thrown too', async () => {
  handler = (call) => call.emit('error', { code: status.NOT_FOUND, details: 'no blob sha256:x here' });
  const conn = new H2Connection({ kind: 'tcp', address });
  const err = await failure(read(conn));
  conn.close();
  expect([err.code, err.details]).toEqual([status.NOT_FOUND, 'no blob sha256:x here']);
});

test('an abort signal cancels the call on both sides; a deadline ends it DEADLINE_EXCEEDED', async () => {
  handler = (call) => call.write(chunks(1, 10)[0] as ReadBlobResponse); // then never ends
  const conn = new H2Connection({ kind: 'tcp', address });
  const ac = new AbortController();
  const before = cancelled;
  setTimeout(() => ac.abort(), 200);
  expect((await failure(read(conn, { signal: ac.signal }))).code).toBe(status.CANCELLED);
  expect((await failure(read(conn, { deadlineMs: 300 }))).code).toBe(status.DEADLINE_EXCEEDED);
  await new Promise((r) => setTimeout(r, 100));
  expect(cancelled - before).toBe(2);
  conn.close();
});

test('leaving the loop early cancels the server stream', async () => {
  handler = (call) => {
    call.write(chunks(1, 10)[0] as ReadBlobResponse);
  };
  const conn = new H2Connection({ kind: 'tcp', address });
  const before = cancelled;
  const call = conn.start({ path: '/tote.v1.Agent/ReadBlob' });
  call.stream.end(
    grpcFrame(ReadBlobRequest.encode({ token: '', digest: '', offset: '0', node: '' }).finish()),
  );
  for await (const _ of readOffsetData(call)) break;
  await new Promise((r) => setTimeout(r, 100));
  expect(cancelled - before).toBe(1);
  conn.close();
});

test('a peer that is not there is UNAVAILABLE', async () => {
  const refused = new H2Connection({ kind: 'tcp', address: '127.0.0.1:1' });
  expect((await failure(read(refused))).code).toBe(status.UNAVAILABLE);
  refused.close();
  const missing = new H2Connection({ kind: 'unix', path: '/nonexistent/tote.sock' });
  const err = await failure(read(missing));
  expect([err.code, err.details]).toEqual([status.UNAVAILABLE, expect.stringContaining('ENOENT')]);
  missing.close();
});

test('a broken connection is made again for the next call', async () => {
  handler = (call) => {
    call.write(chunks(1, 10)[0] as ReadBlobResponse);
    call.end();
  };
  const conn = new H2Connection({ kind: 'tcp', address });
  expect(await read(conn)).toHaveLength(1);
  conn.session().destroy();
  expect(await read(conn)).toHaveLength(1);
  conn.close();
  await expect(read(conn)).rejects.toMatchObject({ code: status.CANCELLED });
});

test('bytes that are not gRPC, or an HTTP error, are reported as such', async () => {
  const replies: Array<(s: http2.ServerHttp2Stream) => void> = [
    (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(Buffer.from([1, 0, 0, 0, 1, 0])); // a compressed message nobody negotiated
    },
    (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(Buffer.from([0, 0, 0, 0, 9, 0x12])); // ends inside a message
    },
    (s) => s.respond({ ':status': 403 }, { endStream: true }),
  ];
  const raw = http2.createServer();
  raw.on('stream', (s) => {
    s.resume();
    replies.shift()?.(s);
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const conn = new H2Connection({ kind: 'tcp', address: `127.0.0.1:${(raw.address() as AddressInfo).port}` });
  const codes = [];
  for (let i = 0; i < 3; i++) codes.push((await failure(read(conn))).code);
  conn.close();
  raw.close();
  expect(codes).toEqual([status.INTERNAL, status.INTERNAL, status.PERMISSION_DENIED]);
});
