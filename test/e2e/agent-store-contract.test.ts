import { ContainerdStore } from '../../agent/containerd-store.js';
import { storeContract } from '../agent-contract/store-contract.js';
import { startContainerdNode } from '../harness/containerd.js';
import { Run } from '../harness/run.js';

const TIMEOUT = 120_000;
let run: Run;
let store: ContainerdStore;

beforeAll(async () => {
  run = Run.create('agent-store');
  const node = await startContainerdNode(run, { name: 'contract' });
  store = new ContainerdStore({ socket: node.socket, namespace: 'k8s.io' });
}, TIMEOUT);

afterAll(async () => {
  store?.close();
  await run?.stop();
}, TIMEOUT);

describe('ContainerdStore passes the store contract against containerd 1.6', () => {
  storeContract(() => ({ store }));
});
