/**
 * Admission policy for new SIP requests and calls: who may call, how fast, how many at once, and
 * what to do when the STT has no free slot. Pure policy: the SIP layer asks, this answers.
 *
 * Two stages, so that nothing is spent on a flood:
 * - `screen(address, method)`, run by the SIP stack's screening hook for every new out-of-dialog
 *   request (INVITE, OPTIONS, REGISTER, a CANCEL of nothing, …) before any transaction or answer:
 *   1. per-source rate limit (token bucket per address: `burst` requests, refilled at
 *      `perSecond`; every screened request takes one token): over the limit the request is
 *      dropped without any answer, not even `100 Trying`, which silences scanners and floods (a
 *      scanner that gets no answer moves on) while a trunk sending real calls stays far below it;
 *      a dropped INVITE's retransmission is screened again, so a real caller caught by a burst
 *      gets through once the bucket refills;
 *   2. for methods other than INVITE, `allowFrom` (CIDR list, IPv4 and IPv6; IPv4-mapped IPv6
 *      sources match IPv4 rules) → `403` (an INVITE gets its 403 from `admitCall`, with a record).
 * - `admitCall(address, activeCalls, sttHasSlot)` for an INVITE the screen let through (it takes
 *   no token):
 *   1. `allowFrom` → `403`;
 *   2. shutting down → `503`;
 *   3. `maxCalls` calls on the phone (offered … streaming; not those only waiting for their
 *      transcript) → `486 Busy Here`; as many as there are RTP port pairs (`rtp.portMin`–`portMax`)
 *      → `503` (`rtp-ports`: the next call could not get its media ports);
 *   4. `maxCallsPerSource` of them from this source address → `486 Busy Here` (one address cannot
 *      take every call, STT slot or RTP port however many INVITEs it sends);
 *   5. no STT slot as far as the pool knows (full, or down; checked, not taken: the slot is taken
 *      at the ACK, so a call never ACKed holds none): `whenFull: "reject"` → `503`, `"defer"` (the
 *      default) → accept, record the audio to disk and transcribe it when a slot frees up, as long
 *      as the pending audio's disk budget (`storage.pendingMaxBytes`) has room, else `503`.
 * Every refusal counts in `sipscribe_admission_refused_total{reason}` (drops as `rate-limited`).
 */
import { BlockList, isIP } from 'node:net';
import type { Clock } from '../../lib/clock.js';
import { ConfigError } from '../errors.js';
import type { Metrics } from '../metrics.js';

/** The decision for an INVITE the screen let through. */
type AdmissionDecision =
  | { readonly action: 'accept'; readonly deferred: boolean }
  | {
      readonly action: 'reject';
      readonly status: 403 | 486 | 503;
      readonly reason: 'not-allowed' | 'max-calls' | 'per-source-limit' | Unavailable['reason'];
    };

/** Why an instance cannot take a call now (its OPTIONS answer is 503). */
export interface Unavailable {
  readonly ok: false;
  readonly reason: 'shutting-down' | 'max-calls' | 'rtp-ports' | 'stt-full' | 'pending-full';
}

/** The decision for a new out-of-dialog request, before any answer. */
type ScreenDecision =
  | { readonly action: 'accept' }
  | { readonly action: 'drop'; readonly reason: 'rate-limited' }
  | { readonly action: 'reject'; readonly status: 403; readonly reason: 'not-allowed' };

interface AdmissionOptions {
  /** CIDR ranges (`192.0.2.0/24`, `2001:db8::/32`) or single addresses allowed to send requests. */
  allowFrom: readonly string[];
  maxCalls: number;
  /** RTP port pairs in `rtp.portMin`–`portMax`: one per call on the phone (default: no limit). */
  mediaPorts?: number;
  /** Calls in progress from one source address (default: no limit beyond `maxCalls`). */
  maxCallsPerSource?: number;
  rateLimit: { burst: number; perSecond: number };
  whenFull: 'reject' | 'defer';
  /** With `defer`: whether the pending audio's disk budget takes another call (default: always). */
  pendingRoom?: () => boolean;
  clock: Clock;
  /** Buckets kept at most (the oldest are forgotten first); default 10 000. */
  maxSources?: number;
  /** Counts refusals in `sipscribe_admission_refused_total{reason}`. */
  metrics?: Pick<Metrics, 'admissionRefused'>;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Parses an allow list into a BlockList.
 * @throws ConfigError naming `<where>[i]` (default `sip.inbound.allowFrom[i]`) for an entry that is not an
 *   address or CIDR.
 */
export function parseAllowList(entries: readonly string[], where = 'sip.inbound.allowFrom'): BlockList {
  const list = new BlockList();
  entries.forEach((entry, i) => {
    const [addr = '', prefixText] = entry.trim().split('/');
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      throw new ConfigError(`${where}[${i}]`, `${entry} is not an IP address or CIDR range`);
    }
    list.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
  });
  return list;
}

export class Admission {
  readonly #opts: AdmissionOptions;
  readonly #allow: BlockList;
  readonly #buckets = new Map<string, Bucket>();
  #stopping = false;

  /** @throws ConfigError for a bad allow-list entry. */
  constructor(opts: AdmissionOptions) {
    this.#opts = opts;
    this.#allow = parseAllowList(opts.allowFrom);
  }

  /** From now on every call is refused with 503 (drain, graceful shutdown). */
  stopAccepting(): void {
    this.#stopping = true;
  }

  /** Whether `stopAccepting` was called (draining or shutting down). */
  get draining(): boolean {
    return this.#stopping;
  }

  /**
   * Whether this instance can take a call now, as its answer to an OPTIONS probe (a load balancer
   * such as Kamailio's dispatcher sends new calls only where the answer is 200): not while
   * draining, with `maxCalls` calls on the phone, or with no STT slot when `whenFull` is `reject`
   * (with `defer` a call is still taken, recorded and transcribed later). No token, no count.
   */
  availability(activeCalls: number, sttHasSlot: boolean): { readonly ok: true } | Unavailable {
    return this.#capacity(activeCalls, sttHasSlot) ?? { ok: true };
  }

  /** Whether `address` is in the allow list. */
  allowed(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.#allow.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * Screens a new out-of-dialog request from `address` (one token of its bucket): `drop` over the
   * rate limit; for methods other than INVITE, `reject` 403 outside `allowFrom`.
   */
  screen(address: string, method: string): ScreenDecision {
    let d: ScreenDecision = { action: 'accept' };
    if (!this.#take(address)) {
      d = { action: 'drop', reason: 'rate-limited' };
    } else if (method !== 'INVITE' && !this.allowed(address)) {
      d = { action: 'reject', status: 403, reason: 'not-allowed' };
    }
    return this.#count(d);
  }

  /**
   * The decision for a new INVITE from `address` that `screen` accepted (no token taken here).
   * @param activeCalls calls on the phone now
   * @param sttHasSlot whether an STT server may have a free slot now
   * @param fromSource calls on the phone now from this address
   */
  admitCall(address: string, activeCalls: number, sttHasSlot: boolean, fromSource = 0): AdmissionDecision {
    return this.#count(this.#call(address, activeCalls, sttHasSlot, fromSource));
  }

  #call(address: string, activeCalls: number, sttHasSlot: boolean, fromSource: number): AdmissionDecision {
    if (!this.allowed(address)) {
      return { action: 'reject', status: 403, reason: 'not-allowed' };
    }
    const full = this.#capacity(activeCalls, sttHasSlot);
    if (full?.reason === 'shutting-down' || full?.reason === 'max-calls') {
      return { action: 'reject', status: full.reason === 'max-calls' ? 486 : 503, reason: full.reason };
    }
    if (fromSource >= (this.#opts.maxCallsPerSource ?? Infinity)) {
      return { action: 'reject', status: 486, reason: 'per-source-limit' };
    }
    if (full) {
      return { action: 'reject', status: 503, reason: full.reason };
    }
    return { action: 'accept', deferred: !sttHasSlot };
  }

  /**
   * Why no call can be taken now (draining, `maxCalls`, no STT slot with `reject`, or with `defer`
   * and the pending budget spent), or null.
   */
  #capacity(activeCalls: number, sttHasSlot: boolean): Unavailable | null {
    if (this.#stopping) {
      return { ok: false, reason: 'shutting-down' };
    }
    if (activeCalls >= this.#opts.maxCalls) {
      return { ok: false, reason: 'max-calls' };
    }
    if (activeCalls >= (this.#opts.mediaPorts ?? Infinity)) {
      return { ok: false, reason: 'rtp-ports' };
    }
    if (!sttHasSlot && this.#opts.whenFull === 'reject') {
      return { ok: false, reason: 'stt-full' };
    }
    if (!sttHasSlot && this.#opts.pendingRoom?.() === false) {
      return { ok: false, reason: 'pending-full' };
    }
    return null;
  }

  #count<D extends AdmissionDecision | ScreenDecision>(d: D): D {
    if (d.action !== 'accept') {
      this.#opts.metrics?.admissionRefused.inc({ reason: d.reason });
    }
    return d;
  }

  /** Takes one token from the source's bucket; false when it is empty. */
  #take(address: string): boolean {
    const { burst, perSecond } = this.#opts.rateLimit;
    const now = this.#opts.clock.now();
    const b = this.#buckets.get(address);
    const tokens = b ? Math.min(burst, b.tokens + ((now - b.at) * perSecond) / 1000) : burst;
    // Re-insert so the map's order is least recently seen first.
    this.#buckets.delete(address);
    this.#buckets.set(address, { tokens: tokens >= 1 ? tokens - 1 : tokens, at: now });
    if (this.#buckets.size > (this.#opts.maxSources ?? 10_000)) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) {
        this.#buckets.delete(oldest);
      }
    }
    return tokens >= 1;
  }
}
