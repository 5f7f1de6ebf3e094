/**
 * STT client cost: CPU per call-second of framing + encoding audio (float32 MessagePack) and of
 * decoding the server's messages, and how many concurrent streams one core keeps in real time
 * against the fake moshi-server (run in a child process so that only the client is measured).
 * Figures are measurements on a shared machine, never assertions.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { encode } from '@msgpack/msgpack';
import { audioMessageSize, decodeServerMessage, encodeAudio, FRAME_SAMPLES } from '../src/stt/protocol.js';
import { SttPool } from '../src/stt/SttPool.js';
import { ReplayBuffer } from '../src/stt/timing.js';
import type { SttStream } from '../src/stt/SttStream.js';

const FRAMES_PER_S = 12.5;

function cpuMs(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000;
}

function encodeCost(): void {
  const pcm = new Float32Array(FRAME_SAMPLES);
  for (let i = 0; i < pcm.length; i++) {
    pcm[i] = Math.sin(i / 9) * 0.4;
  }
  const frames = 12_500; // 1000 call-seconds
  cpuMs(() => {
    for (let i = 0; i < 500; i++) {
      encodeAudio(pcm);
    }
  });
  const ms = cpuMs(() => {
    for (let i = 0; i < frames; i++) {
      encodeAudio(pcm);
    }
  });
  const perCallS = (ms / frames) * FRAMES_PER_S;
  const generic = cpuMs(() => {
    for (let i = 0; i < 1250; i++) {
      encode({ type: 'Audio', pcm: Array.from(pcm) }, { forceFloat32: true, forceIntegerToFloat: true });
    }
  });
  console.log(
    `encode Audio (1920 × float32, 9619 B): ${((ms / frames) * 1000).toFixed(1)} µs/frame = ` +
      `${(perCallS * 1000).toFixed(0)} µs CPU per call-second (${((perCallS / 1000) * 100).toFixed(3)} % of a core per call)`,
  );
  console.log(
    `  for comparison, @msgpack/msgpack on a plain array: ${((generic / 1250) * 1000).toFixed(1)} µs/frame`,
  );
}

/**
 * One 80 ms frame from samples to the bytes `ws` writes (a client masks every payload): encoded
 * into a new Buffer (before) or into one reused buffer (now), then framed by `ws`'s Sender; and
 * the masking alone, `ws`'s JavaScript loop against the optional native `bufferutil` when it is
 * installed (`npm install bufferutil`; ws picks it up by itself).
 */
function sendPathCost(): void {
  const require = createRequire(import.meta.url);
  const { Sender } = require('ws') as {
    Sender: { frame(data: Buffer, o: Record<string, unknown>): Buffer[] };
  };
  const pcm = new Float32Array(FRAME_SAMPLES);
  for (let i = 0; i < pcm.length; i++) {
    pcm[i] = Math.sin(i / 9) * 0.4;
  }
  const opts = { fin: true, opcode: 2, mask: true, readOnly: true, rsv1: false };
  const scratch = Buffer.allocUnsafe(audioMessageSize(FRAME_SAMPLES));
  const frames = 12_500;
  const perFrameUs = (fn: () => void): number => {
    cpuMs(() => {
      for (let i = 0; i < 500; i++) {
        fn();
      }
    });
    return (
      (cpuMs(() => {
        for (let i = 0; i < frames; i++) {
          fn();
        }
      }) /
        frames) *
      1000
    );
  };
  const rounds: [string, () => void][] = [
    ['new Buffer per frame (before)', () => Sender.frame(encodeAudio(pcm) as Buffer, { ...opts })],
    ['reused encode buffer (now)', () => Sender.frame(encodeAudio(pcm, scratch) as Buffer, { ...opts })],
  ];
  // Alternate the variants so that the machine's load weighs on both alike.
  const sums = rounds.map(() => 0);
  for (let r = 0; r < 3; r++) {
    rounds.forEach(([, fn], k) => (sums[k] = (sums[k] ?? 0) + perFrameUs(fn)));
  }
  console.log('STT send path per frame (encode + ws framing with the client mask), 3 alternating rounds:');
  rounds.forEach(([label], k) => {
    const us = (sums[k] ?? 0) / 3;
    console.log(
      `  ${label.padEnd(32)} ${us.toFixed(1)} µs/frame = ${(us * FRAMES_PER_S).toFixed(0)} µs CPU per call-second`,
    );
  });
  const payload = encodeAudio(pcm) as Buffer;
  const out = Buffer.allocUnsafe(payload.length);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const jsUs = perFrameUs(() => {
    for (let i = 0; i < payload.length; i++) {
      out[i] = (payload[i] ?? 0) ^ (mask[i & 3] ?? 0);
    }
  });
  let native: { mask(s: Buffer, m: Buffer, o: Buffer, off: number, len: number): void } | undefined;
  try {
    native = require('bufferutil') as typeof native;
  } catch {
    native = undefined;
  }
  const nativeUs = native ? perFrameUs(() => native.mask(payload, mask, out, 0, payload.length)) : NaN;
  console.log(
    `  masking 9619 B: ws's JavaScript loop ${jsUs.toFixed(1)} µs, bufferutil ` +
      (native
        ? `${nativeUs.toFixed(1)} µs (saves ${((jsUs - nativeUs) * FRAMES_PER_S).toFixed(0)} µs CPU per call-second)`
        : 'not installed'),
  );
}

/**
 * The failover replay buffer of one call (10 s = 125 frames), heap measured after a full
 * collection: the float32 frames held by reference (before) against the 16-bit ring (now).
 */
function replayBufferMemory(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    console.log('replay buffer memory: run with --expose-gc (npm run bench does)');
    return;
  }
  const calls = 50;
  const frames = 200; // 16 s: the 10 s window is full and has wrapped
  const pcm = (k: number): Float32Array => new Float32Array(FRAME_SAMPLES).fill((k % 100) / 1024);
  const heap = (): number => {
    gc();
    return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  };
  const h0 = heap();
  const before: Float32Array[][] = [];
  for (let c = 0; c < calls; c++) {
    const ring: Float32Array[] = [];
    for (let k = 0; k < frames; k++) {
      ring[k % 125] = pcm(k);
    }
    before.push(ring);
  }
  const h1 = heap();
  const now: ReplayBuffer[] = [];
  for (let c = 0; c < calls; c++) {
    const rb = new ReplayBuffer(125);
    for (let k = 0; k < frames; k++) {
      rb.push(pcm(k));
    }
    now.push(rb);
  }
  const h2 = heap();
  const narrow: ReplayBuffer[] = [];
  for (let c = 0; c < calls; c++) {
    const rb = new ReplayBuffer(125, 'narrowband');
    for (let k = 0; k < frames; k++) {
      rb.push(pcm(k));
    }
    narrow.push(rb);
  }
  const h3 = heap();
  const kb = (b: number): string => `${(b / calls / 1000).toFixed(0)} kB`;
  console.log(
    `replay buffer per call (10 s, ${calls} calls, heap + ArrayBuffers after gc): float32 frames held (before) ` +
      `${kb(h1 - h0)}, 16-bit ring (wideband sources) ${kb(h2 - h1)}, 8 kHz μ-law ring (RTP sources) ` +
      `${kb(h3 - h2)} (${before.length + now.length + narrow.length} buffers alive)`,
  );
}

function decodeCost(): void {
  // One call-second from a 1B server: 12.5 Step, ~3 Word, ~2 EndWord.
  const step = encode({ type: 'Step', step_idx: 90412, prs: [0.91, 0.88, 0.93, 0.95], buffered_pcm: 0 });
  const word = encode({ type: 'Word', text: 'appointment.', start_time: 2.4 });
  const end = encode({ type: 'EndWord', stop_time: 1.68 });
  const second = [...Array<Uint8Array>(12).fill(step), step, word, word, word, end, end];
  const reps = 20_000;
  const ms = cpuMs(() => {
    for (let i = 0; i < reps; i++) {
      for (const m of second) {
        decodeServerMessage(m);
      }
    }
  });
  console.log(
    `decode server messages (12.5 Step + 3 Word + 2 EndWord per call-second): ${((ms / reps) * 1000).toFixed(0)} µs CPU per call-second`,
  );
}

async function startFakeChild(slots = 2000): Promise<{ url: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [
      ...(process.env['FAKE_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['FAKE_PROF']}`] : []),
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      "const { FakeMoshiServer } = await import('./test/helpers/fakeMoshiServer.ts'); " +
        `const f = await FakeMoshiServer.start({ slots: ${slots}, idleTimeoutMs: 60000, record: false }); ` +
        "process.on('SIGTERM', () => process.exit(0)); console.log('URL ' + f.url);",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /URL (\S+)/.exec(out);
      if (m?.[1]) {
        resolve(m[1]);
      }
    });
    child.once('exit', () => reject(new Error('fake moshi-server child exited')));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

async function concurrency(): Promise<void> {
  const fake = await startFakeChild();
  const pool = new SttPool({
    servers: [{ url: fake.url }],
    readyTimeoutMs: 10_000,
    stream: { lagThresholdMs: 1e9 },
  });
  const pcm = new Float32Array(FRAME_SAMPLES);
  for (let i = 0; i < pcm.length; i++) {
    pcm[i] = Math.sin(i / 9) * 0.4;
  }
  console.log('concurrent streams (client process only; the fake runs in a child process):');
  for (const n of [25, 100, 200, 400]) {
    const streams: SttStream[] = [];
    for (let i = 0; i < n; i++) {
      const r = await pool.reserve();
      if (!r) {
        break;
      }
      streams.push(pool.open(r, { callId: `b${i}` }, {}));
    }
    const refused = n - streams.length;
    const seconds = 5;
    const warmup = 13; // 1 s: every pacer leaves its start-up catch-up before measuring
    let t0 = performance.now();
    const start = t0;
    let c0 = process.cpuUsage();
    let filled0 = 0;
    let ticks = 0;
    const late: number[] = [];
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const due = start + ticks * 80;
        if (ticks >= warmup) {
          late.push(performance.now() - due);
        }
        for (const s of streams) {
          s.pushFrame(pcm);
        }
        ticks++;
        if (ticks === warmup) {
          t0 = performance.now();
          c0 = process.cpuUsage();
          filled0 = streams.reduce((x, s) => x + s.stats.framesFilled, 0);
        }
        if (ticks >= warmup + seconds * FRAMES_PER_S) {
          resolve();
          return;
        }
        setTimeout(tick, Math.max(0, start + ticks * 80 - performance.now()));
      };
      tick();
    });
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1000 / wall;
    const filled = streams.reduce((x, s) => x + s.stats.framesFilled, 0) - filled0;
    const lag = Math.max(...streams.map((s) => s.stats.maxSocketBuffered));
    late.sort((x, y) => x - y);
    const p99 = late[Math.floor(late.length * 0.99)] ?? 0;
    const maxLateMs = late[late.length - 1] ?? 0;
    console.log(
      `  ${String(streams.length).padStart(4)} streams: client CPU ${(cpu * 100).toFixed(0)} % of a core, ` +
        `frame lateness p99 ${p99.toFixed(0)} ms / max ${maxLateMs.toFixed(0)} ms, ` +
        `silence inserted ${filled} of ${streams.length * (ticks - warmup)} frames, ` +
        `max socket backlog ${(lag / 1024).toFixed(0)} KiB${refused ? `, ${refused} not admitted` : ''} → ` +
        `${maxLateMs < 240 && filled === 0 ? 'real time' : 'NOT real time'}`,
    );
    for (const s of streams) {
      s.close();
    }
    await new Promise((r) => setTimeout(r, 500));
    if (cpu > 0.95 || maxLateMs >= 1000) {
      break;
    }
  }
  await pool.stop();
  fake.stop();
  console.log(
    '  (the fake moshi-server, a JavaScript test double, is what limits higher counts on this machine;\n' +
      '   one core for the client alone ≈ 100 % / (client CPU % per stream) streams)',
  );
}

/** `--setup-only`: each call takes its slot and gives it back (no stream, no flush). */
const setupOnly = process.argv.includes('--setup-only');

const pct = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;

/** One burst: `rate` call setups per second for `seconds`, each a stream opened, fed and flushed. */
async function burst(label: string, rate: number, seconds: number, pool: SttPool): Promise<void> {
  const pcm = new Float32Array(FRAME_SAMPLES);
  const setups: number[] = [];
  let refused = 0;
  const calls: Promise<void>[] = [];
  const call = async (k: number): Promise<void> => {
    const t0 = performance.now();
    const adm = await pool.admit();
    if (adm.decision !== 'stream') {
      refused++;
      return;
    }
    setups.push(performance.now() - t0);
    if (setupOnly) {
      adm.reservation.release();
      return;
    }
    const s = pool.open(adm.reservation, { callId: `burst${k}` }, {});
    s.pushFrame(pcm);
    await s.flush();
  };
  const total = Math.round(rate * seconds);
  const start = performance.now();
  // Calls are started in 10 ms batches (the event loop's granularity), on schedule.
  await new Promise<void>((resolve) => {
    let started = 0;
    const tick = (): void => {
      const due = Math.min(total, Math.ceil(((performance.now() - start) / 1000) * rate));
      for (; started < due; started++) {
        calls.push(call(started));
      }
      if (started >= total) {
        resolve();
        return;
      }
      setTimeout(tick, 10);
    };
    tick();
  });
  const offeredS = (performance.now() - start) / 1000;
  await Promise.all(calls);
  setups.sort((a, b) => a - b);
  const st = pool.stats;
  console.log(
    `  ${label.padEnd(44)} ${String(rate).padStart(5)}/s offered: ${setups.length} set up, ${refused} refused ` +
      `(${((refused / total) * 100).toFixed(1)} %), setup p50 ${pct(setups, 0.5).toFixed(1)} ms / p99 ` +
      `${pct(setups, 0.99).toFixed(1)} ms / max ${(setups.at(-1) ?? 0).toFixed(0)} ms, ` +
      `${(total / offeredS).toFixed(0)} setups/s offered in fact, warm hits ${st.warmHits}, slow handshakes ${st.slowHandshakes}`,
  );
}

/** Warnings and errors of the pool under a burst, on stderr (`--verbose`). */
const benchLogger = process.argv.includes('--verbose')
  ? {
      debug: (): void => undefined,
      info: (): void => undefined,
      warn: (o: object, m: string): void => console.error('warn', m, JSON.stringify(o)),
      error: (o: object, m: string): void => console.error('error', m, JSON.stringify(o)),
    }
  : undefined;

/**
 * Call bursts with the STT in the loop (issue 16 item 5): calls set up at a fixed rate, each
 * taking a slot (`admit()`), streaming a frame and flushing, against the fake moshi-server in a
 * child process with 5000 slots; the pool before (no warm set, fixed 3 s Ready bound, no trial
 * during a backoff) and now (warm set, adaptive bound, breaker trial) in the same run.
 */
async function bursts(): Promise<void> {
  const fake = await startFakeChild(5000);
  console.log(
    'call bursts with the STT in the loop (client and fake on this machine; fake in a child process):',
  );
  const configs: { label: string; opts: Partial<ConstructorParameters<typeof SttPool>[0]> }[] = [
    {
      label: 'before: no warm set/gate, 3 s bound, no trial',
      opts: {
        warm: { perServer: 0 },
        readyTimeoutMaxMs: 3000,
        trialIntervalMs: 1e9,
        downProbeIntervalMs: 10_000,
        connectConcurrency: 1e9,
      },
    },
    { label: 'warm set 2/server, gate 128, adaptive, trial', opts: { warm: { perServer: 2 } } },
    { label: 'warm set 8/server, gate 128, adaptive, trial', opts: { warm: { perServer: 8 } } },
    { label: 'warm set 2, handshake gate 32', opts: { warm: { perServer: 2 }, connectConcurrency: 32 } },
    { label: 'warm set 2, handshake gate 256', opts: { warm: { perServer: 2 }, connectConcurrency: 256 } },
  ];
  const rates = (process.argv.find((a) => a.startsWith('--rates='))?.slice(8) ?? '200,500,1000,1500')
    .split(',')
    .map(Number);
  const only = process.argv.find((a) => a.startsWith('--configs='))?.slice(10);
  for (const rate of rates) {
    for (const [k, c] of configs.entries()) {
      if (only !== undefined && !only.split(',').includes(String(k))) {
        continue;
      }
      const pool = new SttPool({
        servers: [{ url: fake.url }],
        whenFull: 'reject',
        ...c.opts,
        logger: benchLogger,
      });
      await pool.start();
      // Let the warm set fill before the burst.
      await new Promise((r) => setTimeout(r, 300));
      await burst(c.label, rate, 2, pool);
      await pool.stop();
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  fake.stop();
}

export async function run(): Promise<void> {
  console.log('(measured on a shared 2-core machine: figures vary with the other agents’ load)');
  if (process.argv.includes('--send')) {
    // `npm run bench -- stt --send`: only the send path and the replay buffer.
    sendPathCost();
    replayBufferMemory();
    return;
  }
  if (process.argv.includes('--bursts')) {
    // `npm run bench -- stt --bursts`: only the call bursts.
    await bursts();
    return;
  }
  encodeCost();
  sendPathCost();
  replayBufferMemory();
  decodeCost();
  await concurrency();
  await bursts();
}
