/**
 * Checks an SDP body before anything of it is used (RFC 4566 §5 grammar, RFC 3264, RFC 3551), in
 * one pass over its lines: the structure (`<type>=<value>` lines, `v=0` first, bounded line
 * length; empty lines are skipped) and every value the stack reads from it: c= addresses, m= ports and payload types,
 * and the a=rtpmap, a=ptime and a=rtcp of audio streams (other streams are only answered with
 * port 0; RFC 4475's valid messages carry `a=rtpmap:31 LPC`, without a clock rate, on video). sdp-transform then builds the object model from a body whose values
 * it can no longer mistype (it reads `a=rtpmap:0 1` as codec number 1, `m=audio 04000` as the
 * string "04000" and ignores what its regexes do not match).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { SdpError } from '../errors.js';
import { parseCrypto } from './crypto.js';

/** Longest SDP line accepted (bytes). Real lines are under 200 (a=fingerprint, a=candidate). */
const SDP_MAX_LINE = 1024;

/** Packetisation times accepted (a=ptime, ms): what the media stack can send and receive. */
const PTIME_MIN_MS = 10;
const PTIME_MAX_MS = 120;

const LINE = /^([a-z])=(.*)$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
const EVENT_RANGE = '(0|[1-9][0-9]{0,2})(-(0|[1-9][0-9]{0,2}))?';
const EVENT_LIST = new RegExp(`^${EVENT_RANGE}(,${EVENT_RANGE})*$`);
/** RFC 6838 §4.2 restricted-name (a MIME subtype: PCMU, telephone-event, L16, G729, ...). */
const ENCODING_NAME = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** A number written as plain decimal digits (no sign, no leading zero, no fraction) in [min, max]. */
function decimalIn(text: string, min: number, max: number): boolean {
  return text.length <= 10 && DECIMAL.test(text) && Number(text) >= min && Number(text) <= max;
}

function bad(field: string, value: string, expected: string): SdpError {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return new SdpError('SDP_ERR_BAD_VALUE', `${field} "${shown}" is not ${expected}`);
}

/** `<addrtype> <address>` of c= and a=rtcp: a unicast IP literal of that type. */
function checkAddress(field: string, addrType: string, address: string): void {
  const ok =
    addrType === 'IP4' ? isIPv4(address) : addrType === 'IP6' && isIPv6(address) && !address.includes('%');
  if (!ok) {
    throw bad(`${field} address`, address, `an ${addrType === 'IP6' ? 'IPv6' : 'IPv4'} address`);
  }
}

/**
 * Throws unless `text` is an SDP body whose values are usable.
 * @throws {SdpError} SDP_ERR_PARSE when it is not SDP (→ 400), SDP_ERR_BAD_VALUE naming the
 *   first wrong field (→ 488)
 */
export function checkSdp(text: string): void {
  const lines = text.split('\n');
  let media = 'session';
  let rtp = false;
  let sessionConnection = false;
  let mediaConnection = false;
  const check = (): void => {
    if (media !== 'session' && rtp && !sessionConnection && !mediaConnection) {
      throw new SdpError('SDP_ERR_BAD_VALUE', `m=${media} has no c= address (nor has the session)`);
    }
  };
  let first = true;
  for (const [i, raw] of lines.entries()) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') {
      // Not in RFC 4566's grammar, but harmless and sent (SIPp scenarios start bodies with one).
      continue;
    }
    if (line.length > SDP_MAX_LINE) {
      throw new SdpError('SDP_ERR_PARSE', `SDP line ${i + 1} is over ${SDP_MAX_LINE} bytes`);
    }
    const m = LINE.exec(line);
    if (!m) {
      throw new SdpError('SDP_ERR_PARSE', `SDP line ${i + 1} is not <type>=<value>`);
    }
    const type = m[1] ?? '';
    const value = m[2] ?? '';
    if (first && line !== 'v=0') {
      throw new SdpError('SDP_ERR_PARSE', 'SDP does not start with v=0');
    }
    first = false;
    switch (type) {
      case 'o':
        if (value.split(' ').length !== 6) {
          throw bad('o=', value, '<username> <sess-id> <sess-version> IN <addrtype> <address>');
        }
        break;
      case 'c': {
        const [net, addrType = '', address = '', ...rest] = value.split(' ');
        if (net !== 'IN' || rest.length > 0) {
          throw bad('c=', value, 'IN <addrtype> <address>');
        }
        checkAddress('c=', addrType, address);
        if (media === 'session') {
          sessionConnection = true;
        } else {
          mediaConnection = true;
        }
        break;
      }
      case 'm': {
        check();
        const [kind = '', port = '', proto = '', ...fmts] = value.split(' ');
        if (!/^[a-z][a-z0-9-]*$/i.test(kind) || proto === '' || fmts.length === 0) {
          throw bad('m=', value, '<media> <port> <proto> <fmt> ...');
        }
        media = kind;
        mediaConnection = false;
        rtp = proto.toUpperCase().startsWith('RTP/');
        const [base = '', count] = port.split('/');
        if (!decimalIn(base, 0, 65535) || (count !== undefined && !decimalIn(count, 1, 65535))) {
          throw bad(`m=${media} port`, port, '0-65535');
        }
        if (rtp) {
          for (const pt of fmts) {
            if (!decimalIn(pt, 0, 127)) {
              throw bad(`m=${media} payload type`, pt, '0-127');
            }
          }
        }
        break;
      }
      case 'a':
        // Attributes of other streams (video, application) are never read: they are rejected.
        if (media === 'session' || media === 'audio') {
          checkAttribute(media, value);
        }
        break;
      default:
        break;
    }
  }
  check();
}

function checkAttribute(media: string, value: string): void {
  const colon = value.indexOf(':');
  const name = colon < 0 ? value : value.slice(0, colon);
  const arg = colon < 0 ? '' : value.slice(colon + 1);
  switch (name) {
    case 'rtpmap': {
      const space = arg.indexOf(' ');
      const pt = space < 0 ? arg : arg.slice(0, space);
      if (!decimalIn(pt, 0, 127)) {
        throw bad('a=rtpmap payload type', pt, '0-127');
      }
      const [encoding = '', rate = '', channels, ...rest] = arg.slice(space + 1).split('/');
      if (
        space < 0 ||
        !ENCODING_NAME.test(encoding) ||
        !decimalIn(rate, 1, 10_000_000) ||
        (channels !== undefined && !decimalIn(channels, 1, 255)) ||
        rest.length > 0
      ) {
        throw bad(`a=rtpmap:${pt}`, arg.slice(space + 1), '<encoding name>/<clock rate>[/<channels>]');
      }
      break;
    }
    case 'ptime':
      if (!decimalIn(arg, PTIME_MIN_MS, PTIME_MAX_MS)) {
        throw bad(`m=${media} a=ptime`, arg, `${PTIME_MIN_MS}-${PTIME_MAX_MS} ms`);
      }
      break;
    case 'rtcp': {
      const [port = '', net, addrType = '', address = '', ...rest] = arg.split(' ');
      if (!decimalIn(port, 1, 65535)) {
        throw bad(`m=${media} a=rtcp port`, port, '1-65535');
      }
      if (net !== undefined) {
        if (net !== 'IN' || rest.length > 0) {
          throw bad(`m=${media} a=rtcp`, arg, '<port> [IN <addrtype> <address>]');
        }
        checkAddress(`m=${media} a=rtcp`, addrType, address);
      }
      break;
    }
    case 'crypto':
      parseCrypto(arg);
      break;
    case 'label':
      // RFC 4574 §4: a token (it is matched against the recording metadata, RFC 7865).
      if (!/^[A-Za-z0-9\-.!%*_+`'~]{1,64}$/.test(arg)) {
        throw bad(`m=${media} a=label`, arg, 'a token of at most 64 characters');
      }
      break;
    default:
      break;
  }
}

/**
 * The telephone-event events of an a=fmtp (RFC 4733 §7.1.1: `0-15,66,70`), checked because our
 * answer repeats them.
 * @throws {SdpError} SDP_ERR_BAD_VALUE
 */
export function checkTelephoneEvents(pt: number, config: string): string {
  if (config.length > 64 || !EVENT_LIST.test(config)) {
    throw bad(`a=fmtp:${pt}`, config, 'a list of telephone events (0-15,66)');
  }
  return config;
}
