/**
 * `npm run bench -- dsp`: cost and quality of the media DSP (rtp/codec, rtp/dsp) per second of call
 * audio, against the tutorial bridge approach (per-sample Buffer reads/writes, G.711 decoded by
 * arithmetic per sample, linear interpolation to 24 kHz, a fresh Buffer per packet).
 *
 * Figures are CPU time (process.cpuUsage) for N call-seconds of 20 ms packets, best of 3 runs after
 * a warm-up. The machine may be shared: read the ratios more than the absolute numbers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeUlaw } from '../rtp/codec/g711.js';
import { G711Plc } from '../rtp/dsp/G711Plc.js';
import { resample } from '../rtp/dsp/Resampler.js';
import { Upsampler8to24 } from '../rtp/dsp/Upsampler8to24.js';
import { FIXTURES } from '../test/helpers/paths.js';
import { LINEAR_DELAY, linearUpsample, measure, readF32, readPcm16Wav } from '../test/rtp/dsp/quality.js';

const CALL_SECONDS = 200;
const PACKETS = 50 * CALL_SECONDS;

/** CPU ms of `fn()` (best of `runs`, after one warm-up call). */
function cpuMs(fn: () => void, runs = 3): number {
  fn();
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = process.cpuUsage();
    fn();
    const d = process.cpuUsage(t0);
    best = Math.min(best, (d.user + d.system) / 1000);
  }
  return best;
}

// --- the tutorial approach, as the bridges this product replaces write it ---

/** μ-law decode by arithmetic, one sample at a time (the common snippet). */
function tutorialUlaw(u: number): number {
  u = ~u & 0xff;
  const sign = u & 0x80;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  let sample = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  if (sign) {
    sample = -sample;
  }
  return sample;
}

function tutorialDecode(payload: Buffer): Buffer {
  const pcm = Buffer.alloc(payload.length * 2);
  for (let i = 0; i < payload.length; i++) {
    pcm.writeInt16LE(tutorialUlaw(payload[i]!), i * 2);
  }
  return pcm;
}

/** Linear interpolation 8 → 24 kHz within the packet (the next sample, or the last one repeated). */
function tutorialUpsample(pcm: Buffer): Buffer {
  const n = pcm.length / 2;
  const out = Buffer.alloc(n * 3 * 4);
  for (let i = 0; i < n; i++) {
    const s = pcm.readInt16LE(i * 2) / 32768;
    const next = i + 1 < n ? pcm.readInt16LE((i + 1) * 2) / 32768 : s;
    for (let k = 0; k < 3; k++) {
      out.writeFloatLE(s + ((next - s) * k) / 3, (i * 3 + k) * 4);
    }
  }
  return out;
}

function fmt(ms: number): string {
  return `${(ms / CALL_SECONDS).toFixed(4)} ms CPU per call-second`;
}

export async function run(): Promise<void> {
  await Promise.resolve();
  const ul = readFileSync(join(FIXTURES, 'audio', 'fox_pcmu_8k.ul'));
  const packets: Buffer[] = [];
  for (let p = 0; p + 160 <= ul.length; p += 160) {
    packets.push(ul.subarray(p, p + 160));
  }
  const packet = (i: number): Buffer => packets[i % packets.length]!;

  console.log(
    `${CALL_SECONDS} call-seconds (${PACKETS} packets of 20 ms), best of 3; machine shared with other agents`,
  );

  // G.711 decode.
  const pcm = new Int16Array(160);
  const decodeOurs = cpuMs(() => {
    for (let i = 0; i < PACKETS; i++) {
      decodeUlaw(packet(i), pcm);
    }
  });
  const decodeTut = cpuMs(() => {
    for (let i = 0; i < PACKETS; i++) {
      tutorialDecode(packet(i));
    }
  });
  const perSample = (ms: number): string => `${((ms * 1e6) / (PACKETS * 160)).toFixed(2)} ns/sample`;
  console.log(`G.711 decode   ours: ${fmt(decodeOurs)} (${perSample(decodeOurs)})`);
  console.log(
    `G.711 decode   tutorial: ${fmt(decodeTut)} (${perSample(decodeTut)})  ratio ${(decodeTut / decodeOurs).toFixed(1)}×`,
  );

  // 8 → 24 kHz.
  const up = new Upsampler8to24();
  const out = new Float32Array(480);
  const pcms: Int16Array[] = packets.map((p) => {
    const a = new Int16Array(160);
    decodeUlaw(p, a);
    return a;
  });
  const pcmBufs = packets.map((p) => tutorialDecode(p));
  const upOurs = cpuMs(() => {
    for (let i = 0; i < PACKETS; i++) {
      up.process(pcms[i % pcms.length]!, out);
    }
  });
  const upTut = cpuMs(() => {
    for (let i = 0; i < PACKETS; i++) {
      tutorialUpsample(pcmBufs[i % pcmBufs.length]!);
    }
  });
  const perOut = (ms: number): string => `${((ms * 1e6) / (PACKETS * 480)).toFixed(2)} ns/output sample`;
  console.log(`8→24 kHz       ours (polyphase, 88 MAC/input): ${fmt(upOurs)} (${perOut(upOurs)})`);
  console.log(
    `8→24 kHz       tutorial (linear, Buffer): ${fmt(upTut)} (${perOut(upTut)})  ratio ${(upTut / upOurs).toFixed(2)}×`,
  );

  // Decode + PLC (good path) + resample into 80 ms frames: the DSP part of the receive path.
  const plc = new G711Plc();
  const frame = new Float32Array(1920);
  const pcm2 = new Int16Array(160);
  const chain = cpuMs(() => {
    for (let i = 0; i < PACKETS; i++) {
      decodeUlaw(packet(i), pcm);
      plc.addGood(pcm, pcm2);
      up.process(pcm2, frame, (i % 4) * 480);
    }
  });
  const chainTut = cpuMs(() => {
    for (let i = 0; i < PACKETS; i++) {
      tutorialUpsample(tutorialDecode(packet(i)));
    }
  });
  console.log(
    `decode+PLC+8→24 frames  ours: ${fmt(chain)} → ${Math.floor((1000 * CALL_SECONDS) / chain)} real-time calls per core`,
  );
  console.log(
    `decode+8→24    tutorial: ${fmt(chainTut)}  ratio tutorial/ours ${(chainTut / chain).toFixed(2)}×`,
  );

  // PLC concealment cost (one 20 ms packet lost in every 5).
  const plcLoss = new G711Plc();
  const concealMs = cpuMs(() => {
    for (let i = 0; i < PACKETS; i++) {
      if (i % 5 === 4) {
        plcLoss.conceal(pcm2);
      } else {
        plcLoss.addGood(pcms[i % pcms.length]!, pcm2);
      }
    }
  });
  console.log(`G711Plc with 20 % loss: ${fmt(concealMs)}`);

  // PLC quality: speech with random 20 ms losses, SNR against the (delayed) original, vs zero fill.
  const speech = readPcm16Wav(join(FIXTURES, 'audio', 'fox_long_pcm16_8k.wav'));
  for (const lossRate of [0.05, 0.2]) {
    let seed = 7;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const p = new G711Plc();
    const D = G711Plc.DELAY;
    let sig = 0;
    let errPlc = 0;
    let errZero = 0;
    let envErr = 0;
    let envN = 0;
    const o = new Int16Array(160);
    const lostPkt = Array.from(
      { length: Math.floor(speech.length / 160) },
      (_, k) => k > 0 && rnd() < lossRate,
    );
    for (let at = 0; at + 160 <= speech.length; at += 160) {
      const lost = lostPkt[at / 160]!;
      const pkt = speech.subarray(at, at + 160);
      if (lost) {
        p.conceal(o);
      } else {
        p.addGood(pkt, o);
      }
      let eOut = 0;
      let eRef = 0;
      for (let i = 0; i < 160; i++) {
        const ref = at + i - D >= 0 ? speech[at + i - D]! : 0;
        eOut += o[i]! * o[i]!;
        eRef += ref * ref;
        // Zero fill: the lost packet's own samples become 0 (same delay for comparison).
        const zero = at + i - D >= 0 && lostPkt[Math.floor((at + i - D) / 160)] ? 0 : ref;
        sig += ref * ref;
        errPlc += (o[i]! - ref) ** 2;
        errZero += (zero - ref) ** 2;
      }
      // Energy envelope in lost, non-silent packets (RMS above ~−50 dBFS).
      if (lost && eRef / 160 > 100 * 100) {
        envErr += Math.abs(10 * Math.log10((eOut + 1) / eRef));
        envN++;
      }
    }
    // NOTE: waveform SNR punishes any phase error of the repeated pitch period (up to twice the
    // signal), so concealment scores about like zero fill on it; what it keeps is the energy and
    // spectrum envelope (no holes), which the envelope error shows (zero fill: silence, −∞ dB).
    console.log(
      `G711Plc on speech, ${lossRate * 100} % loss: waveform SNR ${(10 * Math.log10(sig / errPlc)).toFixed(1)} dB ` +
        `(zero fill ${(10 * Math.log10(sig / errZero)).toFixed(1)} dB); energy envelope error in ${envN} lost ` +
        `speech packets ${(envErr / Math.max(1, envN)).toFixed(1)} dB mean`,
    );
  }

  // Arbitrary-rate resampler (transcribe): 44.1 kHz → 24 kHz, real-time factor.
  const rate = 44100;
  const secs = 20;
  const x = Float32Array.from(
    { length: rate * secs },
    (_, i) => 0.3 * Math.sin(i / 7) + 0.2 * Math.sin(i / 3.1),
  );
  const rs = cpuMs(() => {
    resample(x, rate, 24000);
  }, 1);
  console.log(
    `Resampler 44.1→24 kHz: ${(rs / secs).toFixed(2)} ms CPU per audio second (${((secs * 1000) / rs).toFixed(0)}× real time)`,
  );

  // Quality on speech and a sweep against SoX rate -v (the same measurement as the unit tests).
  for (const [name, input, ref] of [
    ['speech', join(FIXTURES, 'audio', 'fox_pcm16_8k.wav'), join(FIXTURES, 'dsp', 'fox_24k_soxv.f32')],
    ['sweep 50–3400 Hz', join(FIXTURES, 'dsp', 'sweep_8k.wav'), join(FIXTURES, 'dsp', 'sweep_24k_soxv.f32')],
  ] as const) {
    const src = readPcm16Wav(input);
    const reference = readF32(ref);
    const u = new Upsampler8to24();
    const y = new Float32Array(src.length * 3);
    u.process(src, y);
    const D = Upsampler8to24.DELAY;
    const n = reference.length - D;
    const q = measure(y.subarray(D, D + n), reference.subarray(0, n));
    const lin = linearUpsample(src);
    const ql = measure(lin.subarray(LINEAR_DELAY, LINEAR_DELAY + n), reference.subarray(0, n));
    console.log(
      `quality ${name}: polyphase SNR ${q.snrDb.toFixed(1)} dB, >4.6 kHz ${q.stopbandDb.toFixed(1)} dB, ripple ${q.bandRippleDb.toFixed(3)} dB | ` +
        `linear SNR ${ql.snrDb.toFixed(1)} dB, >4.6 kHz ${ql.stopbandDb.toFixed(1)} dB, ripple ${ql.bandRippleDb.toFixed(2)} dB`,
    );
  }
}
