import type { Command } from 'commander';
import { registerAgent } from './agent.js';
import { registerApprove } from './approve.js';
import { registerController } from './controller.js';
import { registerDemo } from './demo.js';
import { registerSalvage } from './salvage.js';
import { registerStatus } from './status.js';
import { registerWorker } from './worker.js';

/**
 * MAINTENANCE: every subcommand of DESIGN §2 registers here as it gets built (controller, worker, agent, doctor,
 * salvage, approve, reject, status, demo, scan); docs/cli-reference.md lists them.
 */
export function registerCommands(program: Command): void {
  registerDemo(program);
  registerAgent(program);
  registerController(program);
  registerSalvage(program);
  registerApprove(program);
  registerStatus(program);
  registerWorker(program);
}
