/**
 * Packets of a second implementation: baresip 1.0's srtp module (libre's SRTP) captured on loopback
 * by test/integration/e2e-srtp-peer (`SRTP_FIXTURES_WRITE=1`), with the key of its SDP answer. They
 * must authenticate and decrypt to μ-law audio and RTCP in clear with our context; for AES-GCM this
 * also checks our RFC 7714 key derivation (96-bit master salt) against libre's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeUlaw } from '../../../rtp/codec/g711.js';
import { SrtpContext } from '../../../rtp/srtp/SrtpContext.js';
import { code } from './srtpErrorCode.js';
import { srtpSuite } from '../../../rtp/srtp/suites.js';
import { FIXTURES } from '../../helpers/paths.js';

interface Capture {
  suite: string;
  key: string;
  rtp: string[];
  rtcp: string[];
  rtcpAfterBye: string[];
}

describe.each(['AEAD_AES_256_GCM', 'AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80'])(
  'baresip %s packets',
  (name) => {
    const cap = JSON.parse(readFileSync(join(FIXTURES, `srtp-baresip-${name}.json`), 'utf8')) as Capture;
    const suite = srtpSuite(cap.suite)!;
    const key = Buffer.from(cap.key, 'base64');
    const hex = (h: string): Buffer => Buffer.from(h, 'hex');

    it('its SRTP decrypts to consecutive μ-law packets of audio', () => {
      expect(key).toHaveLength(suite.keyLength + suite.saltLength);
      const rx = new SrtpContext(suite, key);
      const rtp = cap.rtp.map((h) => Buffer.from(rx.unprotectRtp(hex(h))));
      expect(rtp).toHaveLength(12);
      const seq0 = rtp[0]!.readUInt16BE(2);
      const pcm = new Int16Array(160);
      let sum = 0;
      rtp.forEach((p, i) => {
        expect(p[1]! & 0x7f).toBe(0); // PCMU
        expect(p.readUInt16BE(2)).toBe((seq0 + i) & 0xffff);
        expect(p.length - 12).toBe(160);
        decodeUlaw(p.subarray(12), pcm);
        sum += pcm.reduce((a, v) => a + Math.abs(v), 0);
      });
      expect(sum / (12 * 160)).toBeGreaterThan(100); // the fox clip, not silence
    });

    it('a replay and a flipped bit are refused', () => {
      const rx = new SrtpContext(suite, key);
      rx.unprotectRtp(hex(cap.rtp[0]!));
      expect(code(() => rx.unprotectRtp(hex(cap.rtp[0]!)))).toBe('SRTP_ERR_REPLAY');
      const bad = hex(cap.rtp[1]!);
      bad[40]! ^= 0x04;
      expect(code(() => rx.unprotectRtp(bad))).toBe('SRTP_ERR_AUTH');
    });

    it('its SRTCP (an APP packet alone) decrypts; the RTCP it sends in clear is refused (RFC 3711 §3.4)', () => {
      const rx = new SrtpContext(suite, key);
      const [ping, app] = cap.rtcp.map(hex);
      // Sent unprotected before SRTP is on: an APP "PING" of 16 bytes, too short for any SRTCP.
      expect(ping!.subarray(8, 12).toString('latin1')).toBe('PING');
      expect(code(() => rx.unprotectRtcp(ping!))).toBe('SRTP_ERR_TRUNCATED');
      const out = Buffer.from(rx.unprotectRtcp(app!));
      expect(out).toHaveLength(16);
      expect(out[1]).toBe(204); // APP
      expect(out.readUInt32BE(4)).toBe(ping!.readUInt32BE(4)); // the same SSRC
      expect(out.subarray(8, 12).toString('latin1')).toBe('PING');
      // At its hangup: BYE ("Adjo") + SDES in clear, after its SRTP was torn down.
      const bye = hex(cap.rtcpAfterBye[0]!);
      expect(bye[1]).toBe(203);
      expect(bye.subarray(9, 13).toString('latin1')).toBe('Adjo');
      expect(code(() => rx.unprotectRtcp(bye))).toBe('SRTP_ERR_AUTH');
    });
  },
);
