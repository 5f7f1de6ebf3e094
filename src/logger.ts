import pino, { type Logger } from 'pino';

export type { Logger };

/** The root logger; secrets never reach the output. Calls get `logger.child({ callId, … })`. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'sipscribe' },
      redact: {
        paths: [
          'password',
          '*.password',
          'apiKey',
          '*.apiKey',
          'token',
          '*.token',
          'secret',
          '*.secret',
          '*.authorization',
        ],
        censor: '***',
      },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
