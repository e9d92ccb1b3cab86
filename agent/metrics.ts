import { Counter, Gauge, type Registry } from 'prom-client';

/** The agent's metrics, registered in the app-owned registry the composition root passes in. */
export interface AgentMetrics {
  /** Blob bytes served to peers (ReadBlob). */
  bytesSent: Counter;
  /** Blob bytes received from peers (ImportFrom). */
  bytesReceived: Counter;
  /** Blobs an import did not transfer because containerd already had them. */
  blobsSkipped: Counter;
  /** Blob bytes uploaded to registries (PushImage). */
  bytesPushed: Counter;
  /** Transfers in progress, by direction (export, import, push). */
  activeTransfers: Gauge<'direction'>;
  /** Failed RPCs, by gRPC status name. */
  errors: Counter<'rpc' | 'code'>;
  /**
   * Seconds ReadBlob streams waited for the upload budget (--max-upload-rate), summed over streams: growing
   * faster than one second per second means several streams queue for the link.
   */
  uploadThrottledSeconds: Counter;
}

/** Creates the agent metrics in `registry` (never the global one, so tests and processes stay isolated). */
export function createAgentMetrics(registry: Registry): AgentMetrics {
  const registers = [registry];
  return {
    bytesSent: new Counter({
      name: 'tote_agent_bytes_sent_total',
      help: 'Blob bytes served to peer agents.',
      registers,
    }),
    bytesReceived: new Counter({
      name: 'tote_agent_bytes_received_total',
      help: 'Blob bytes received from peer agents.',
      registers,
    }),
    blobsSkipped: new Counter({
      name: 'tote_agent_blobs_skipped_total',
      help: 'Blobs not transferred because the local containerd already had them.',
      registers,
    }),
    bytesPushed: new Counter({
      name: 'tote_agent_push_bytes_total',
      help: 'Blob bytes uploaded to registries.',
      registers,
    }),
    activeTransfers: new Gauge({
      name: 'tote_agent_active_transfers',
      help: 'Transfers in progress.',
      labelNames: ['direction'] as const,
      registers,
    }),
    errors: new Counter({
      name: 'tote_agent_errors_total',
      help: 'Agent RPCs that failed, by RPC and gRPC status.',
      labelNames: ['rpc', 'code'] as const,
      registers,
    }),
    uploadThrottledSeconds: new Counter({
      name: 'tote_agent_upload_throttled_seconds_total',
      help: 'Seconds ReadBlob streams waited for the upload budget (--max-upload-rate), summed over streams.',
      registers,
    }),
  };
}
