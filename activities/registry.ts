/**
 * Registry work: the backup push (done by the node's agent, straight from its containerd) and the opt-in tag
 * resolution through the registry v2 API. Credentials are read from the dockerconfigjson Secret at push time,
 * so a rotated Secret takes effect without a restart; they are never logged or returned.
 */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps, PushProgress, RegistryCredentials } from './deps.js';
import { invalidImageReference, mapFailures, toFailure } from './failures.js';
import { findAgent } from './inventory.js';
import { keepAlive } from './liveness.js';

/** Input of `pushBackup`. */
export interface PushInput {
  digest: string;
  /** The reference the pod uses; its repository path and tag are kept under the backup registry. */
  imageRef: string;
  /** The node whose agent pushes (the salvage target, which now holds the image). */
  node: string;
}

/** Splits a reference into host, path and tag; the host is the first component when it looks like one. */
export function splitReference(ref: string): { host?: string; path: string; tag?: string } {
  const noDigest = ref.split('@')[0] ?? '';
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  const tag = colon > slash ? noDigest.slice(colon + 1) : undefined;
  const name = colon > slash ? noDigest.slice(0, colon) : noDigest;
  const [first, ...rest] = name.split('/');
  const isHost =
    rest.length > 0 && !!first && (first.includes('.') || first.includes(':') || first === 'localhost');
  return isHost ? { host: first, path: rest.join('/'), tag } : { path: name, tag };
}

/** Where the backup copy goes: `<backup registry>/<repository path>:<tag, or sha256-<hex> for digest refs>`. */
export function backupReference(registry: string, imageRef: string, digest: string): string {
  const { path, tag } = splitReference(imageRef);
  if (!path || !/^[a-z0-9]+([._/-][a-z0-9]+)*$/.test(path))
    throw invalidImageReference(imageRef, 'bad repository');
  return `${registry.replace(/\/+$/, '')}/${path}:${tag ?? digest.replace(':', '-')}`;
}

/** Credentials for `host` from a dockerconfigjson document, or undefined. */
export function credentialsFor(dockerConfig: string, host: string): RegistryCredentials | undefined {
  const auths = (JSON.parse(dockerConfig) as { auths?: Record<string, Record<string, string>> }).auths ?? {};
  const entry = auths[host] ?? auths[`https://${host}`] ?? auths[`http://${host}`];
  if (!entry) return undefined;
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
  const i = plain.indexOf(':');
  return i < 0 ? undefined : { username: plain.slice(0, i), password: plain.slice(i + 1) };
}

async function pushCredentials(
  deps: ActivityDeps,
  registry: string,
): Promise<RegistryCredentials | undefined> {
  const secret = deps.config.backup?.secret;
  if (!secret) return undefined;
  const doc = await mapFailures('read backup registry secret', () =>
    deps.kube.readDockerConfig(secret.namespace, secret.name, { signal: cancellationSignal() }),
  );
  return doc ? credentialsFor(doc, registry.split('/')[0] ?? registry) : undefined;
}

/** Builds the registry activities. */
export function createRegistryActivities(deps: ActivityDeps): {
  pushBackup(input: PushInput): Promise<{ targetRef: string; bytesPushed: number; durationMs: number }>;
  resolveTag(input: { ref: string }): Promise<{ digest: string | null }>;
} {
  return {
    /** Pushes the salvaged image to the backup registry through the node's agent. */
    async pushBackup(
      input: PushInput,
    ): Promise<{ targetRef: string; bytesPushed: number; durationMs: number }> {
      const backup = deps.config.backup;
      if (!backup) throw invalidImageReference(input.imageRef, 'no backup registry is configured');
      const started = deps.clock.now().getTime();
      const targetRef = backupReference(backup.registry, input.imageRef, input.digest);
      // A big image takes minutes to push: beats carry the bytes so far, and stop at once when the worker dies.
      let progress: PushProgress = { bytesDone: 0, bytesTotal: 0, bytesUploaded: 0 };
      const res = await keepAlive(
        async () => {
          const agent = await findAgent(deps, input.node);
          const credentials = await pushCredentials(deps, backup.registry);
          deps.metrics.inc('push_attempts');
          return mapFailures(`push ${targetRef}`, () =>
            deps.agent.pushImage(
              agent,
              { digest: input.digest, targetRef, credentials, insecure: backup.insecure },
              { signal: cancellationSignal(), onProgress: (p) => (progress = p) },
            ),
          );
        },
        () => ({ targetRef, ...progress }),
      );
      return { targetRef, bytesPushed: res.bytesPushed, durationMs: deps.clock.now().getTime() - started };
    },

    /** The digest a tag points to, through the registry v2 API; null when disabled or not found. */
    async resolveTag(input: { ref: string }): Promise<{ digest: string | null }> {
      const registry = deps.registry;
      if (!deps.config.registryResolve || !registry) return { digest: null };
      const started = deps.clock.now().getTime();
      try {
        const digest = await registry.resolveTag(input.ref, { signal: cancellationSignal() });
        deps.metrics.inc('registry_resolve', { result: digest ? 'success' : 'not_found' });
        return { digest };
      } catch (err) {
        deps.metrics.inc('registry_resolve', { result: 'failure' });
        throw toFailure(err, `resolve ${input.ref}`);
      } finally {
        deps.metrics.observe('registry_resolve_duration', (deps.clock.now().getTime() - started) / 1000);
      }
    },
  };
}
