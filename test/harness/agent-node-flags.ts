import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from './tools.js';

/**
 * The node flags the chart starts every agent with (`agent.nodeFlags` in charts/tote/values.yaml), so agents in
 * tests and benchmarks run as deployed. Extra flags (e.g. `--cpu-prof` when profiling) come from
 * TOTE_AGENT_NODE_ARGS.
 */
export function agentNodeFlags(): string[] {
  const values = parse(readFileSync(path.join(repoRoot(), 'charts', 'tote', 'values.yaml'), 'utf8')) as {
    agent?: { nodeFlags?: string[] };
  };
  const extra = process.env.TOTE_AGENT_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  return [...(values.agent?.nodeFlags ?? []), ...extra];
}
