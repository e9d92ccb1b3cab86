import type { Logger } from 'pino';

/** The logging the agent needs; the composition root passes a pino logger (which redacts credentials). */
export type AgentLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
