/**
 * What arrives on any transport (RFC 3261 §18.1.2, §18.2.1, RFC 3581): parsed, `received`/`rport`
 * stamped on requests, checked, and handed to the transaction layer; bad input is answered
 * (400 with the error code, 505, 513) when the request still names someone to answer, otherwise
 * dropped, and counted either way; logged once per kind and minute with a count (RepeatedLog), never
 * once per message. Nothing here throws out of a socket handler.
 */
import type { SipCounters } from '../counters.js';
import { SipParseError } from '../errors.js';
import type { Clock } from '../../lib/clock.js';
import { RepeatedLog, type Logger } from '../../lib/logger.js';
import { createErrorResponse } from '../message/build.js';
import { parseHeaderLines, parseMessage } from '../message/parser.js';
import { SipRequest, type SipMessage, type SipResponse } from '../message/SipMessage.js';
import { hasResponseEssentials, requestProblem, responseProblem } from '../message/validate.js';
import { stampVia } from './stampVia.js';
import type { StreamConnection } from './StreamConnection.js';
import type { Flow } from './types.js';

/** Where parsed, valid messages go (the transaction layer). */
export interface TransportDelegate {
  onRequest(req: SipRequest, flow: Flow): void;
  onResponse(res: SipResponse, flow: Flow): void;
}

interface ReceiverOptions {
  counters: SipCounters;
  logger: Logger;
  /** For the log of repeated bad input (one line per kind and minute, with a count). */
  clock: Pick<Clock, 'now'>;
  maxMessageSize: number;
  /** Sends a response by RFC 3261 §18.2.2 (the transport layer's `sendResponse`). */
  sendResponse(res: SipResponse, flow: Flow): void;
}

export class Receiver {
  readonly #opts: ReceiverOptions;
  readonly #log: RepeatedLog;
  delegate: TransportDelegate | undefined;

  constructor(opts: ReceiverOptions) {
    this.#opts = opts;
    this.#log = new RepeatedLog(opts.logger, opts.clock);
  }

  /** Logs the counts of repeated bad input not logged yet (at shutdown). */
  flushLogs(): void {
    this.#log.flush();
  }

  /** Parses and dispatches one message. Never throws. */
  receive(data: Buffer, flow: Flow, datagram: boolean): void {
    this.#opts.counters.messagesReceived++;
    let msg: SipMessage;
    try {
      msg = parseMessage(data, { maxSize: this.#opts.maxMessageSize, datagram });
    } catch (err) {
      if (err instanceof SipParseError) {
        if (err.code === 'SIP_ERR_EMPTY') {
          return; // a keep-alive
        }
        if (err.code === 'SIP_ERR_TOO_LARGE') {
          this.#opts.counters.oversize++;
        }
        this.#answerBroken(err, flow);
      } else {
        this.#opts.counters.malformedDropped++;
        this.#log.log('warn', 'parse-bug', { err }, 'unexpected error while parsing');
      }
      return;
    }
    try {
      if (msg instanceof SipRequest) {
        stampVia(msg, flow);
        const problem = requestProblem(msg);
        if (problem && !/^SIP\s*\/\s*\d\.\d\s*\/\s*\S+\s+[^;,\s]+/i.test(msg.getAll('via')[0] ?? '')) {
          // Without a Via that names a SIP sender there is nobody to answer: drop.
          this.#opts.counters.malformedDropped++;
          this.#log.log(
            'debug',
            `dropped:${problem}`,
            { problem, remote: flow.remote },
            'unanswerable request dropped',
          );
          return;
        }
        if (problem) {
          this.#opts.counters.malformedRejected++;
          this.#log.log(
            'debug',
            `400:${problem}`,
            { problem, remote: flow.remote },
            'malformed request answered 400',
          );
          this.#opts.sendResponse(createErrorResponse(msg.headers, 400, problem), flow);
          return;
        }
        this.delegate?.onRequest(msg, flow);
      } else {
        const problem = responseProblem(msg);
        if (problem) {
          this.#opts.counters.malformedDropped++;
          this.#log.log(
            'debug',
            `response:${problem}`,
            { problem, remote: flow.remote },
            'malformed response dropped',
          );
          return;
        }
        this.delegate?.onResponse(msg, flow);
      }
    } catch (err) {
      // A bug above us must not take the socket down.
      this.#log.log('error', 'handler-bug', { err }, 'error while handling a SIP message');
    }
  }

  /** A TCP/TLS stream could not be framed (the connection closes): 513 when the head allows it. */
  onFramingError(conn: StreamConnection, err: SipParseError, head: Buffer | undefined): void {
    this.#opts.counters.streamFramingErrors++;
    if (err.code === 'SIP_ERR_TOO_LARGE') {
      this.#opts.counters.oversize++;
    }
    this.#log.log(
      'info',
      `framing:${err.code}`,
      { code: err.code, remote: conn.remote, protocol: conn.protocol },
      'closing connection after a framing error',
    );
    if (head) {
      try {
        const text = head.toString('utf8');
        const lineEnd = text.indexOf('\r\n');
        if (!text.startsWith('SIP/') && lineEnd > 0) {
          const headers = parseHeaderLines(text.slice(lineEnd + 2, text.length - 4), true);
          this.#answerBroken(
            new SipParseError('SIP_ERR_TOO_LARGE', err.message, { isRequest: true, headers, status: 513 }),
            conn,
          );
        }
      } catch {
        // nothing can be answered
      }
    }
  }

  #answerBroken(err: SipParseError, flow: Flow): void {
    if (!err.isRequest || !err.headers || !hasResponseEssentials(err.headers)) {
      this.#opts.counters.malformedDropped++;
      this.#log.log(
        'debug',
        `unparseable:${err.code}`,
        { code: err.code, remote: flow.remote, bytes: err.message },
        'unparseable message dropped',
      );
      return;
    }
    this.#opts.counters.malformedRejected++;
    const req = new SipRequest(
      'X',
      'sip:invalid',
      err.headers.map((h) => ({ name: h.name, value: h.value })),
    );
    stampVia(req, flow);
    const reason = err.status === 400 ? `Bad Request (${err.code})` : undefined;
    const res = createErrorResponse(req.headers, err.status, reason);
    this.#log.log(
      'debug',
      `answered:${err.code}`,
      { code: err.code, remote: flow.remote, status: err.status },
      'malformed request answered',
    );
    this.#opts.sendResponse(res, flow);
  }
}
