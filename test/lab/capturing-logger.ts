/** A winston logger whose JSON records a test can read back. */
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from '../../src/log';

export type LogRecord = Record<string, unknown> & { message: string };

export interface CapturedLog {
  log: Logger;
  /** Every record logged so far, in order. */
  records: () => LogRecord[];
  /** Their messages. */
  messages: () => string[];
}

export function capturingLogger(level = 'debug'): CapturedLog {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const log = winston.createLogger({ level, format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  const records = () =>
    lines
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogRecord);
  return { log, records, messages: () => records().map((r) => r.message) };
}
