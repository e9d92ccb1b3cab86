import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status,
  type Client,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { grpcFrame, protoHeader } from '../common/wire.js';
import {
  AgentService,
  HasImageRequest,
  HasImageResponse,
  ReadBlobRequest,
  ReadBlobResponse,
} from '../proto/gen/tote/v1/agent.js';
import { H2Connection, readOffsetData } from './grpc-h2.js';
import {
  EncodedMessage,
  encodeGrpcMessage,
  GrpcH2Server,
  parseGrpcTimeout,
  type RpcContext,
  type StreamMethod,
  type UnaryMethod,
} from './grpc-h2-server.js';

const seen: { ctx?: RpcContext; aborted: number } = { aborted: 0 };
let streamItems: (signal: AbortSignal) => AsyncIterable<ReadBlobResponse | EncodedMessage>;
let server: GrpcH2Server;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Call = (...args: any[]) => any;
let client: Client & { hasImage: Call; readBlob: Call; listImages: Call };

const hasImage: UnaryMethod<HasImageRequest, HasImageResponse> = {
  kind: 'unary',
  path: AgentService.hasImage.path,
  decode: (b) => HasImageRequest.decode(b),
  encode: (r) => HasImageResponse.encode(r).finish(),
  async handle(req, ctx) {
    seen.ctx = ctx;
    if (req.digest === 'missing')
      throw Object.assign(new Error('no such image: ünïcode 100% '), { code: status.NOT_FOUND });
    if (req.digest === 'crash') throw new Error('boom');
    if (req.digest === 'slow') {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
      seen.aborted++;
    }
    return HasImageResponse.fromPartial({
      present: true,
      complete: req.digest === 'whole',
      activeExports: 2,
      maxExports: 3,
    });
  },
};

const readBlob: StreamMethod<ReadBlobRequest, ReadBlobResponse> = {
  kind: 'stream',
  path: AgentService.readBlob.path,
  decode: (b) => ReadBlobRequest.decode(b),
  encode: (r) => ReadBlobResponse.encode(r).finish(),
  handle: (_req, ctx) => streamItems(ctx.signal),
};

beforeAll(async () => {
  server = await GrpcH2Server.listen({ host: '127.0.0.1', port: 0, maxReceiveBytes: 4096 }, [
    hasImage,
    readBlob,
  ]);
  const Ctor = makeGenericClientConstructor(AgentService, 'Agent');
  client = new Ctor(`127.0.0.1:${server.port}`, credentials.createInsecure()) as unknown as typeof client;
});

afterAll(async () => {
  client.close();
  await server.stop(100);
});

function unary(req: Partial<HasImageRequest>, deadlineMs = 5000): Promise<HasImageResponse> {
  return new Promise((resolve, reject) =>
    client.hasImage(
      HasImageRequest.fromPartial(req),
      new Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err: ServiceError | null, res: HasImageResponse) => (err ? reject(err) : resolve(res)),
    ),
  );
}

async function collect(call: ClientReadableStream<ReadBlobResponse>): Promise<ReadBlobResponse[]> {
  const out: ReadBlobResponse[] = [];
  for await (const m of call as AsyncIterable<ReadBlobResponse>) out.push(m);
  return out;
}

function readStream(): ClientReadableStream<ReadBlobResponse> {
  return client.readBlob(
    ReadBlobRequest.fromPartial({ digest: 'd' }),
  ) as ClientReadableStream<ReadBlobResponse>;
}

async function rejection(p: Promise<unknown>): Promise<ServiceError> {
  return (await p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  )) as ServiceError;
}

/** An encoded {offset, data} message whose data is given in several pieces. */
function encoded(offset: number, ...pieces: Buffer[]): EncodedMessage {
  const len = pieces.reduce((n, p) => n + p.length, 0);
  return new EncodedMessage([protoHeader([[1, offset]], 2, len), ...pieces]);
}

test('a unary call from a grpc-js client gets its answer, with the metadata and no peer certificate', async () => {
  const res = await unary({ digest: 'whole' });
  expect(res).toMatchObject({ present: true, complete: true, activeExports: 2, maxExports: 3 });
  expect(seen.ctx?.peerCN).toBeUndefined();
  expect(seen.ctx?.metadata['content-type']).toBe('application/grpc');
});

test('a handler failure becomes its gRPC status and message; anything else is INTERNAL', async () => {
  const err = await rejection(unary({ digest: 'missing' }));
  expect(err.code).toBe(status.NOT_FOUND);
  expect(err.details).toBe('no such image: ünïcode 100%');
  expect((await rejection(unary({ digest: 'crash' }))).code).toBe(status.INTERNAL);
});

test('an unknown method is UNIMPLEMENTED and the server keeps serving', async () => {
  const err = await rejection(
    new Promise((resolve, reject) =>
      client.listImages({}, (e: ServiceError | null, r: unknown) => (e ? reject(e) : resolve(r))),
    ),
  );
  expect(err.code).toBe(status.UNIMPLEMENTED);
  expect((await unary({ digest: 'whole' })).present).toBe(true);
});

test('a request over the size limit is RESOURCE_EXHAUSTED', async () => {
  const err = await rejection(unary({ digest: 'x'.repeat(8192) }));
  expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
  expect(err.details).toMatch(/larger than max/);
});

test("the client's deadline aborts the handler and ends the call DEADLINE_EXCEEDED", async () => {
  const before = seen.aborted;
  const err = await rejection(unary({ digest: 'slow' }, 200));
  expect(err.code).toBe(status.DEADLINE_EXCEEDED);
  await new Promise((r) => setTimeout(r, 50));
  expect(seen.aborted).toBe(before + 1);
});

test('a stream sends generated and already encoded messages, in order, then OK', async () => {
  streamItems = async function* () {
    yield { offset: '0', data: Buffer.from('ab') };
    yield encoded(2, Buffer.from('cd'), Buffer.from('efg'));
    yield encoded(7, Buffer.alloc(300_000, 7));
  };
  const got = await collect(readStream());
  expect(got.map((m) => [m.offset, m.data.length])).toEqual([
    ['0', 2],
    ['2', 5],
    ['7', 300_000],
  ]);
  expect(Buffer.from(got[1]?.data ?? []).toString()).toBe('cdefg');
});

test('a failure after some messages arrives as the status after them', async () => {
  streamItems = async function* () {
    yield { offset: '0', data: Buffer.from('ab') };
    throw Object.assign(new Error('source gone'), { code: status.UNAVAILABLE });
  };
  const call = readStream();
  const got: ReadBlobResponse[] = [];
  const err = await rejection(
    (async () => {
      for await (const m of call as AsyncIterable<ReadBlobResponse>) got.push(m);
    })(),
  );
  expect(got).toHaveLength(1);
  expect(err.code).toBe(status.UNAVAILABLE);
  expect(err.details).toBe('source gone');
});

test('a caller that cancels aborts the stream handler', async () => {
  let aborted!: () => void;
  const wasAborted = new Promise<void>((r) => (aborted = r));
  streamItems = async function* (signal) {
    signal.addEventListener('abort', () => aborted(), { once: true });
    for (let i = 0; !signal.aborted; i++) {
      yield { offset: String(i), data: Buffer.alloc(64 << 10) };
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const call = readStream();
  call.on('error', () => undefined); // CANCELLED, as asked
  await new Promise((resolve) => call.once('data', resolve));
  call.cancel();
  await wasAborted;
});

test('a stream read with the copy-free client (node:http2) gets every byte with its offset', async () => {
  const big = Buffer.alloc(3 << 20);
  for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
  streamItems = async function* () {
    for (let at = 0; at < big.length; at += 1 << 20)
      yield encoded(at, big.subarray(at, at + (1 << 19)), big.subarray(at + (1 << 19), at + (1 << 20)));
  };
  const conn = new H2Connection({ kind: 'tcp', address: `127.0.0.1:${server.port}` });
  try {
    const call = conn.start({ path: AgentService.readBlob.path });
    call.stream.end(
      grpcFrame(ReadBlobRequest.encode({ token: 't', digest: 'd', offset: '0', node: 'n' }).finish()),
    );
    const parts: Buffer[] = [];
    let next = 0;
    for await (const p of readOffsetData(call)) {
      expect(p.offset).toBe(next);
      next += p.data.length;
      parts.push(Buffer.from(p.data));
    }
    expect(Buffer.concat(parts).equals(big)).toBe(true);
  } finally {
    conn.close();
  }
});

test('grpc-timeout and grpc-message helpers follow the protocol', () => {
  expect(parseGrpcTimeout('100m')).toBe(100);
  expect(parseGrpcTimeout('2S')).toBe(2000);
  expect(parseGrpcTimeout('1H')).toBe(3_600_000);
  expect(parseGrpcTimeout('5x')).toBeUndefined();
  expect(parseGrpcTimeout(undefined)).toBeUndefined();
  expect(encodeGrpcMessage('50% ok\n')).toBe('50%25 ok%0A');
  expect(decodeURIComponent(encodeGrpcMessage('ünï'))).toBe('ünï');
});
