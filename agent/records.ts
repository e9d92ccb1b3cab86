import { status } from '@grpc/grpc-js';
import { formatReference, parseImageReference, withDigest } from '../common/image-ref.js';
import { AgentError } from './errors.js';
import type { Descriptor, Store } from './store.js';

/** Label the CRI plugin puts on the image records it manages; kubelet only sees managed images. */
export const CRI_IMAGE_LABEL = 'io.cri-containerd.image';

/**
 * The record names CRI's PullImage would create for these references of image `digest`: `repo:tag` for each
 * tag, `repo@digest` for each repository, and the id record `sha256:<config>` when the config is known. Names
 * are normalized as the CRI does (`nginx` → `docker.io/library/nginx:latest`). INVALID_ARGUMENT for a
 * malformed reference or one pinned to another digest.
 */
export function criRecordNames(refs: readonly string[], digest: string, configDigest?: string): string[] {
  const names = new Set<string>();
  for (const r of refs) {
    const parsed = parseImageReference(r);
    if (!parsed.ok) {
      throw new AgentError(status.INVALID_ARGUMENT, `name ${JSON.stringify(r)}: ${parsed.error.reason}`);
    }
    const ref = parsed.ref;
    if (ref.digest && ref.digest !== digest) {
      throw new AgentError(status.INVALID_ARGUMENT, `name ${r} is pinned to ${ref.digest}, not ${digest}`);
    }
    // With tag and digest together CRI keeps only the digest.
    if (ref.tag !== undefined && ref.digest === undefined) names.add(formatReference(ref));
    names.add(withDigest(ref, digest));
  }
  if (configDigest) names.add(configDigest);
  return [...names];
}

/**
 * Creates or updates every record to point at `target`, with the CRI label, as CRI's `createImageReference`
 * does. Call only once every blob of the image is committed: a record makes the image visible.
 */
export async function writeRecords(
  store: Store,
  names: readonly string[],
  target: Descriptor,
  lease?: string,
): Promise<void> {
  for (const name of names) {
    await store.putImage({ name, target, labels: { [CRI_IMAGE_LABEL]: 'managed' } }, lease);
  }
}
