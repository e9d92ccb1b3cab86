import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  agentsFromNodes,
  agentsFromPods,
  agentsSummary,
  checkAgent,
  checkHealthUrl,
  fetchProbe,
  type AgentCheckDeps,
  type Probe,
} from './doctor-agents.js';
import type { KubeReader } from './doctor-kube.js';

function reader(routes: Record<string, unknown>): KubeReader & { queries: unknown[] } {
  const queries: unknown[] = [];
  return {
    queries,
    server: 'x',
    get: async <T>(path: string, query?: unknown): Promise<T | null> => {
      queries.push(query);
      return (routes[path] ?? null) as T | null;
    },
    post: async () => Promise.reject(new Error('no')),
  };
}

const node = (name: string, ip?: string): object => ({
  metadata: { name },
  status: { addresses: ip ? [{ type: 'InternalIP', address: ip }] : [] },
});

function deps(over: Partial<AgentCheckDeps> = {}): AgentCheckDeps {
  return { dial: async () => 3, health: new Map(), plaintext: false, hint: (n) => `look at ${n}`, ...over };
}

test('agentsFromNodes should give one target per node, with its health URL', async () => {
  const kube = reader({ '/api/v1/nodes': { items: [node('n1', '10.0.0.1'), node('n2')] } });
  expect(
    await agentsFromNodes(kube, { endpoint: '{nodeIP}:9443', health: 'http://{nodeIP}:8081/readyz' }),
  ).toEqual([
    { node: 'n1', address: '10.0.0.1:9443', healthUrl: 'http://10.0.0.1:8081/readyz' },
    { node: 'n2', problem: 'the node reports no InternalIP for {nodeIP}' },
  ]);
});

test('agentsFromPods should list the selected pods with their readiness', async () => {
  const pod = (nodeName: string, podIP: string | undefined, ready: string): object => ({
    spec: { nodeName },
    status: { podIP, conditions: [{ type: 'Ready', status: ready }] },
  });
  const kube = reader({
    '/api/v1/namespaces/tote/pods': {
      items: [pod('n1', '10.1.0.5', 'True'), pod('n2', 'fd00::5', 'False'), pod('n3', undefined, 'False')],
    },
  });
  const targets = await agentsFromPods(kube, { namespace: 'tote', selector: 'app=agent', port: 9443 });
  expect(kube.queries).toEqual([{ labelSelector: 'app=agent' }]);
  expect(targets).toEqual([
    { node: 'n1', podReady: true, address: '10.1.0.5:9443' },
    { node: 'n2', podReady: false, address: '[fd00::5]:9443' },
    { node: 'n3', podReady: false, problem: 'the agent pod has no IP yet' },
  ]);
});

describe('agent/<node>', () => {
  const target = { node: 'n1', address: '10.0.0.1:9443', healthUrl: 'http://10.0.0.1:8081/readyz' };

  test('given an agent answering over mTLS, should pass with its image count', async () => {
    expect(await checkAgent(target, deps())).toMatchObject({
      name: 'agent/n1',
      status: 'pass',
      detail: '10.0.0.1:9443: mTLS ok, 3 images',
    });
  });

  test('given a refused connection, should fail with the reason, its health and the hint', async () => {
    const down = new Map<string, Probe>([['n1', { ok: false, status: 'ECONNREFUSED' }]]);
    const err = Object.assign(new Error('14 UNAVAILABLE: No connection established. Resolution note: '), {
      code: 14,
    });
    const r = await checkAgent(target, deps({ dial: () => Promise.reject(err), health: down }));
    expect(r).toMatchObject({
      ok: false,
      detail: '10.0.0.1:9443: 14 UNAVAILABLE: No connection established. (health ECONNREFUSED)',
      hint: 'look at n1',
    });
  });

  test('given a TLS failure, the hint should explain the certificates', async () => {
    const err = new Error('14 UNAVAILABLE: certificate verify failed');
    const r = await checkAgent(target, deps({ dial: () => Promise.reject(err) }));
    expect(r.hint).toContain("signed by the agents' CA");
  });

  test('given an agent that answers but is not ready, should fail', async () => {
    expect((await checkAgent({ ...target, podReady: false }, deps())).detail).toContain('pod is not Ready');
    const notReady = new Map<string, Probe>([['n1', { ok: false, status: 'HTTP 503' }]]);
    expect((await checkAgent(target, deps({ health: notReady }))).detail).toContain('says HTTP 503');
  });

  test('given plaintext agents, should warn to turn mTLS on', async () => {
    expect(await checkAgent(target, deps({ plaintext: true }))).toMatchObject({
      status: 'warn',
      hint: expect.stringContaining('tls.enabled=true'),
    });
  });

  test('given no address, should fail with the problem', async () => {
    expect(await checkAgent({ node: 'n2', problem: 'no IP' }, deps())).toMatchObject({
      ok: false,
      detail: 'no IP',
    });
  });
});

test('agentsSummary should count ready agents and name the ones that are not', () => {
  const targets = [{ node: 'n1' }, { node: 'n2' }];
  expect(agentsSummary([], new Map()).ok).toBe(false);
  expect(agentsSummary(targets, new Map()).detail).toBe('2 nodes, agents at --agent-endpoint-template');
  const health = new Map<string, Probe>([
    ['n1', { ok: true, status: 'HTTP 200' }],
    ['n2', { ok: false, status: 'ECONNREFUSED' }],
  ]);
  expect(agentsSummary(targets, health)).toMatchObject({
    ok: false,
    detail: '1/2 nodes have a ready agent; not ready: n2',
  });
});

describe('health URLs', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/readyz') res.writeHead(200).end('ok');
      else res.writeHead(503).end('{"ready":false,"informers":false}\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('given 200, should pass; 503 should fail with the body; a closed port should fail with its code', async () => {
    const probe = fetchProbe(5000);
    expect(await checkHealthUrl('worker', `${base}/readyz`, probe)).toMatchObject({ status: 'pass' });
    const bad = await checkHealthUrl('controller', `${base}/other`, probe);
    expect(bad).toMatchObject({
      ok: false,
      detail: `${base}/other: HTTP 503 {"ready":false,"informers":false}`,
    });
    expect(bad.hint).toContain('controller');
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect(await probe(`http://127.0.0.1:${port}/readyz`)).toEqual({ ok: false, status: 'ECONNREFUSED' });
  });
});
