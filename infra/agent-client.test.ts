import { getEventListeners } from 'node:events';
import {
  Server,
  ServerCredentials,
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { AgentService, HasImageResponse } from '../proto/gen/tote/v1/agent.js';
import { AgentClient } from './agent-client.js';

// A bare grpc-js server with the Agent service: HasImage answers, ListImages refuses as busy (what a source at its
// export cap does), ResolveTag never answers (so a call can be cancelled while in flight).
let server: Server;
let client: AgentClient;
const hanging: sendUnaryData<unknown>[] = [];

beforeAll(async () => {
  server = new Server();
  const impl: UntypedServiceImplementation = {
    hasImage: (_call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) =>
      cb(null, HasImageResponse.fromPartial({ present: true, complete: true, size: '1' })),
    listImages: (_call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) =>
      cb({ code: status.RESOURCE_EXHAUSTED, details: 'busy' }),
    resolveTag: (_call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => hanging.push(cb),
  };
  server.addService(AgentService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  client = new AgentClient({ address: `127.0.0.1:${port}`, insecure: true, deadlineMs: 5000 });
});

afterAll(async () => {
  client.close();
  for (const cb of hanging) cb({ code: status.UNAVAILABLE, details: 'server stopping' });
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
});

const abortListeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

test('unary calls remove their abort listener when they answer or fail (one signal, many calls)', async () => {
  const ctl = new AbortController();
  for (let i = 0; i < 25; i++) {
    await expect(client.hasImage('sha256:x', { signal: ctl.signal })).resolves.toMatchObject({
      present: true,
    });
    await expect(client.listImages({ signal: ctl.signal })).rejects.toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
    });
  }
  expect(abortListeners(ctl.signal)).toBe(0);
});

test('an abort cancels the call in flight, and its listener is gone afterwards', async () => {
  const ctl = new AbortController();
  const call = client.resolveTag('docker.io/library/app:1', { signal: ctl.signal });
  expect(abortListeners(ctl.signal)).toBe(1);
  ctl.abort();
  await expect(call).rejects.toMatchObject({ code: status.CANCELLED });
  expect(abortListeners(ctl.signal)).toBe(0);
});

test('a signal already aborted cancels the call at once without adding a listener', async () => {
  const ctl = new AbortController();
  ctl.abort();
  await expect(client.resolveTag('docker.io/library/app:1', { signal: ctl.signal })).rejects.toMatchObject({
    code: status.CANCELLED,
  });
  expect(abortListeners(ctl.signal)).toBe(0);
});
