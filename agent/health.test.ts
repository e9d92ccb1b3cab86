import { credentials, makeGenericClientConstructor, Metadata, type Client } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { startHealthServer, type HealthServer } from './health.js';

let ready = true;
let server: HealthServer;
beforeAll(async () => {
  server = await startHealthServer({ host: '127.0.0.1', port: 0, ready: async () => ready });
});
afterAll(async () => {
  await server.stop();
});

type HealthClient = Client & {
  check(
    req: { service: string },
    md: Metadata,
    cb: (err: Error | null, res: { status: string | number }) => void,
  ): void;
};

async function grpcCheck(): Promise<string | number> {
  const Ctor = makeGenericClientConstructor(healthService as never, 'Health');
  const client = new Ctor(
    `127.0.0.1:${server.port}`,
    credentials.createInsecure(),
  ) as unknown as HealthClient;
  try {
    return await new Promise((resolve, reject) =>
      client.check({ service: '' }, new Metadata(), (err, res) => (err ? reject(err) : resolve(res.status))),
    );
  } finally {
    client.close();
  }
}

test('one plaintext port answers kubelet HTTP probes and the gRPC health service', async () => {
  expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
  expect((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status).toBe(200);
  expect(await grpcCheck()).toBe('SERVING');
  expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
});

test('when containerd is unreachable, readiness fails and the gRPC status turns NOT_SERVING', async () => {
  ready = false;
  expect((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status).toBe(503);
  expect(await grpcCheck()).toBe('NOT_SERVING');
  ready = true;
  expect((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status).toBe(200);
});
