/**
 * The injector: SIGKILLs one component (a crash, no clean shutdown), keeps it down for the planned delay, then
 * starts it again with the same flags, ports and state, and waits until it is ready.
 */
import type { Component } from './plan.js';
import { sleep, type FaultEnv } from './env.js';

/** Which process a fault hits. */
export interface FaultTarget {
  component: Component;
  /** The node, for agents. */
  node?: string;
}

/** What the injector did. */
export interface Injection {
  target: FaultTarget;
  /** When the kill was sent (ms since the epoch). */
  killedAt: number;
  /** Planned downtime. */
  delayMs: number;
  /** From the kill until the component was ready again. */
  downMs: number;
}

/** Kills, waits `delayMs`, restarts. Rejects if the component cannot be started again (the suite is then broken). */
export async function inject(env: FaultEnv, target: FaultTarget, delayMs: number): Promise<Injection> {
  const killedAt = Date.now();
  const { stack, sb } = env;
  switch (target.component) {
    case 'worker':
      await stack.worker.kill();
      await sleep(delayMs);
      await stack.worker.start();
      break;
    case 'controller': {
      const controller = stack.controllers[0];
      if (!controller) throw new Error('the stack runs no controller');
      await controller.kill();
      await sleep(delayMs);
      await controller.start();
      break;
    }
    case 'temporal':
      await sb.temporal.restart({ kill: true, downMs: delayMs });
      await env.reconnect();
      break;
    case 'source-agent':
    case 'target-agent': {
      const agent = stack.agent(target.node ?? '');
      await agent.kill();
      await sleep(delayMs);
      await agent.start();
      break;
    }
  }
  return { target, killedAt, delayMs, downMs: Date.now() - killedAt };
}
