/**
 * The adapter from the typed gRPC client (infra/agent-client.ts) to the activities' `AgentPort`: one channel per
 * agent address, reused across activities; int64 fields (strings on the wire, ts-proto `forceLong=string`) become
 * numbers here, the only place that knows the protobuf shapes.
 */
import type {
  AgentEndpoint,
  AgentImage,
  AgentPort,
  CallOptions,
  ExportPlan,
  ImageStatus,
  ImportProgress,
  ImportRequest,
  PushCallOptions,
  RegistryCredentials,
} from '../activities/deps.js';
import { AgentClient, type AgentClientOptions } from '../infra/agent-client.js';
import type { ImportFromResponse } from '../proto/gen/tote/v1/agent.js';

/** gRPC NOT_FOUND. */
const NOT_FOUND = 5;

/** How the worker reaches agents: mTLS files, or explicit plaintext for development. */
export type AgentDialOptions = Pick<AgentClientOptions, 'tls' | 'insecure' | 'serverName'>;

function progressOf(m: ImportFromResponse): ImportProgress {
  return {
    bytesDone: Number(m.bytesDone),
    bytesTotal: Number(m.bytesTotal),
    blobsCommitted: m.blobsDone,
    blobsTotal: m.blobsTotal,
    blobsSkipped: m.blobsSkipped,
    bytesReceived: Number(m.bytesReceived),
  };
}

/** An `AgentPort` over gRPC, with a client per agent address; {@link close} closes every channel. */
export class GrpcAgentPort implements AgentPort {
  private readonly clients = new Map<string, AgentClient>();

  constructor(private readonly dial: AgentDialOptions) {}

  private client(agent: AgentEndpoint): AgentClient {
    let c = this.clients.get(agent.address);
    if (!c) {
      c = new AgentClient({ ...this.dial, address: agent.address });
      this.clients.set(agent.address, c);
    }
    return c;
  }

  async listImages(agent: AgentEndpoint, opts: CallOptions = {}): Promise<AgentImage[]> {
    const res = await this.client(agent).listImages(opts);
    return res.images.map((i) => ({ name: i.name, digest: i.digest, sizeBytes: Number(i.size) }));
  }

  async hasImage(agent: AgentEndpoint, digest: string, opts: CallOptions = {}): Promise<ImageStatus> {
    const res = await this.client(agent).hasImage(digest, opts);
    return {
      present: res.present,
      complete: res.complete,
      sizeBytes: Number(res.size),
      activeExports: res.activeExports,
      maxExports: res.maxExports,
    };
  }

  async resolveTag(agent: AgentEndpoint, ref: string, opts: CallOptions = {}): Promise<string | null> {
    try {
      return (await this.client(agent).resolveTag(ref, opts)).digest || null;
    } catch (err) {
      if ((err as { code?: number }).code === NOT_FOUND) return null;
      throw err;
    }
  }

  async prepareExport(
    agent: AgentEndpoint,
    req: { session: string; digest: string; targetNode: string; ttlSeconds: number },
    opts: CallOptions = {},
  ): Promise<ExportPlan> {
    const session = {
      token: req.session,
      digest: req.digest,
      sourceNode: agent.node,
      targetNode: req.targetNode,
      ttlSeconds: req.ttlSeconds,
    };
    const res = await this.client(agent).prepareExport({ session, digest: req.digest }, opts);
    const blobs = res.blobs.map((b) => ({ digest: b.digest, size: Number(b.size) }));
    // The source refuses PrepareExport (FAILED_PRECONDITION) for an image it holds only in part.
    return { mediaType: res.mediaType, blobs, totalBytes: Number(res.totalSize), complete: true };
  }

  async importFrom(
    agent: AgentEndpoint,
    req: ImportRequest,
    onProgress: (p: ImportProgress) => void,
    opts: CallOptions = {},
  ): Promise<ImportProgress> {
    let last: ImportProgress = {
      bytesDone: 0,
      bytesTotal: 0,
      blobsCommitted: 0,
      blobsTotal: 0,
      blobsSkipped: 0,
    };
    const stream = this.client(agent).importFrom(
      { token: req.session, digest: req.digest, sources: req.sources, names: req.imageNames },
      opts,
    );
    for await (const msg of stream) {
      last = progressOf(msg);
      onProgress(last);
    }
    return last;
  }

  async removeImage(
    agent: AgentEndpoint,
    ref: string,
    opts: CallOptions = {},
  ): Promise<{ removed: boolean }> {
    const res = await this.client(agent).removeImage(ref, opts);
    return { removed: res.removed.length > 0 };
  }

  async pushImage(
    agent: AgentEndpoint,
    req: { digest: string; targetRef: string; credentials?: RegistryCredentials; insecure: boolean },
    opts: PushCallOptions = {},
  ): Promise<{ bytesPushed: number }> {
    const credentials = req.credentials ? { ...req.credentials, token: '' } : undefined;
    let bytesPushed = 0;
    const stream = this.client(agent).pushImage(
      { digest: req.digest, target: req.targetRef, credentials, insecure: req.insecure },
      opts,
    );
    for await (const msg of stream) {
      bytesPushed = Number(msg.bytesUploaded);
      opts.onProgress?.({
        bytesDone: Number(msg.bytesDone),
        bytesTotal: Number(msg.bytesTotal),
        bytesUploaded: bytesPushed,
      });
    }
    return { bytesPushed };
  }

  /** Closes every channel. */
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
