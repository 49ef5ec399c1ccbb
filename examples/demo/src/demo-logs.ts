/**
 * The demo's logs: the servers' log (pino, on standard error) and the audit log
 * (`<data>/<scenario>/audit.log`), which gets every token decision of Lync and Exchange and, in the
 * cloud and hybrid scenarios, every decision of the STS.
 *
 * Every line is one JSON object with one member per name (a strict parser, such as
 * `parseStrictJson` of @s2sauth/protocol, reads it): each logger has one `name`, and what tells the
 * servers apart is `server` (`lync`, `exchange`, `sts`) or `component`, never a second `name`.
 *
 * The audit log is rotated by rotating-file-stream, as logrotate would: when it reaches
 * {@link AUDIT_LOG_LIMITS}`.size` or is older than `.interval`, `audit.log` becomes `audit.log.1`,
 * `audit.log.1` becomes `audit.log.2` and so on, and the oldest beyond `.keep` is removed. The file
 * being written is always `audit.log` (`tail -F` follows it across rotations).
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pinoAuditSink, type AuditSink } from '@s2sauth/middleware';
import { pino, type DestinationStream, type Logger } from 'pino';
import { createStream, type FileSize, type Interval } from 'rotating-file-stream';

/** When the audit log is rotated and how many rotated files are kept. */
export interface AuditLogLimits {
  /** Rotate once the file reaches this size (`B`, `K`, `M` or `G`); the line that crosses it stays in the file. */
  readonly size: FileSize;
  /** Rotate when this much time has passed since the file was started (`1d`, `12h`, ...). */
  readonly interval: Interval;
  /** Rotated files kept (`audit.log.1` to `audit.log.<keep>`); the oldest beyond them is removed. */
  readonly keep: number;
}

/** The demo's limits: 10 MB or a day per file, 5 rotated files kept (at most about 60 MB in all). */
export const AUDIT_LOG_LIMITS: AuditLogLimits = Object.freeze({ size: '10M', interval: '1d', keep: 5 });

/** Options of {@link openDemoLogs}. */
export interface DemoLogsOptions {
  /** Log at `info` instead of `warn`. */
  readonly verbose: boolean;
  /** The audit log file, e.g. `.data/onprem/audit.log`. */
  readonly auditLog: string;
  /** Where the servers' log goes. Default standard error. */
  readonly log?: DestinationStream;
  /** Overrides of {@link AUDIT_LOG_LIMITS}. */
  readonly auditLimits?: Partial<AuditLogLimits>;
}

/** The demo's loggers, for the scenarios' options. */
export interface DemoLogs {
  /** The servers' logger (name `s2sauth-demo`; each server logs through a child with `server`). */
  readonly logger: Logger;
  /** The verifiers' audit sink, on the audit log (name `s2sauth-audit`). */
  readonly audit: AuditSink;
  /** The STS's logger, on the audit log (name `s2sauth-sts`): its decisions beside the servers'. */
  readonly stsLogger: Logger;
  /** The audit log's stream. */
  readonly auditStream: Writable;
  /** Writes what is still buffered to the audit log and closes it. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens the demo's logs, resolving once the audit log is open. An error of the audit log after that
 * (a full disk, say) is written once to the servers' log at `error` and does not stop the demo.
 *
 * @throws TypeError when a limit is malformed; the file-system error when the audit log cannot be opened.
 */
export async function openDemoLogs(options: DemoLogsOptions): Promise<DemoLogs> {
  const limits = { ...AUDIT_LOG_LIMITS, ...options.auditLimits };
  if (!Number.isSafeInteger(limits.keep) || limits.keep < 1) throw new TypeError('openDemoLogs: auditLimits.keep must be a positive integer.');
  const logger = pino({ name: 's2sauth-demo', level: options.verbose ? 'info' : 'warn' }, options.log ?? pino.destination(2));
  const auditStream = createStream(options.auditLog, { size: limits.size, interval: limits.interval, rotate: limits.keep, mode: 0o600 });
  await once(auditStream, 'open');
  let failed = false;
  auditStream.on('error', (error: Error) => {
    // Once: after an error the stream is closed, and every later line would repeat it.
    if (!failed) logger.error({ err: error, file: options.auditLog }, 'cannot write the audit log; audit lines are lost until a restart');
    failed = true;
  });
  auditStream.on('warning', (error: Error) => logger.warn({ err: error, file: options.auditLog }, 'audit log rotation'));
  let closing: Promise<void> | undefined;
  return {
    logger,
    audit: pinoAuditSink(pino({ name: 's2sauth-audit', level: 'info' }, auditStream)),
    stsLogger: pino({ name: 's2sauth-sts', level: 'info' }, auditStream),
    auditStream,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        if (auditStream.writableFinished || auditStream.destroyed) {
          resolve();
          return;
        }
        auditStream.once('close', resolve);
        auditStream.end();
      })),
  };
}
