/**
 * `npm run bench -- media`: the jitter buffer's audio quality (the CPU and memory figures are in
 * media.bench.ts).
 *
 * 1. Time-scaling on speech: fox_long (8 kHz) played 10 % faster and 10 % slower in 20 ms frames, as
 *    the buffer's steering does it, with the pitch-period scaler (rtp/dsp/PitchScaler) and with the
 *    linear frame resampling used before: the median autocorrelation pitch of the voiced 40 ms frames
 *    against the original's, and the same on a 123 Hz voiced tone.
 * 2. Network events through the buffer (a fake clock, in memory; test/rtp/jitter/netsim.ts): for each
 *    sustained delay step, a 300 ms freeze with its burst and a sender pausing without advancing its
 *    timestamps, the output gap where the audio waited (concealment, then silence), input samples
 *    missing from the output, packets dropped as late, and the delay afterwards.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PitchScaler } from '../rtp/dsp/PitchScaler.js';
import { JitterBuffer } from '../rtp/jitter/JitterBuffer.js';
import { wavToInt16, parseWav } from '../rtp/wav.js';
import { FIXTURES } from '../test/helpers/paths.js';
import {
  autocorrPitch,
  harmonicTone,
  linearScaler,
  scaleSignal,
  type FrameScaler,
} from '../test/rtp/dsp/pitch.js';
import { coverage, runNet, sender, type NetPacket } from '../test/rtp/jitter/netsim.js';

const scaler = new PitchScaler(8000);
const pitchScaler: FrameScaler = (src, avail, out, frame, budget) =>
  budget > 0 ? scaler.shrink(src, avail, out, frame, budget) : scaler.grow(src, avail, out, frame, -budget);

/** Median f0 (Hz) of the voiced 40 ms frames (normalised autocorrelation peak ≥ 0.6, not quiet). */
function medianPitch(x: Int16Array): number {
  const f0s: number[] = [];
  for (let at = 0; at + 320 <= x.length; at += 160) {
    const w = x.subarray(at, at + 320);
    let e = 0;
    for (const v of w) {
      e += v * v;
    }
    if (e / 320 < 300 ** 2) {
      continue;
    }
    let best = 0;
    for (let lag = 20; lag <= 115; lag++) {
      let c = 0;
      let e1 = 0;
      let e2 = 0;
      for (let i = 0; i + lag < 320; i++) {
        c += w[i]! * w[i + lag]!;
        e1 += w[i]! * w[i]!;
        e2 += w[i + lag]! * w[i + lag]!;
      }
      best = Math.max(best, c / Math.sqrt(e1 * e2 || 1));
    }
    if (best >= 0.6) {
      f0s.push(autocorrPitch(w, 8000, 70, 400));
    }
  }
  f0s.sort((a, b) => a - b);
  return f0s[Math.floor(f0s.length / 2)] ?? Number.NaN;
}

function timeScaleQuality(): void {
  const speech = wavToInt16(parseWav(readFileSync(join(FIXTURES, 'audio/fox_long_pcm16_8k.wav'))));
  const tone = harmonicTone(123, 5);
  console.log('time-scaling, 20 ms frames, 10 % credit per frame (pitch: median of voiced 40 ms frames)');
  console.log('signal      method          rate     length   pitch     pitch change');
  for (const [name, x, measure] of [
    ['speech', speech, medianPitch],
    ['tone 123 Hz', tone, (y: Int16Array) => autocorrPitch(y)],
  ] as const) {
    const f0 = measure(x);
    console.log(`${name.padEnd(11)} original        —        1.000    ${f0.toFixed(1).padStart(5)} Hz`);
    for (const percent of [10, -10]) {
      for (const [label, s] of [
        ['pitch periods', pitchScaler],
        ['linear (old)', linearScaler],
      ] as const) {
        const y = scaleSignal(x, percent, s);
        const len = y.length / (x.length - 520);
        const f = measure(y);
        console.log(
          `${name.padEnd(11)} ${label.padEnd(15)} ${(percent > 0 ? '+' : '') + percent} %`.padEnd(37) +
            `${len.toFixed(3)}    ${f.toFixed(1).padStart(5)} Hz  ${(((f - f0) / f0) * 100).toFixed(2).padStart(6)} %`,
        );
      }
    }
  }
}

interface EventFigures {
  gapMs: number;
  missing: number;
  late: number;
  delayAfterMs: number;
}

/** Runs `packets` (1500 of them) and measures around input packet `at`. */
function measure(packets: NetPacket[], at: number, endMs: number): EventFigures {
  const jb = new JitterBuffer();
  const run = runNet(jb, packets, endMs);
  const total = 1500 * 160;
  const cov = coverage(run.samples, total);
  // The lag of the first sample after the event minus that of the last sample before it.
  const before = cov.where[at * 160 - 1]! - (at * 160 - 1);
  let k = at * 160;
  while (k < total && cov.where[k]! < 0) {
    k++;
  }
  const after = cov.where[k]! - k;
  return {
    gapMs: (after - before) / 8,
    missing: total - cov.covered,
    late: jb.getStats().late,
    delayAfterMs: run.delays.at(-30)!,
  };
}

function networkEvents(): void {
  console.log(
    '\nnetwork events, 30 s calls of 20 ms packets, 20 ms base transit, 0.5 ms jitter, default settings',
  );
  console.log('event                                gap (waited)   input missing   late   delay at the end');
  const rows: [string, EventFigures][] = [];
  for (const step of [40, 80, 150, 300]) {
    let seed = step;
    const r = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 0.5;
    const packets = sender(1500, { delay: (_k, sent) => 20 + r() + (sent >= 11_000 ? step : 0) });
    rows.push([`sustained step +${step} ms`, measure(packets, 500, 32_000)]);
  }
  rows.push([
    'freeze 300 ms, then the burst',
    measure(
      sender(1500, { delay: (_k, sent) => 20 + (sent >= 10_000 && sent < 10_300 ? 10_300 - sent : 0) }),
      450,
      32_000,
    ),
  ]);
  for (const ms of [500, 2000]) {
    rows.push([
      `sender pauses ${ms} ms, ts not advanced`,
      measure(sender(1500, { delay: () => 20, pauses: [{ atPacket: 500, ms }] }), 500, 34_000),
    ]);
  }
  for (const [label, f] of rows) {
    console.log(
      `${label.padEnd(36)} ${f.gapMs.toFixed(0).padStart(6)} ms     ${String(f.missing).padStart(6)} samples  ${String(f.late).padStart(4)}   ${f.delayAfterMs.toFixed(1)} ms`,
    );
  }
  console.log('(input missing = samples taken out by time-scaling while the delay shrank back)');
}

export function run(): Promise<void> {
  timeScaleQuality();
  networkEvents();
  return Promise.resolve();
}
