import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Component name, added to every line. */
  component: string;
  /** JSON lines (production) or human lines (terminal). @default true */
  json?: boolean;
  /** @default "info" */
  level?: string;
}

/**
 * Creates the process logger. Secrets never reach logs: keys that carry credentials are redacted wherever they
 * appear, so a careless `log.info({ req })` cannot leak a token or password.
 */
export function createLogger(opts: LoggerOptions): Logger {
  return pino({
    name: opts.component,
    level: opts.level ?? 'info',
    redact: {
      paths: [
        'password',
        'token',
        'authorization',
        'apiKey',
        'auth',
        '*.password',
        '*.token',
        '*.authorization',
        '*.apiKey',
        '*.auth',
        'credentials',
        '*.credentials',
      ],
      censor: '[redacted]',
    },
    base: { component: opts.component },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
