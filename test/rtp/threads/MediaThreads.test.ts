import { createSocket, type Socket } from 'node:dgram';
import type { MessagePort } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../lib/logger.js';
import { RtpError, RtpPortsExhaustedError, RtpSessionStateError } from '../../../rtp/errors.js';
import { serializeRtp } from '../../../rtp/packet/RtpPacket.js';
import type { RtpSessionDelegate, RtpSessionStats } from '../../../rtp/session/types.js';
import { MediaThreads, type RemoteRtpSession } from '../../../rtp/threads/MediaThreads.js';
import { remoteMedia } from '../session/remoteMedia.js';

const HOST = '127.0.0.1';
const RANGE = { host: HOST, portMin: 21000, portMax: 21999 };

const pools: MediaThreads[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.close());
  await Promise.all(pools.splice(0).map((p) => p.stop()));
});

function pool(threads: number, logger?: Logger): MediaThreads {
  const p = new MediaThreads({ threads, ...(logger ? { logger } : {}) });
  pools.push(p);
  return p;
}

/** The caller's side: a UDP socket on loopback. */
async function peer(): Promise<{ sock: Socket; port: number }> {
  const sock = createSocket('udp4');
  sockets.push(sock);
  await new Promise<void>((r) => sock.bind(0, HOST, () => r()));
  return { sock, port: sock.address().port };
}

/** A PCMU packet with a constant payload byte. */
function pcmu(seq: number, byte = 0x80): Uint8Array {
  return serializeRtp(
    { payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc: 0x1234 },
    new Uint8Array(160).fill(byte),
  );
}

/** μ-law code → linear, by the ITU-T G.711 formula (independent of rtp/codec). */
function ulawValue(code: number): number {
  const u = ~code & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 7);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

/** A delegate that records what comes, and resolves `until(pred)` once it holds. */
function recorder() {
  const frames: { frame: Float32Array; offsetMs: number }[] = [];
  const dtmf: string[] = [];
  const events: string[] = [];
  const waiters: (() => void)[] = [];
  const poke = (): void => waiters.splice(0).forEach((w) => w());
  const delegate: RtpSessionDelegate = {
    onFrame: (frame, offsetMs) => {
      frames.push({ frame: Float32Array.from(frame), offsetMs });
      poke();
    },
    onDtmf: (e) => {
      dtmf.push(e.digit);
      poke();
    },
    onTimeout: () => {
      events.push('timeout');
      poke();
    },
    onFailed: (err) => {
      events.push(`failed: ${err.message}`);
      poke();
    },
  };
  const until = async (pred: () => boolean): Promise<void> => {
    while (!pred()) {
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  return { frames, dtmf, events, delegate, until };
}

function lines(): { logger: Logger; seen: string[] } {
  const seen: string[] = [];
  const line = (obj: object, msg?: string): void => void seen.push(msg ?? JSON.stringify(obj));
  return { seen, logger: { debug: line, info: line, warn: line, error: line } };
}

describe('MediaThreads: RTP sessions on worker threads', () => {
  it('receives RTP on the thread and delivers its 24 kHz frames, log lines and last figures on the main thread', async () => {
    const log = lines();
    const threads = pool(1);
    const rec = recorder();
    const s = await threads.open({ ...RANGE, sendBack: 'none' }, log.logger, rec.delegate);
    expect(s.localPort % 2).toBe(0);
    expect(s.localPort).toBeGreaterThanOrEqual(21000);
    const caller = await peer();
    s.start(remoteMedia({ address: HOST, port: caller.port, rtcpPort: caller.port + 1 }));
    // 400 ms of μ-law 0x80 (+32124, ITU-T G.711 Table 2), one packet per 20 ms.
    const expected = ulawValue(0x80) / 32768;
    const sent = 20;
    for (let seq = 0; seq < sent; seq++) {
      caller.sock.send(pcmu(seq), s.localPort, HOST);
    }
    const loud = (f: Float32Array): boolean => f.slice(600, 1800).every((v) => Math.abs(v - expected) < 0.01);
    // The thread's figures come once a second: wait for the ones that count every packet.
    await rec.until(() => rec.frames.some((f) => loud(f.frame)) && s.getStats().received === sent);
    // Frames come every 80 ms of call time, numbered from start().
    const offsets = rec.frames.map((f) => f.offsetMs);
    expect(offsets).toEqual(offsets.map((_, i) => i * 80));
    expect(rec.frames.every((f) => f.frame.length === 1920)).toBe(true);
    expect(log.seen).toContain('rtp session started');
    s.close();
    const final: RtpSessionStats = await s.closed;
    expect(final.received).toBe(sent);
    expect(final.frames).toBeGreaterThanOrEqual(rec.frames.length);
    expect(log.seen).toContain('rtp session closed');
    // No frame after close().
    const n = rec.frames.length;
    await threads.stop();
    expect(rec.frames.length).toBe(n);
  });

  it('carries DTMF (RFC 4733) and the RTP timeout to the main thread', async () => {
    const threads = pool(1);
    const rec = recorder();
    const s = await threads.open(
      { ...RANGE, timeoutMs: 1000, sendBack: 'none' },
      lines().logger,
      rec.delegate,
    );
    const caller = await peer();
    s.start(remoteMedia({ address: HOST, port: caller.port, rtcpPort: caller.port + 1 }));
    const ev = (seq: number, end: boolean, duration: number): Uint8Array =>
      serializeRtp(
        { payloadType: 101, sequenceNumber: seq, timestamp: 0, ssrc: 0x1234, marker: seq === 0 },
        new Uint8Array([9, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]),
      );
    caller.sock.send(ev(0, false, 160), s.localPort, HOST);
    caller.sock.send(ev(1, true, 800), s.localPort, HOST);
    await rec.until(() => rec.dtmf.length > 0);
    expect(rec.dtmf).toEqual(['9']);
    // Then nothing: the timeout (1 s) comes from the thread.
    await rec.until(() => rec.events.includes('timeout'));
    expect(s.getStats()).toBeDefined();
  });

  it('checks a remote description on the main thread, before it crosses', async () => {
    const threads = pool(1);
    const s = await threads.open(RANGE, lines().logger, {});
    expect(() => s.start(remoteMedia({ codec: 'G729' as 'PCMU' }))).toThrow(/unsupported codec/);
    expect(() => s.update(remoteMedia())).toThrow(RtpSessionStateError);
    expect(() =>
      s.start(
        remoteMedia({
          srtp: {
            suite: 'AES_CM_128_HMAC_SHA1_80',
            remoteKey: new Uint8Array(30),
            localKey: new Uint8Array(29),
          },
        }),
      ),
    ).toThrow(/SRTP keys refused/);
    s.start(remoteMedia());
    expect(() => s.start(remoteMedia())).toThrow(RtpSessionStateError);
    s.close();
    await s.closed;
  });

  it('reports an exhausted port range as RtpPortsExhaustedError, and bad options before anything crosses', async () => {
    const threads = pool(1);
    const taken = createSocket('udp4');
    sockets.push(taken);
    await new Promise<void>((r) => taken.bind(21500, HOST, () => r()));
    await expect(
      threads.open({ host: HOST, portMin: 21500, portMax: 21501 }, lines().logger),
    ).rejects.toBeInstanceOf(RtpPortsExhaustedError);
    await expect(
      threads.open({ host: HOST, portMin: 21500, portMax: 21500 }, lines().logger),
    ).rejects.toThrow(/invalid RTP port range/);
  });

  it('spreads sessions over the threads, the least loaded first', async () => {
    const threads = pool(2);
    const open: RemoteRtpSession[] = [];
    for (let i = 0; i < 4; i++) {
      open.push(await threads.open(RANGE, lines().logger));
    }
    expect(threads.sessions()).toEqual([2, 2]);
    open.forEach((s) => s.close());
    await Promise.all(open.map((s) => s.closed));
    expect(threads.sessions()).toEqual([0, 0]);
  });

  it('a thread that dies fails its sessions (onFailed, logged once) and a new one serves the next call', async () => {
    const log = lines();
    const threads = pool(1, log.logger);
    const rec = recorder();
    const s = await threads.open(RANGE, lines().logger, rec.delegate);
    s.start(remoteMedia());
    await threads.terminateThread(0);
    await rec.until(() => rec.events.length > 0);
    expect(rec.events).toEqual([expect.stringMatching(/^failed: /)]);
    expect(threads.deaths()).toBe(1);
    expect(log.seen.filter((l) => l.startsWith('media thread died'))).toHaveLength(1);
    await s.closed;
    const next = await threads.open(RANGE, lines().logger, {});
    expect(next.localPort).toBeGreaterThan(0);
    next.close();
    await next.closed;
  });

  it('a delegate that throws is logged once; the other calls of its batch still get their frames', async () => {
    const threads = pool(1);
    const badLog = lines();
    let thrown = 0;
    const bad = await threads.open(RANGE, badLog.logger, {
      onFrame: () => {
        thrown++;
        throw new Error('bug in a call');
      },
    });
    const rec = recorder();
    const good = await threads.open(RANGE, lines().logger, rec.delegate);
    bad.start(remoteMedia());
    good.start(remoteMedia());
    // Silence frames flow from start(), every 80 ms, for both calls.
    await rec.until(() => rec.frames.length >= 5 && thrown >= 5);
    expect(badLog.seen.filter((l) => l === 'unexpected error in an rtp delegate')).toHaveLength(1);
  });

  it("loads the application's extension on every thread with a port of its own, again on a thread that replaces a dead one", async () => {
    const attached: { port: MessagePort; index: number }[] = [];
    const threads = new MediaThreads({
      threads: 2,
      logLevel: 'warn',
      extension: {
        module: new URL('./echoExtension.ts', import.meta.url).href,
        attach: (port, index) => attached.push({ port, index }),
      },
    });
    pools.push(threads);
    const ask = (port: MessagePort, msg: unknown): Promise<unknown> =>
      new Promise((resolve) => {
        port.once('message', resolve);
        port.postMessage(msg);
      });
    expect(attached.map((a) => a.index)).toEqual([0, 1]);
    expect(await ask(attached[0]!.port, 'a')).toEqual({ echo: 'a', logLevel: 'warn', isMainThread: false });
    expect(await ask(attached[1]!.port, 'b')).toEqual({ echo: 'b', logLevel: 'warn', isMainThread: false });
    const closed = new Promise((r) => attached[1]!.port.once('close', r));
    await threads.terminateThread(1);
    await closed;
    // The next session goes on the empty slot: a new thread, attached under the same index.
    const s = await threads.open(RANGE, lines().logger, {});
    expect(attached.map((a) => a.index)).toEqual([0, 1, 1]);
    expect(await ask(attached[2]!.port, 'c')).toEqual({ echo: 'c', logLevel: 'warn', isMainThread: false });
    s.close();
    await s.closed;
  });

  it('refuses sessions once stopped', async () => {
    const threads = pool(1);
    await threads.stop();
    await expect(threads.open(RANGE, lines().logger)).rejects.toBeInstanceOf(RtpError);
  });
});
