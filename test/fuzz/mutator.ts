/**
 * A byte-level mutation engine (no dependency): picks an input from the corpus and stacks 1–8
 * mutations on it: bit flips, random and "interesting" bytes, 16/32-bit boundary values, byte
 * insertion and deletion, duplicated ranges, a chunk repeated hundreds of times (to find
 * super-linear parsers), dictionary tokens (SIP/SDP/digest keywords), numbers in the text replaced
 * by boundary values, splices of two corpus entries, truncation. Deterministic for a given
 * `random`.
 */

const INTERESTING_BYTES = [
  0x00, 0x01, 0x7f, 0x80, 0xff, 0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x3b, 0x2c, 0x3d, 0x22, 0x3c, 0x3e, 0x30, 0x39,
  0x5c, 0x25, 0x40,
];
const INTERESTING_16 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x10000, 0xffff];
const INTERESTING_NUMBERS = [
  '0',
  '-1',
  '1',
  '00000000000000000000001',
  '65535',
  '65536',
  '99999',
  '2147483647',
  '2147483648',
  '4294967295',
  '4294967296',
  '4294968',
  '9007199254740993',
  '1e9',
  '1.5',
  'NaN',
  '',
];
const DIGITS = /[0-9]+/g;

const encoder = new TextEncoder();

export class Mutator {
  readonly #random: () => number;
  readonly #corpus: Uint8Array[];
  readonly #dictionary: Uint8Array[];
  readonly #maxLen: number;
  readonly #maxCorpus: number;

  /**
   * @param seeds the initial corpus (never empty: an empty input is used if it is)
   * @param dictionary tokens inserted or written over the input (keywords of the format)
   * @param maxLen inputs are cut to this many bytes
   */
  constructor(
    random: () => number,
    seeds: readonly Uint8Array[],
    dictionary: readonly string[],
    maxLen: number,
    maxCorpus = 2000,
  ) {
    this.#random = random;
    this.#corpus = seeds.length > 0 ? [...seeds] : [new Uint8Array(0)];
    this.#dictionary = dictionary.map((t) => encoder.encode(t));
    this.#maxLen = maxLen;
    this.#maxCorpus = maxCorpus;
  }

  get corpusSize(): number {
    return this.#corpus.length;
  }

  /** Keeps an input that did something new (a new outcome) for further mutation. */
  add(input: Uint8Array): void {
    if (this.#corpus.length < this.#maxCorpus) {
      this.#corpus.push(input);
    } else {
      this.#corpus[this.#int(this.#corpus.length)] = input;
    }
  }

  /** The next input: a corpus entry with 1–8 stacked mutations. */
  next(): Uint8Array {
    let data = this.#pick();
    const n = 1 << this.#int(4);
    for (let i = 0; i < n; i++) {
      data = this.#mutate(data);
    }
    return data.length > this.#maxLen ? data.subarray(0, this.#maxLen) : data;
  }

  #int(n: number): number {
    return Math.floor(this.#random() * n);
  }

  #pick(): Uint8Array {
    return this.#corpus[this.#int(this.#corpus.length)]!;
  }

  #mutate(d: Uint8Array): Uint8Array {
    const len = d.length;
    switch (this.#int(14)) {
      case 0: {
        if (len === 0) {
          return this.#insert(d, 0, Uint8Array.of(this.#int(256)));
        }
        const out = Uint8Array.from(d);
        const bit = this.#int(len * 8);
        out[bit >> 3]! ^= 1 << (bit & 7);
        return out;
      }
      case 1:
      case 2: {
        if (len === 0) {
          return d;
        }
        const out = Uint8Array.from(d);
        out[this.#int(len)] =
          this.#random() < 0.5 ? this.#int(256) : INTERESTING_BYTES[this.#int(INTERESTING_BYTES.length)]!;
        return out;
      }
      case 3: {
        if (len < 4) {
          return d;
        }
        const out = Uint8Array.from(d);
        const v = new DataView(out.buffer);
        const at = this.#int(len - 3);
        if (this.#random() < 0.5) {
          v.setUint16(at, INTERESTING_16[this.#int(INTERESTING_16.length)]!, this.#random() < 0.5);
        } else {
          v.setUint32(at, INTERESTING_32[this.#int(INTERESTING_32.length)]!, this.#random() < 0.5);
        }
        return out;
      }
      case 4: {
        const bytes = new Uint8Array(1 + this.#int(8)).map(() => this.#int(256));
        return this.#insert(d, this.#int(len + 1), bytes);
      }
      case 5: {
        if (len === 0) {
          return d;
        }
        const at = this.#int(len);
        const n = 1 + this.#int(Math.min(32, len - at));
        return concat(d.subarray(0, at), d.subarray(at + n));
      }
      case 6: {
        if (len === 0) {
          return d;
        }
        const at = this.#int(len);
        const n = 1 + this.#int(Math.min(64, len - at));
        return this.#insert(d, this.#int(len + 1), d.slice(at, at + n));
      }
      case 7: {
        // A short chunk repeated many times: long runs of line feeds, commas, semicolons, digits.
        const chunk =
          len > 0 && this.#random() < 0.5
            ? d.slice(this.#int(len), undefined).subarray(0, 1 + this.#int(4))
            : this.#token().subarray(0, 1 + this.#int(8));
        const times = 64 << this.#int(8);
        const rep = new Uint8Array(Math.min(chunk.length * times, this.#maxLen));
        for (let i = 0; i < rep.length; i++) {
          rep[i] = chunk[i % chunk.length]!;
        }
        return this.#insert(d, this.#int(len + 1), rep);
      }
      case 8:
      case 9:
        return this.#insert(d, this.#boundary(d), this.#token());
      case 10: {
        const t = this.#token();
        if (len === 0) {
          return t;
        }
        const at = this.#int(len);
        const out = Uint8Array.from(d);
        out.set(t.subarray(0, len - at), at);
        return out;
      }
      case 11:
        return this.#number(d);
      case 12: {
        const other = this.#pick();
        const a = this.#int(len + 1);
        const b = this.#int(other.length + 1);
        return concat(d.subarray(0, a), other.subarray(b));
      }
      default:
        return len === 0 ? d : d.subarray(0, this.#int(len));
    }
  }

  #token(): Uint8Array {
    if (this.#dictionary.length === 0) {
      return Uint8Array.of(INTERESTING_BYTES[this.#int(INTERESTING_BYTES.length)]!);
    }
    return this.#dictionary[this.#int(this.#dictionary.length)]!;
  }

  /** A position right after a separator (line start, after `:`/`;`/`,`/space) when there is one. */
  #boundary(d: Uint8Array): number {
    for (let tries = 0; tries < 8 && d.length > 0; tries++) {
      const at = this.#int(d.length);
      const c = d[at]!;
      if (c === 0x0a || c === 0x3a || c === 0x3b || c === 0x2c || c === 0x20 || c === 0x3d) {
        return at + 1;
      }
    }
    return this.#int(d.length + 1);
  }

  /** Replaces one decimal number of a text input by a boundary value. */
  #number(d: Uint8Array): Uint8Array {
    const text = Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('latin1');
    const matches = [...text.matchAll(DIGITS)];
    if (matches.length === 0) {
      return d;
    }
    const m = matches[this.#int(matches.length)]!;
    const value = INTERESTING_NUMBERS[this.#int(INTERESTING_NUMBERS.length)]!;
    return concat(d.subarray(0, m.index), encoder.encode(value), d.subarray(m.index + m[0].length));
  }

  #insert(d: Uint8Array, at: number, bytes: Uint8Array): Uint8Array {
    return concat(d.subarray(0, at), bytes, d.subarray(at));
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) {
    n += p.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
