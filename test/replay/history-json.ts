/**
 * Loads a JSON history (as `temporal workflow show --output json` and the Web UI write it) into the History
 * message the replayer takes.
 *
 * Why not `historyFromJSON` from @temporalio/common: in this install @temporalio/common and @temporalio/proto
 * each carry their own nested protobufjs 8 (the root slot holds protobufjs 7 for @grpc/proto-loader), so its
 * protojson `fromJson` rejects the proto root's types ("type must be a Type"). Here both come from the copy
 * @temporalio/proto itself resolves. The CLI writes canonical enum names, so no PascalCase fix-ups are needed.
 */
import { createRequire } from 'node:module';
import type { History } from '@temporalio/common/lib/proto-utils.js';

interface ProtoType {
  name: string;
}
type FromJson = (type: ProtoType, json: unknown, opts: { ignoreUnknownFields: boolean }) => unknown;

const here = createRequire(import.meta.url);
const fromProto = createRequire(here.resolve('@temporalio/proto'));
const { fromJson } = fromProto('protobufjs/ext/protojson') as { fromJson: FromJson };
const { patchProtobufRoot } = here('@temporalio/proto/lib/patch-protobuf-root') as {
  patchProtobufRoot(root: unknown): { lookupType(name: string): ProtoType };
};
const historyType = patchProtobufRoot(here('@temporalio/proto')).lookupType(
  'temporal.api.history.v1.History',
);

/** Parses a JSON history; unknown fields (newer server or CLI) are ignored. */
export function historyFromJson(json: unknown): History {
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { events?: unknown }).events)) {
    throw new TypeError('not a history: expected an object with an array of events');
  }
  return fromJson(historyType, json, { ignoreUnknownFields: true }) as History;
}
