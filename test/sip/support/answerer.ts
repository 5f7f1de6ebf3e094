/**
 * A test-only runner: a SipStack on loopback whose delegate rings (optionally for a while) and
 * answers every call with a loopback RTP address and a free port (no RTP is sent or received:
 * media is not this layer's job). Records every call and how it ended.
 */
import {
  SipStack,
  type IncomingCall,
  type ListenEntry,
  type MediaDescription,
  type EndReason,
  type OfferedStream,
} from '../../../sip/index.js';
import type { Logger } from '../../../lib/logger.js';
import { freePort } from '../../helpers/ports.js';

export interface CallRecord {
  call: IncomingCall;
  remote?: MediaDescription;
  ended: Promise<EndReason>;
  media: MediaDescription[];
  dtmf: string[];
  /** For a recording session (`siprec`): the streams answered. */
  streams?: OfferedStream[];
}

export interface Answerer {
  stack: SipStack;
  host: string;
  port: number;
  tlsPort: number | undefined;
  calls: CallRecord[];
  stop(): Promise<void>;
}

export interface AnswererOptions {
  host?: string;
  /** Ring this long before answering (0: answer at once, without 180). */
  ringMs?: number;
  codecs?: ('PCMU' | 'PCMA')[];
  tls?: { certFile: string; keyFile: string };
  /** Our Min-SE in seconds (RFC 4028; below 90 only for tests). */
  minSE?: number;
  /** Reject every call with this status instead of answering. */
  rejectWith?: number;
  logger?: Logger;
  /** Be a SIPREC recorder: recording sessions are answered stream by stream (`answerRecording`). */
  siprec?: boolean;
}

export async function startAnswerer(opts: AnswererOptions = {}): Promise<Answerer> {
  const host = opts.host ?? '127.0.0.1';
  const port = await freePort(host);
  const tlsPort = opts.tls ? await freePort(host) : undefined;
  const listen: ListenEntry[] = [
    { transport: 'udp', host, port },
    { transport: 'tcp', host, port },
  ];
  if (opts.tls && tlsPort !== undefined) {
    listen.push({
      transport: 'tls',
      host,
      port: tlsPort,
      certFile: opts.tls.certFile,
      keyFile: opts.tls.keyFile,
    });
  }
  const calls: CallRecord[] = [];
  const stack = new SipStack(
    {
      listen,
      userAgent: 'sipscribe-test',
      ...(opts.codecs ? { codecs: opts.codecs } : {}),
      ...(opts.minSE !== undefined ? { sessionTimer: { minSE: opts.minSE } } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.siprec ? { siprec: true } : {}),
    },
    {
      onInvite: (call) => {
        const rec: CallRecord = {
          call,
          ended: new Promise((resolve) => call.on('ended', resolve)),
          media: [],
          dtmf: [],
        };
        call.on('mediaUpdated', (d) => rec.media.push(d));
        call.on('dtmf', (d) => rec.dtmf.push(d.digit));
        calls.push(rec);
        if (opts.rejectWith !== undefined) {
          call.reject(opts.rejectWith);
          return;
        }
        const answer = async (): Promise<void> => {
          // A free port to advertise; nothing listens on it (RTP is not this layer's job).
          const rtpPort = await freePort(host);
          if (call.state !== 'offered' && call.state !== 'ringing') {
            return;
          }
          const recording = call.recording;
          if (recording) {
            const locals = [];
            for (let i = 0; i < recording.streams.length; i++) {
              locals.push({ address: host, port: i === 0 ? rtpPort : await freePort(host) });
            }
            call.answerRecording(locals).then(
              (streams) => {
                rec.streams = streams;
              },
              () => undefined,
            );
            return;
          }
          call.answer({ address: host, port: rtpPort }).then(
            (remote) => {
              rec.remote = remote;
            },
            () => undefined,
          );
        };
        if ((opts.ringMs ?? 0) > 0) {
          call.ring();
          setTimeout(() => void answer(), opts.ringMs);
        } else {
          void answer();
        }
      },
    },
  );
  await stack.start();
  return { stack, host, port, tlsPort, calls, stop: () => stack.stop() };
}
