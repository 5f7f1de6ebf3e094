/**
 * SDP Security Descriptions for media streams (SDES, RFC 4568): the `a=crypto` attribute read and
 * checked, the choice of a suite and key for SRTP, and our own line written back.
 *
 * `a=crypto:<tag> <crypto-suite> inline:<key||salt base64>[|<lifetime>][|<MKI>:<length>] [<session-params>]`
 * (RFC 4568 §9.1). We take one inline key without MKI (its lifetime, 1 to 2^48 packets, is honoured:
 * the media layer refuses the peer's packets beyond it), and no session parameter other than `WSH`
 * (a window size hint): `UNENCRYPTED_SRTP`, `UNAUTHENTICATED_SRTP`, `UNENCRYPTED_SRTCP`, `KDR`
 * (key derivation), `FEC_ORDER`/`FEC_KEY` make the line unusable (RFC 4568 §6.3: a line whose
 * parameters are not supported is not accepted), as do MKIs and several keys.
 */
import { randomBytes } from 'node:crypto';
import { SdpError } from '../errors.js';

/**
 * Whether a call's media is encrypted: `off` plain RTP only (an RTP/SAVP offer is refused, crypto
 * lines of an RTP/AVP offer are ignored), `optional` SRTP when the offer has a usable a=crypto, plain
 * RTP otherwise, `required` SRTP only (a plain offer is refused).
 */
export type SrtpPolicy = 'off' | 'optional' | 'required';

/** A crypto suite the media layer implements (rtp/'s `SRTP_SUITES` fits), strongest first. */
export interface SrtpSuiteInfo {
  readonly name: string;
  /** Master key and salt lengths in bytes: the inline key is their concatenation. */
  readonly keyLength: number;
  readonly saltLength: number;
}

/** The SRTP keys of one negotiated stream (both directions, one suite). */
export interface SrtpKeys {
  /** The RFC 4568 suite name (`AES_CM_128_HMAC_SHA1_80`). */
  suite: string;
  /** The peer's master key || salt (its inline key): what it sends is protected with it. */
  remoteKey: Uint8Array;
  /** Our master key || salt (the inline key of our SDP): what we send is protected with it. */
  localKey: Uint8Array;
  /**
   * The lifetime of the peer's key in packets when its line gave one (`|2^20`, RFC 4568 §6.1):
   * packets beyond it are refused. Ours has none (RFC 3711's 2^48 SRTP / 2^31 SRTCP apply).
   */
  remoteLifetime?: number;
}

/** The crypto line chosen in an offer or answer: its tag, our suite, the peer's key and its lifetime. */
export interface ChosenCrypto {
  readonly tag: number;
  readonly suite: SrtpSuiteInfo;
  readonly key: Buffer;
  readonly lifetime: number | undefined;
}

/** RFC 3711 §9.2 / RFC 4568 §6.1: a master key is used for at most 2^48 SRTP packets. */
const MAX_LIFETIME = 2 ** 48;

/** What SRTP negotiation needs: the policy, our suites, and our key for a suite. */
export interface SrtpNegotiation {
  readonly policy: SrtpPolicy;
  readonly suites: readonly SrtpSuiteInfo[];
  /**
   * Our key for `suite` in a stream whose peer key is `remoteKey` (the SDP session keeps it while
   * the peer keeps its own, see `SdpSession`).
   */
  localKey(suite: SrtpSuiteInfo, remoteKey: Uint8Array): Uint8Array;
}

/** One a=crypto line, parsed (syntax checked). */
interface CryptoAttribute {
  /** 1 to 9 digits (RFC 4568 §9.1). */
  readonly tag: number;
  readonly suite: string;
  /** The base64 text of each inline key (several only with MKIs). */
  readonly keys: readonly string[];
  /** The lifetime of the (first) key in packets, when given (`|2^20` or `|1048576`). */
  readonly lifetime: number | undefined;
  /** An MKI is present on some key. */
  readonly mki: boolean;
  readonly sessionParams: readonly string[];
}

const TAG = /^[0-9]{1,9}$/;
const SUITE = /^[A-Za-z0-9_]{1,64}$/;
const INLINE = /^inline:([A-Za-z0-9+/]+={0,2})(\|(2\^)?[0-9]{1,10})?(\|[0-9]{1,20}:[0-9]{1,3})?$/;
/** Session parameters that do not change what we do (RFC 4568 §6.3.7 window size hint). */
const HARMLESS_PARAMS = /^WSH=[0-9]{1,10}$/;

function bad(value: string, expected: string): SdpError {
  const shown = value.length > 60 ? `${value.slice(0, 60)}…` : value;
  return new SdpError('SDP_ERR_BAD_VALUE', `a=crypto "${shown}" is not ${expected}`);
}

/**
 * Parses the value of an a=crypto attribute (after `crypto:`).
 * @throws {SdpError} SDP_ERR_BAD_VALUE when it does not follow RFC 4568 §9.1
 */
export function parseCrypto(value: string): CryptoAttribute {
  const [tag = '', suite = '', keyParams = '', ...sessionParams] = value.split(' ').filter((p) => p !== '');
  if (!TAG.test(tag) || !SUITE.test(suite) || keyParams === '') {
    throw bad(value, '<tag> <crypto-suite> <key-params> [<session-params>]');
  }
  const keys: string[] = [];
  let mki = false;
  let lifetime: number | undefined;
  for (const param of keyParams.split(';')) {
    const m = INLINE.exec(param);
    if (!m) {
      throw bad(value, 'inline:<key||salt>[|lifetime][|MKI:length] key parameters');
    }
    keys.push(m[1] ?? '');
    mki ||= m[4] !== undefined;
    if (m[2] !== undefined && keys.length === 1) {
      const n = Number(m[2].replace(/^\|(2\^)?/, ''));
      lifetime = m[3] ? 2 ** n : n;
    }
  }
  return { tag: Number(tag), suite, keys, mki, lifetime, sessionParams };
}

/**
 * The suite and peer key of a crypto line we can use, or why not (the text of a Warning).
 */
function usableCrypto(
  attr: CryptoAttribute,
  suites: readonly SrtpSuiteInfo[],
): { suite: SrtpSuiteInfo; key: Buffer } | string {
  if (attr.lifetime !== undefined && !(attr.lifetime >= 1 && attr.lifetime <= MAX_LIFETIME)) {
    return `key lifetime ${attr.lifetime} outside 1 to 2^48 packets`;
  }
  const suite = suites.find((s) => s.name === attr.suite);
  if (!suite) {
    return `crypto suite ${attr.suite} not supported`;
  }
  if (attr.mki || attr.keys.length !== 1) {
    return 'MKI (several master keys) not supported';
  }
  const refused = attr.sessionParams.find((p) => !HARMLESS_PARAMS.test(p));
  if (refused !== undefined) {
    return `SRTP session parameter ${refused.slice(0, 30)} not supported`;
  }
  const key = Buffer.from(attr.keys[0] ?? '', 'base64');
  if (key.length !== suite.keyLength + suite.saltLength) {
    return `${suite.name} inline key of ${key.length} bytes (must be ${suite.keyLength + suite.saltLength})`;
  }
  return { suite, key };
}

/** The key parameter of our a=crypto: `inline:<key||salt base64>` (no lifetime, no MKI). */
export function inlineKey(key: Uint8Array): string {
  return `inline:${Buffer.from(key).toString('base64')}`;
}

/** A fresh master key and salt for `suite` (node:crypto's CSPRNG). */
export function newSrtpKey(suite: SrtpSuiteInfo): Buffer {
  return randomBytes(suite.keyLength + suite.saltLength);
}

/**
 * The a=crypto values of each m= section of an SDP body, by section index (sdp-transform keeps
 * only one session parameter of a line, so they are read here from the text itself).
 */
export function cryptoBySection(text: string): string[][] {
  const sections: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.startsWith('m=')) {
      sections.push([]);
    } else if (line.startsWith('a=crypto:')) {
      sections.at(-1)?.push(line.slice('a=crypto:'.length));
    }
  }
  return sections;
}

/** How one offered audio stream can be secured under a policy. */
type StreamSecurity =
  | { readonly ok: true; readonly srtp: ChosenCrypto | undefined }
  | { readonly ok: false; readonly why: string };

/**
 * Decides how an offered stream is secured (RFC 4568 §7.1.2, §7.5): SRTP with the strongest of our
 * suites among its crypto lines (our order, not the offer's), plain RTP, or refused. An
 * `RTP/SAVP` stream needs a usable crypto line and a policy other than `off`; an `RTP/AVP` stream
 * with crypto lines is best-effort SRTP (used unless the policy is `off`, plain RTP when none is
 * usable); `required` refuses plain RTP.
 */
export function streamSecurity(
  protocol: string,
  lines: readonly string[],
  srtp: SrtpNegotiation,
): StreamSecurity {
  const secure = /^RTP\/SAVP$/i.test(protocol);
  if (srtp.policy === 'off') {
    return secure
      ? { ok: false, why: 'SRTP is off for this call: RTP/SAVP refused' }
      : { ok: true, srtp: undefined };
  }
  const parsed = lines.map(parseCrypto);
  const uses = parsed.map((attr) => ({ attr, use: usableCrypto(attr, srtp.suites) }));
  for (const suite of srtp.suites) {
    for (const { attr, use } of uses) {
      if (typeof use !== 'string' && use.suite === suite) {
        return { ok: true, srtp: { tag: attr.tag, suite, key: use.key, lifetime: attr.lifetime } };
      }
    }
  }
  if (!secure && srtp.policy === 'optional') {
    return { ok: true, srtp: undefined };
  }
  if (parsed.length === 0) {
    const why = secure ? `${protocol} offer without a=crypto` : `SRTP required: ${protocol} offer refused`;
    return { ok: false, why };
  }
  const whys = [...new Set(uses.map((u) => u.use as string))];
  return { ok: false, why: `no usable a=crypto: ${whys.join('; ')}` };
}

/** The crypto lines of our own offer (RFC 4568 §7.1.1): tag, suite and our key each. */
export interface OfferedCrypto {
  /** RTP/SAVP (policy `required`), else best-effort RTP/AVP with the lines. */
  readonly secure: boolean;
  readonly lines: readonly { readonly tag: number; readonly suite: SrtpSuiteInfo; readonly key: Buffer }[];
}

/**
 * The crypto lines to offer under a policy: one per suite of ours, strongest first, each with its
 * own fresh key (a key is never shared between suites); undefined when SRTP is off.
 */
export function offerCrypto(policy: SrtpPolicy, suites: readonly SrtpSuiteInfo[]): OfferedCrypto | undefined {
  if (policy === 'off' || suites.length === 0) {
    return undefined;
  }
  return {
    secure: policy === 'required',
    lines: suites.map((suite, i) => ({ tag: i + 1, suite, key: newSrtpKey(suite) })),
  };
}

/**
 * The SRTP of an answer to our offer (RFC 4568 §7.1.3): its crypto line must carry the tag and
 * suite of one of ours; its key is the peer's. Undefined when the answer has none (plain RTP; an
 * error for an RTP/SAVP offer, decided by the caller).
 */
export function answeredCrypto(
  lines: readonly string[],
  offered: OfferedCrypto,
): (ChosenCrypto & { localKey: Buffer }) | undefined {
  for (const line of lines) {
    const attr = parseCrypto(line);
    const ours = offered.lines.find((l) => l.tag === attr.tag && l.suite.name === attr.suite);
    const use = ours && usableCrypto(attr, [ours.suite]);
    if (ours && use && typeof use !== 'string') {
      return { tag: attr.tag, suite: ours.suite, key: use.key, lifetime: attr.lifetime, localKey: ours.key };
    }
  }
  return undefined;
}
