/**
 * The third step of the last-copy scan: does each image's source registry still serve its manifest? A HEAD by
 * digest asks exactly that (a moved tag does not matter). Anything short of a clear 200 or 404 is `unknown`:
 * a 401 means the registry wants credentials the scan does not use, not that the image is gone.
 */
import { cancellationSignal } from '@temporalio/activity';
import { parseImageReference } from '../common/image-ref.js';
import type { RegistryCopy } from '../common/last-copy.js';
import type { ActivityDeps, ManifestHead } from './deps.js';
import { mapLimit } from './inventory.js';

/** What the scan asks about one image. */
export interface RegistryQuery {
  key: string;
  /** The reference as the pod writes it (its registry and repository are asked). */
  image: string;
  digest: string | null;
}

/** The registry's answer about one image. */
export interface RegistryAnswer {
  key: string;
  copy: RegistryCopy;
  detail?: string;
}

/** How long one HEAD may take (connect included) before the answer is `unknown`. */
const HEAD_TIMEOUT_MS = 15_000;
/** HEADs in flight at once. */
const PARALLEL = 8;

async function head(deps: ActivityDeps, q: RegistryQuery, insecure: boolean): Promise<ManifestHead> {
  const port = deps.manifests;
  if (!port) return { copy: 'unknown', detail: 'this worker has no registry client' };
  if (!q.digest) return { copy: 'unknown', detail: 'digest unknown' };
  const parsed = parseImageReference(q.image);
  if (!parsed.ok) return { copy: 'unknown', detail: parsed.error.reason };
  const { registry, repository } = parsed.ref;
  const signal = AbortSignal.any([cancellationSignal(), AbortSignal.timeout(HEAD_TIMEOUT_MS)]);
  try {
    return await port.headManifest({ registry, repository, reference: q.digest, insecure }, { signal });
  } catch (err) {
    return { copy: 'unknown', detail: err instanceof Error ? err.message : String(err) };
  }
}

/** HEADs every image's manifest by digest on its own registry. */
export async function checkRegistryCopies(
  deps: ActivityDeps,
  input: { images: RegistryQuery[]; insecure: boolean },
): Promise<RegistryAnswer[]> {
  const answers = await mapLimit(input.images, PARALLEL, (q) => head(deps, q, input.insecure));
  return input.images.map((q, i) => {
    const a = answers[i] ?? { copy: 'unknown' as const };
    const mismatch = a.copy === 'present' && a.digest && a.digest !== q.digest;
    // A registry answering 200 for a digest with another digest is broken or lying: not a copy to count on.
    if (mismatch) return { key: q.key, copy: 'unknown', detail: `registry answered digest ${a.digest}` };
    return { key: q.key, copy: a.copy, ...(a.detail ? { detail: a.detail } : {}) };
  });
}
