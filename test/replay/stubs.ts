/**
 * Stub activities for workflow tests: plain functions with the real activities' types, recording every call.
 * Each test overrides only what its branch needs.
 */
import type { ToteActivities } from '../../activities/index.js';
import type { SalvagePolicy, SourceInventory } from '../../activities/types.js';

/** Calls made to the stubs, in order: `name` plus the first argument. */
export interface CallLog {
  calls: { name: string; arg: unknown }[];
  names(): string[];
  /** The reasons of emitted events, in order. */
  events(): string[];
  /** The webhook event types sent, in order. */
  webhooks(): string[];
}

export const DIGEST = `sha256:${'ab'.repeat(32)}`;

/** A policy for tests: auto mode, no size limit, one attempt per source, short approval timeout. */
export function policy(over: Partial<SalvagePolicy> = {}): SalvagePolicy {
  return {
    mode: 'auto',
    maxImageSizeBytes: 0,
    approveTimeoutMs: 60_000,
    transferAttempts: 1,
    backup: false,
    ...over,
  };
}

/** An inventory with sources `nodes` (complete, 1000 bytes each) and a target agent. */
export function inventory(nodes: string[], over: Partial<SourceInventory> = {}): SourceInventory {
  return {
    sources: nodes.map((node) => ({
      node,
      endpoint: `${node}:7443`,
      complete: true,
      sizeBytes: 1000,
      hinted: true,
    })),
    skipped: [],
    targetHasImage: false,
    targetEndpoint: 'target:7443',
    ...over,
  };
}

/** Stub activities with happy-path defaults; `over` replaces single activities. */
export function stubActivities(over: Partial<ToteActivities> = {}): { acts: ToteActivities; log: CallLog } {
  const calls: CallLog['calls'] = [];
  const log: CallLog = {
    calls,
    names: () => calls.map((c) => c.name),
    events: () =>
      calls.filter((c) => c.name === 'emitEvent').map((c) => (c.arg as { reason: string }).reason),
    webhooks: () =>
      calls.filter((c) => c.name === 'sendWebhook').map((c) => (c.arg as { event: string }).event),
  };
  const defaults: ToteActivities = {
    loadPolicy: async () => policy(),
    checkOptIn: async () => undefined,
    emitEvent: async () => undefined,
    locateSources: async () => inventory(['node-a', 'node-b']),
    transferImage: async (i) => ({
      source: i.source.node,
      bytesDone: 1000,
      bytesTotal: 1000,
      blobsCommitted: 3,
      blobsTotal: 3,
      blobsSkipped: 0,
      attempt: 1,
      durationMs: 5,
    }),
    verifyImage: async () => ({ complete: true, sizeBytes: 1000 }),
    writeSalvageRecord: async () => ({ name: 'salvage-abababababab-target-00000000', created: true }),
    reapExpiredRecords: async () => ({ deleted: 0, kept: 0 }),
    deleteOwnedPod: async () => ({ deleted: true }),
    pushBackup: async () => ({ targetRef: 'backup.local/app:1', bytesPushed: 1000, durationMs: 5 }),
    resolveTag: async () => ({ digest: null }),
    resolveTagOnAgents: async () => ({ digest: null, nodes: [] }),
    sendWebhook: async () => ({ sent: true, status: 200 }),
    removeImageRecord: async () => ({ removed: true }),
    listImagesInUse: async () => ({ images: [], backupRegistry: null }),
    countImageHolders: async () => ({ images: [], unreachable: [] }),
    checkRegistryCopies: async () => [],
    warnLastCopy: async () => undefined,
    planTransfer: async (i) => ({
      source: i.source.node,
      blobs: 3,
      totalBytes: 1000,
      blobsPresent: 1,
      bytesPresent: 400,
      blobsToMove: 1,
      bytesToMove: 500,
      dedup: 'exact',
      sourceComplete: true,
    }),
  };
  const merged = { ...defaults, ...over } as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const acts = Object.fromEntries(
    Object.entries(merged).map(([name, fn]) => [
      name,
      async (...args: unknown[]) => {
        calls.push({ name, arg: args[0] });
        return fn(...args);
      },
    ]),
  ) as unknown as ToteActivities;
  return { acts, log };
}
