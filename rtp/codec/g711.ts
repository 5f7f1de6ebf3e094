/**
 * G.711 μ-law (PCMU) and A-law (PCMA), ITU-T G.711 (11/88) §2–3, Tables 1a/1b and 2a/2b.
 *
 * Every function writes into a caller-supplied buffer and returns the number of samples written;
 * nothing allocates per call. Decoding uses two 256-entry tables, encoding two 65536-entry tables
 * indexed by the 16-bit sample (offset by 32768). All four are built once, when the module loads.
 *
 * Linear samples are 16-bit two's complement. Encoding first rounds the sample to the law's
 * uniform-PCM resolution (μ-law: 14 bits, `(x + 2) >> 2`; A-law: 13 bits, `(x + 4) >> 3`, ties
 * upward, the top clamped), exactly as SoX does, then applies the segment encoding of Sun's
 * reference g711.c (the G.711 tables); decoding returns the decision-interval midpoint scaled back to
 * 16 bits (μ-law peak ±32124, A-law peak ±32256). The tests check all 256 codes and all
 * 65536 inputs against SoX's conversions (test/fixtures/dsp/, made by scripts/gen-dsp-fixtures.sh).
 *
 * @see ITU-T G.711 (11/88)
 */

/** μ-law bias added before the segment search, in 14-bit units (0x84 >> 2). */
const ULAW_BIAS14 = 33;
/** Largest 14-bit magnitude the μ-law encoder represents (G.711 Table 2a: 8159). */
const ULAW_CLIP14 = 8159;

/** Decodes one μ-law code (0..255) to a 16-bit linear sample (G.711 Table 2a). */
function ulawCodeToLinear(code: number): number {
  const u = ~code & 0xff;
  let t = ((u & 0x0f) << 3) + 0x84;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

/** Decodes one A-law code (0..255) to a 16-bit linear sample (G.711 Table 1a). */
function alawCodeToLinear(code: number): number {
  const a = (code ^ 0x55) & 0xff;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) {
    t += 8;
  } else {
    t = (t + 0x108) << (seg - 1);
  }
  return a & 0x80 ? t : -t;
}

/** Encodes one 16-bit sample to μ-law (14-bit resolution, G.711 Table 2a). */
function linearToUlawCode(sample: number): number {
  // NOTE: round to 14 bits (ties up), clamped to 8191, as SoX does.
  let v = (sample + 2) >> 2;
  if (v > 8191) {
    v = 8191;
  }
  let mask: number;
  if (v < 0) {
    v = -v;
    mask = 0x7f;
  } else {
    mask = 0xff;
  }
  if (v > ULAW_CLIP14) {
    v = ULAW_CLIP14;
  }
  v += ULAW_BIAS14;
  // Segment end points (biased magnitude): 0x3F, 0x7F, 0xFF, …, 0x1FFF.
  let seg = 0;
  while (seg < 8 && v > (0x40 << seg) - 1) {
    seg++;
  }
  if (seg >= 8) {
    return 0x7f ^ mask;
  }
  return ((seg << 4) | ((v >> (seg + 1)) & 0x0f)) ^ mask;
}

/** Encodes one 16-bit sample to A-law (13-bit resolution, G.711 Table 1a). */
function linearToAlawCode(sample: number): number {
  // NOTE: round to 13 bits (ties up), clamped to 4095, as SoX does.
  let v = (sample + 4) >> 3;
  if (v > 4095) {
    v = 4095;
  }
  let mask: number;
  if (v >= 0) {
    mask = 0xd5;
  } else {
    mask = 0x55;
    v = -v - 1;
  }
  // Segment end points: 0x1F, 0x3F, 0x7F, …, 0xFFF.
  let seg = 0;
  while (seg < 8 && v > (0x20 << seg) - 1) {
    seg++;
  }
  if (seg >= 8) {
    return 0x7f ^ mask;
  }
  const quant = seg < 2 ? (v >> 1) & 0x0f : (v >> seg) & 0x0f;
  return ((seg << 4) | quant) ^ mask;
}

const ULAW_DECODE = new Int16Array(256);
const ALAW_DECODE = new Int16Array(256);
const ULAW_ENCODE = new Uint8Array(65536);
const ALAW_ENCODE = new Uint8Array(65536);
for (let c = 0; c < 256; c++) {
  ULAW_DECODE[c] = ulawCodeToLinear(c);
  ALAW_DECODE[c] = alawCodeToLinear(c);
}
for (let i = 0; i < 65536; i++) {
  ULAW_ENCODE[i] = linearToUlawCode(i - 32768);
  ALAW_ENCODE[i] = linearToAlawCode(i - 32768);
}

function checkRoom(what: string, need: number, have: number): void {
  if (have < need) {
    throw new RangeError(`${what}: destination holds ${have} samples, ${need} needed`);
  }
}

/**
 * Decodes μ-law bytes into 16-bit linear samples.
 * @param src μ-law codes (e.g. an RTP payload view).
 * @param dst receives `src.length` samples from index 0.
 * @returns the number of samples written (`src.length`).
 * @throws RangeError when `dst` is shorter than `src`.
 */
export function decodeUlaw(src: Uint8Array, dst: Int16Array): number {
  const n = src.length;
  checkRoom('decodeUlaw', n, dst.length);
  const t = ULAW_DECODE;
  for (let i = 0; i < n; i++) {
    dst[i] = t[src[i]!]!;
  }
  return n;
}

/**
 * Decodes A-law bytes into 16-bit linear samples.
 * @returns the number of samples written (`src.length`).
 * @throws RangeError when `dst` is shorter than `src`.
 */
export function decodeAlaw(src: Uint8Array, dst: Int16Array): number {
  const n = src.length;
  checkRoom('decodeAlaw', n, dst.length);
  const t = ALAW_DECODE;
  for (let i = 0; i < n; i++) {
    dst[i] = t[src[i]!]!;
  }
  return n;
}

/**
 * Encodes 16-bit linear samples to μ-law bytes.
 * @returns the number of bytes written (`src.length`).
 * @throws RangeError when `dst` is shorter than `src`.
 */
export function encodeUlaw(src: Int16Array, dst: Uint8Array): number {
  const n = src.length;
  checkRoom('encodeUlaw', n, dst.length);
  const t = ULAW_ENCODE;
  for (let i = 0; i < n; i++) {
    dst[i] = t[src[i]! + 32768]!;
  }
  return n;
}

/**
 * Encodes 16-bit linear samples to A-law bytes.
 * @returns the number of bytes written (`src.length`).
 * @throws RangeError when `dst` is shorter than `src`.
 */
export function encodeAlaw(src: Int16Array, dst: Uint8Array): number {
  const n = src.length;
  checkRoom('encodeAlaw', n, dst.length);
  const t = ALAW_ENCODE;
  for (let i = 0; i < n; i++) {
    dst[i] = t[src[i]! + 32768]!;
  }
  return n;
}

/** One μ-law code (0..255) as a 16-bit linear sample. */
export function ulawToLinear(code: number): number {
  return ULAW_DECODE[code & 0xff]!;
}

/** One A-law code (0..255) as a 16-bit linear sample. */
export function alawToLinear(code: number): number {
  return ALAW_DECODE[code & 0xff]!;
}

/** One 16-bit linear sample (clamped to −32768..32767) as a μ-law code. */
export function linearToUlaw(sample: number): number {
  const s = sample < -32768 ? -32768 : sample > 32767 ? 32767 : sample | 0;
  return ULAW_ENCODE[s + 32768]!;
}

/** One 16-bit linear sample (clamped to −32768..32767) as an A-law code. */
export function linearToAlaw(sample: number): number {
  const s = sample < -32768 ? -32768 : sample > 32767 ? 32767 : sample | 0;
  return ALAW_ENCODE[s + 32768]!;
}

/** The μ-law code sent for silence: 0xFF decodes to 0. */
export const ULAW_SILENCE = 0xff;
/** The A-law code sent for silence: 0xD5, the smallest positive step (decodes to +8). */
export const ALAW_SILENCE = 0xd5;
