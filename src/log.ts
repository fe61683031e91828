import winston from 'winston';

/** One logger for the process: JSON lines on stdout (a managed plugin's stdout lands in Docker's log). */
export type Logger = winston.Logger;

export function createLogger(level: string, silent = false): Logger {
  return winston.createLogger({
    level,
    silent,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}

/** For tests: a logger that discards everything unless TSNET_TEST_LOG is set. */
export function testLogger(): Logger {
  return createLogger(process.env.TSNET_TEST_LOG ?? 'error', !process.env.TSNET_TEST_LOG);
}
