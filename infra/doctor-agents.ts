/**
 * `tote doctor`'s agent and health-URL checks. Agents are found as the worker finds them: the DaemonSet's pods
 * (pod IP and gRPC port), or one endpoint per Node from `--agent-endpoint-template` (hostNetwork agents, or tote
 * running outside Kubernetes). Each agent gets its own row: it must answer ListImages over mTLS with the
 * worker's client certificate, which proves the port, the certificates and containerd at once.
 */
import { expandAgentTemplate } from '../common/agent-endpoint.js';
import { errorLine, fail, pass, warn, type CheckResult } from './doctor-report.js';
import type { KubeReader } from './doctor-kube.js';

/** One agent to check. */
export interface AgentTarget {
  node: string;
  /** gRPC `host:port`; undefined when it cannot be worked out (see `problem`). */
  address?: string;
  /** Plain HTTP readiness URL (`--agent-health-template`). */
  healthUrl?: string;
  /** Readiness of its pod, when found through the pods. */
  podReady?: boolean;
  problem?: string;
}

/** Answer of a plain HTTP health URL. */
export interface Probe {
  ok: boolean;
  /** `HTTP 200`, `HTTP 503 …`, or why the request failed. */
  status: string;
}

/** GETs a health URL. */
export type HttpProbe = (url: string) => Promise<Probe>;

/** Calls ListImages on the agent at `address` and returns how many images it holds. */
export type AgentDial = (address: string) => Promise<number>;

interface NodeItem {
  metadata?: { name?: string };
  status?: { addresses?: { type: string; address: string }[] };
}

/** One target per Node, from the endpoint template (and the health template, when given). */
export async function agentsFromNodes(
  kube: KubeReader,
  t: { endpoint: string; health?: string },
): Promise<AgentTarget[]> {
  const list = await kube.get<{ items?: NodeItem[] }>('/api/v1/nodes');
  return (list?.items ?? []).map((n) => {
    const node = {
      name: n.metadata?.name ?? '',
      internalIP: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address,
    };
    const address = expandAgentTemplate(t.endpoint, node);
    const healthUrl = t.health ? expandAgentTemplate(t.health, node) : undefined;
    return address
      ? { node: node.name, address, ...(healthUrl ? { healthUrl } : {}) }
      : { node: node.name, problem: 'the node reports no InternalIP for {nodeIP}' };
  });
}

interface PodItem {
  spec?: { nodeName?: string };
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

/** One target per agent pod (the worker's own discovery). */
export async function agentsFromPods(
  kube: KubeReader,
  s: { namespace: string; selector: string; port: number },
): Promise<AgentTarget[]> {
  const path = `/api/v1/namespaces/${encodeURIComponent(s.namespace)}/pods`;
  const list = await kube.get<{ items?: PodItem[] }>(path, { labelSelector: s.selector });
  return (list?.items ?? []).map((p) => {
    const node = p.spec?.nodeName ?? '(unscheduled)';
    const podReady = (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    const ip = p.status?.podIP;
    if (!ip) return { node, podReady, problem: 'the agent pod has no IP yet' };
    return { node, podReady, address: `${ip.includes(':') ? `[${ip}]` : ip}:${s.port}` };
  });
}

/** `agents` outside Kubernetes: every Node has an agent whose health URL answers. */
export function agentsSummary(targets: AgentTarget[], health: Map<string, Probe>): CheckResult {
  if (targets.length === 0) {
    return fail(
      'agents',
      'no Node objects: nowhere to look for agents',
      'check the kubeconfig points at the right cluster',
    );
  }
  if (health.size === 0)
    return pass('agents', `${targets.length} nodes, agents at --agent-endpoint-template`);
  const down = targets.filter((t) => !health.get(t.node)?.ok).map((t) => t.node);
  const counts = `${targets.length - down.length}/${targets.length} nodes have a ready agent`;
  if (down.length === 0) return pass('agents', counts);
  return fail('agents', `${counts}; not ready: ${down.join(', ')}`, 'see the agent rows below');
}

const TLS_ERROR = /certificate|handshake|ssl|tls|alert/i;

/** Why an mTLS handshake fails, in the order it usually is. */
export const TLS_HINT =
  "the client certificate must be signed by the agents' CA (--tls-ca) and the agents' must carry the SAN --tls-server-name (default tote-agent)";

/** What a per-agent row needs besides its target. */
export interface AgentCheckDeps {
  dial: AgentDial;
  /** Health answers by node (only with a health template). */
  health: Map<string, Probe>;
  /** Agents are dialled without TLS (`--insecure-plaintext`). */
  plaintext: boolean;
  /** Where to look when the agent of `node` is unwell. */
  hint(node: string): string;
}

function unreachable(t: AgentTarget, err: unknown, d: AgentCheckDeps): CheckResult {
  const health = d.health.get(t.node);
  const extra = [health && `health ${health.status}`, t.podReady === false && 'pod not Ready'].filter(
    Boolean,
  );
  const suffix = extra.length ? ` (${extra.join(', ')})` : '';
  // grpc-js ends UNAVAILABLE messages with an empty "Resolution note:".
  const why = errorLine(err).replace(/\s*Resolution note:\s*$/, '');
  const hint = TLS_ERROR.test(why) ? `${d.hint(t.node)}; ${TLS_HINT}` : d.hint(t.node);
  return fail(`agent/${t.node}`, `${t.address}: ${why}${suffix}`, hint);
}

/** `agent/<node>`: reachable over mTLS (and ready, where a health URL or pod status says so). */
export async function checkAgent(t: AgentTarget, d: AgentCheckDeps): Promise<CheckResult> {
  const name = `agent/${t.node}`;
  if (!t.address) return fail(name, t.problem ?? 'no address', d.hint(t.node));
  const health = d.health.get(t.node);
  let images: number;
  try {
    images = await d.dial(t.address);
  } catch (err) {
    return unreachable(t, err, d);
  }
  const how = d.plaintext ? 'plaintext' : 'mTLS';
  if (t.podReady === false)
    return fail(name, `${t.address}: answers ${how} but its pod is not Ready`, d.hint(t.node));
  if (health && !health.ok) {
    return fail(
      name,
      `${t.address}: answers ${how} but ${t.healthUrl} says ${health.status}`,
      d.hint(t.node),
    );
  }
  const detail = `${t.address}: ${how} ok, ${images} images`;
  if (d.plaintext) {
    return warn(
      name,
      detail,
      'agents serve plaintext: set tls.enabled=true (and networkPolicy.enabled=true)',
    );
  }
  return pass(name, detail);
}

/** `controller` / `worker` outside Kubernetes: its health URL answers 200. */
export async function checkHealthUrl(name: string, url: string, probe: HttpProbe): Promise<CheckResult> {
  const p = await probe(url);
  if (p.ok) return pass(name, `${url}: ${p.status}`);
  return fail(
    name,
    `${url}: ${p.status}`,
    `is the ${name} running? Its /readyz lists the conditions that are false, and its log says why`,
  );
}

/** A {@link HttpProbe} over fetch with a deadline. */
export function fetchProbe(timeoutMs: number): HttpProbe {
  return async (url) => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      const body = res.ok ? '' : ` ${(await res.text()).trim().slice(0, 120)}`;
      return { ok: res.ok, status: `HTTP ${res.status}${body}` };
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return { ok: false, status: cause?.code ?? cause?.message ?? errorLine(err) };
    }
  };
}
