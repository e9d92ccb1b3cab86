/**
 * The connection flags the operator's commands share (`tote salvage`, `approve`, `reject`, `status`): Temporal
 * (local dev server, self-hosted, or Temporal Cloud with mTLS or an API key) and the kubeconfig. Every flag falls
 * back to a `TOTE_*` environment variable (commander's `Option.env`); values are validated here, before anything
 * connects, and a bad one is a {@link UserError} that names the flag.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, NamespaceNotFoundError, ServiceError } from '@temporalio/client';
import { KubeConfig } from '@kubernetes/client-node';
import { Option, type Command } from 'commander';
import { DEFAULT_TEMPORAL_ADDRESS, TASK_QUEUE } from '../common/names.js';
import { temporalConnectionOptions, type TemporalConnectionOptions } from '../infra/temporal.js';
import { UserError } from './errors.js';

/** Raw values of the Temporal flags, as commander hands them over (camelCase of the flag names). */
export interface TemporalFlags {
  temporalAddress: string;
  temporalNamespace: string;
  taskQueue: string;
  temporalTls?: boolean;
  temporalTlsCert?: string;
  temporalTlsKey?: string;
  temporalTlsCa?: string;
  temporalTlsServerName?: string;
  temporalApiKeyFile?: string;
  temporalUiUrl?: string;
}

/** Raw values of the Kubernetes flags. */
export interface KubeFlags {
  kubeconfig?: string;
  context?: string;
}

/** Adds the Temporal flags to `cmd` (with `--temporal-ui-url` for Web UI links). */
export function addTemporalOptions(cmd: Command): Command {
  const opt = (flags: string, help: string, env: string): Option => new Option(flags, help).env(env);
  return cmd
    .addOption(
      opt('--temporal-address <host:port>', 'Temporal frontend', 'TOTE_TEMPORAL_ADDRESS').default(
        DEFAULT_TEMPORAL_ADDRESS,
      ),
    )
    .addOption(
      opt('--temporal-namespace <name>', 'Temporal namespace', 'TOTE_TEMPORAL_NAMESPACE').default('default'),
    )
    .addOption(
      opt('--task-queue <name>', "the tote workers' task queue", 'TOTE_TASK_QUEUE').default(TASK_QUEUE),
    )
    .addOption(
      opt('--temporal-tls', 'connect over TLS (implied by the cert and API key flags)', 'TOTE_TEMPORAL_TLS'),
    )
    .addOption(
      opt('--temporal-tls-cert <file>', 'client certificate (PEM) for mTLS', 'TOTE_TEMPORAL_TLS_CERT'),
    )
    .addOption(opt('--temporal-tls-key <file>', 'client private key (PEM) for mTLS', 'TOTE_TEMPORAL_TLS_KEY'))
    .addOption(opt('--temporal-tls-ca <file>', 'CA (PEM) of the server, if private', 'TOTE_TEMPORAL_TLS_CA'))
    .addOption(
      opt(
        '--temporal-tls-server-name <name>',
        'server name to verify (default: the host of --temporal-address)',
        'TOTE_TEMPORAL_TLS_SERVER_NAME',
      ),
    )
    .addOption(
      opt(
        '--temporal-api-key-file <file>',
        'file holding a Temporal Cloud API key (env TOTE_TEMPORAL_API_KEY holds the key itself)',
        'TOTE_TEMPORAL_API_KEY_FILE',
      ),
    )
    .addOption(
      opt(
        '--temporal-ui-url <url>',
        'base URL of the Temporal Web UI, for links to workflows',
        'TOTE_TEMPORAL_UI_URL',
      ),
    );
}

/** Adds `--kubeconfig` and `--context` to `cmd`. */
export function addKubeOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)'),
    )
    .addOption(new Option('--context <name>', 'kubeconfig context (default: the current context)'));
}

/** Validated Temporal connection settings. */
export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  /** What `Connection.connect` takes (TLS files already read; infra/temporal.ts builds it for every process). */
  connection: TemporalConnectionOptions;
  uiUrl?: string;
}

type ReadFile = (file: string) => Buffer;

/** `host:port` with a port from 1 to 65535, else a UserError naming `flag`. */
export function checkHostPort(flag: string, value: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s/]+):(\d{1,5})$/.exec(value);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) {
    throw new UserError(
      `${flag}: invalid value "${value}"; expected host:port, e.g. ${DEFAULT_TEMPORAL_ADDRESS}`,
    );
  }
  return value;
}

function checkUrl(flag: string, value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    throw new UserError(
      `${flag}: invalid value "${value}"; expected an http(s) URL, e.g. http://127.0.0.1:8233`,
    );
  }
  return value.replace(/\/+$/, '');
}

/**
 * Validates the Temporal flags. `env` supplies TOTE_TEMPORAL_API_KEY (a key value is never a flag, so it never
 * shows in `ps`); `read` reads the PEM and key files. TLS and API key handling is infra/temporal.ts's, shared
 * with the worker and the controller.
 */
export function temporalSettings(
  f: TemporalFlags,
  env: Record<string, string | undefined> = {},
  read: ReadFile = readFileSync,
): TemporalSettings {
  const address = checkHostPort('--temporal-address', f.temporalAddress);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(f.temporalNamespace)) {
    throw new UserError(`--temporal-namespace: invalid value "${f.temporalNamespace}"`);
  }
  if (!f.taskQueue.trim()) throw new UserError('--task-queue: must not be empty');
  let connection: TemporalConnectionOptions;
  try {
    connection = temporalConnectionOptions(
      {
        address,
        tls: f.temporalTls,
        tlsCert: f.temporalTlsCert,
        tlsKey: f.temporalTlsKey,
        tlsCa: f.temporalTlsCa,
        tlsServerName: f.temporalTlsServerName,
        apiKeyFile: f.temporalApiKeyFile,
        apiKey: env.TOTE_TEMPORAL_API_KEY,
      },
      read,
    );
  } catch (err) {
    throw new UserError(firstLine(err));
  }
  return {
    address,
    namespace: f.temporalNamespace,
    taskQueue: f.taskQueue,
    connection,
    ...(f.temporalUiUrl ? { uiUrl: checkUrl('--temporal-ui-url', f.temporalUiUrl) } : {}),
  };
}

/** A connected Temporal client; `close()` in a `finally`. */
export interface TemporalSession {
  client: Client;
  settings: TemporalSettings;
  close(): Promise<void>;
}

/** Connects to Temporal; an unreachable server is a UserError that says which flags to check. */
export async function connectTemporal(s: TemporalSettings): Promise<TemporalSession> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...s.connection, connectTimeout: '10s' });
  } catch (err) {
    const secured = s.connection.tls || s.connection.apiKey ? ', the TLS and API key flags' : '';
    throw new UserError(
      `cannot reach Temporal at ${s.address} (${firstLine(err)}); check --temporal-address (env TOTE_TEMPORAL_ADDRESS)${secured} and that the server is up`,
    );
  }
  const client = new Client({ connection, namespace: s.namespace });
  return { client, settings: s, close: () => connection.close() };
}

/** Loads the kubeconfig: `--kubeconfig`, else $KUBECONFIG, else ~/.kube/config, else in-cluster. */
export function loadKubeConfig(f: KubeFlags): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (f.kubeconfig) kc.loadFromFile(f.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new UserError(
      `--kubeconfig: cannot load ${f.kubeconfig ?? 'the default kubeconfig'}: ${firstLine(err)}`,
    );
  }
  if (f.context) {
    if (!kc.getContextObject(f.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new UserError(
        `--context: no context "${f.context}" in the kubeconfig (has: ${known.join(', ') || 'none'})`,
      );
    }
    kc.setCurrentContext(f.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new UserError('no Kubernetes cluster configured: give --kubeconfig or set KUBECONFIG');
  }
  return kc;
}

/** The Web UI page of a workflow, or undefined without `--temporal-ui-url`. */
export function workflowUrl(
  s: Pick<TemporalSettings, 'uiUrl' | 'namespace'>,
  workflowId: string,
  runId?: string,
): string | undefined {
  if (!s.uiUrl) return undefined;
  const base = `${s.uiUrl}/namespaces/${encodeURIComponent(s.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}

/** The first line of an error's message: enough for a one-line user error. */
export function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? msg;
}

/**
 * Turns the Temporal errors an operator can fix (unknown namespace, permission, unreachable) into one-line
 * UserErrors; anything else is returned unchanged for the caller to rethrow.
 */
export function explainTemporalError(err: unknown, s: TemporalSettings): unknown {
  if (err instanceof UserError) return err;
  if (err instanceof NamespaceNotFoundError || /namespace .* (is )?not found/i.test(firstLine(err))) {
    return new UserError(
      `Temporal namespace "${s.namespace}" does not exist on ${s.address}; check --temporal-namespace (env TOTE_TEMPORAL_NAMESPACE)`,
    );
  }
  const code = (err as { code?: unknown }).code ?? (err as { cause?: { code?: unknown } }).cause?.code;
  if (err instanceof ServiceError && (code === 7 || code === 16)) {
    return new UserError(
      `Temporal refused the request (${firstLine(err)}); check the API key or client certificate`,
    );
  }
  if (err instanceof ServiceError && code === 14) {
    return new UserError(
      `lost the connection to Temporal at ${s.address} (${firstLine(err)}); is it still up?`,
    );
  }
  return err;
}

/** Connects, runs `fn`, closes the connection; Temporal errors an operator can fix become UserErrors. */
export async function withTemporal<T>(
  s: TemporalSettings,
  fn: (t: TemporalSession) => Promise<T>,
): Promise<T> {
  const t = await connectTemporal(s);
  try {
    return await fn(t);
  } catch (err) {
    throw explainTemporalError(err, s);
  } finally {
    await t.close();
  }
}
