/**
 * Agent endpoint templates (`--agent-endpoint-template`, `--agent-health-template`): one address per node, with
 * `{node}` replaced by the node's name and `{nodeIP}` by its InternalIP (hostNetwork agents, or tote outside
 * Kubernetes). The worker's discovery and `tote doctor` both expand them here. Pure.
 */

/** The node a template is expanded for. */
export interface TemplateNode {
  readonly name: string;
  /** `Node.status.addresses` InternalIP; needed only by templates with `{nodeIP}`. */
  readonly internalIP?: string;
}

/** A template without `{node}` or `{nodeIP}`: it would give every node the same address. */
export class InvalidAgentTemplateError extends Error {
  override name = 'InvalidAgentTemplateError';

  constructor(readonly template: string) {
    super(`agent endpoint template "${template}" contains neither {node} nor {nodeIP}`);
  }
}

/** True when `template` names the node (`{node}` or `{nodeIP}`), the one thing a valid template must do. */
export function isAgentTemplate(template: string): boolean {
  return template.includes('{node}') || template.includes('{nodeIP}');
}

/** True when `template` needs each node's InternalIP (`{nodeIP}`), so the nodes must be listed first. */
export function needsNodeIP(template: string): boolean {
  return template.includes('{nodeIP}');
}

/**
 * `template` for `node`: every `{node}` and `{nodeIP}` replaced; undefined when `{nodeIP}` is needed and the
 * node reports no InternalIP. Throws {@link InvalidAgentTemplateError} for a template with neither placeholder.
 */
export function expandAgentTemplate(template: string, node: TemplateNode): string | undefined {
  if (!isAgentTemplate(template)) throw new InvalidAgentTemplateError(template);
  if (needsNodeIP(template) && !node.internalIP) return undefined;
  return template.replaceAll('{node}', node.name).replaceAll('{nodeIP}', node.internalIP ?? '');
}
