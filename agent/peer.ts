import type {
  PrepareExportRequest,
  PrepareExportResponse,
  ReadBlobRequest,
  ReadBlobResponse,
  Source,
} from '../proto/gen/tote/v1/agent.js';

/**
 * What an importing agent needs from a source agent. The composition root provides it (infra/agent-client.ts
 * over mTLS); tests may dial in-process servers. Errors are grpc-js ServiceErrors carrying a status code.
 */
export interface Peer {
  /** Registers (or re-reads) the session on the source and describes the image's blobs. */
  prepareExport(req: PrepareExportRequest, signal?: AbortSignal): Promise<PrepareExportResponse>;
  /** Streams a blob of the session's image from `req.offset`. */
  readBlob(req: ReadBlobRequest, signal?: AbortSignal): AsyncIterable<ReadBlobResponse>;
  /** Releases the connection. */
  close(): void;
}

/** Opens a {@link Peer} for a source endpoint. */
export type PeerDialer = (source: Source) => Peer;
