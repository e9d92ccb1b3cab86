import { AgentClient } from '../../infra/agent-client.js';
import { buildImage, importToNode } from '../harness/images.js';
import { startSandbox, type Sandbox } from '../harness/sandbox.js';
import { createTotePki, startAgents, type AgentProcess, type TotePki } from '../harness/tote.js';

describe('given a sandbox with a tote agent on every node (mTLS)', () => {
  let sb: Sandbox;
  let pki: TotePki;
  let agents: AgentProcess[];

  beforeAll(async () => {
    sb = await startSandbox({ label: 'tote-agents', nodes: 2, registry: false });
    pki = createTotePki(sb);
    agents = await startAgents(sb, pki);
  });
  afterAll(async () => {
    await sb?.stop();
  });

  it('should list over mTLS the image imported into that node only', async () => {
    const image = await buildImage(sb.run, { layers: 1, layerSize: 32 * 1024 });
    await importToNode(sb.node('node-1'), image, 'registry.example/app:v1');
    const client = (a: AgentProcess): AgentClient =>
      new AgentClient({ address: a.address, tls: { ...pki.worker, ca: pki.ca.cert } });
    const [one, two] = agents.map(client);
    const onOne = await one!.listImages();
    const onTwo = await two!.listImages();
    expect(JSON.stringify(onOne)).toContain(image.digest);
    expect(JSON.stringify(onTwo)).not.toContain(image.digest);
    one!.close();
    two!.close();
  });

  it('should refuse a client without a certificate', async () => {
    const plain = new AgentClient({ address: agents[0]!.address, insecure: true });
    await expect(plain.listImages({ deadlineMs: 3000 })).rejects.toThrow();
    plain.close();
  });
});
