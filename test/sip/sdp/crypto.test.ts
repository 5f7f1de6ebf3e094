/**
 * SDES (RFC 4568) in offer/answer: a=crypto lines from the RFC's own examples (§5.1, §8), read and
 * refused or taken under each SRTP policy, and the answer read back with sdp-transform (a second
 * implementation). Keys are the RFC's base64 texts, decoded independently with Buffer.
 */
import * as sdpTransform from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import {
  offerCrypto,
  parseCrypto,
  streamSecurity,
  type SrtpNegotiation,
  type SrtpPolicy,
} from '../../../sip/sdp/crypto.js';
import { answerOffer, createOffer, describeOffer, readAnswer } from '../../../sip/sdp/offerAnswer.js';
import { checkSdp } from '../../../sip/sdp/validate.js';

/** RFC 4568 §5.1's key without its MKI (`|1:4`): 30 bytes. */
const RFC_KEY = 'PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR';
/** RFC 4568 §8's audio key. */
const RFC_KEY_2 = 'NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj';
const OUR_KEY = Buffer.alloc(30, 0xab);
const ids = { sessionId: '42', version: 1 };
const local = { address: '127.0.0.1', port: 20000 };
/** The two suites rtp/ implements, strongest first (as SRTP_SUITES lists them). */
const SUITES = [
  { name: 'AES_CM_128_HMAC_SHA1_80', keyLength: 16, saltLength: 14 },
  { name: 'AES_CM_128_HMAC_SHA1_32', keyLength: 16, saltLength: 14 },
];

/** RFC 7714 §16's AES-GCM key and salt ("Quid pro quo") as an inline key: 28 bytes. */
const GCM_KEY = 'AAECAwQFBgcICQoLDA0OD1F1aWQgcHJvIHF1bw==';
/** As SRTP_SUITES lists them with AES-GCM (RFC 7714 §14.1: 128-bit key, 96-bit salt) first. */
const SUITES_GCM = [{ name: 'AEAD_AES_128_GCM', keyLength: 16, saltLength: 12 }, ...SUITES];

function neg(policy: SrtpPolicy): SrtpNegotiation {
  return { policy, suites: SUITES, localKey: () => OUR_KEY };
}

function offer(proto: string, crypto: readonly string[]): string {
  return [
    'v=0',
    'o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5',
    's=SDP Seminar',
    'c=IN IP4 161.44.17.12',
    't=2873397496 2873404696',
    `m=audio 49170 ${proto} 0`,
    ...crypto.map((c) => `a=crypto:${c}`),
    '',
  ].join('\r\n');
}

describe('parseCrypto (RFC 4568 §9.1)', () => {
  it('reads the §5.1 example with lifetime, MKI and a session parameter', () => {
    expect(parseCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}|2^20|1:4 FEC_ORDER=FEC_SRTP`)).toEqual({
      tag: 1,
      suite: 'AES_CM_128_HMAC_SHA1_80',
      keys: [RFC_KEY],
      mki: true,
      lifetime: 1048576,
      sessionParams: ['FEC_ORDER=FEC_SRTP'],
    });
  });

  it('reads a lifetime as a power of two or in decimal, none when absent', () => {
    expect(parseCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}|2^31`).lifetime).toBe(2147483648);
    expect(parseCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}|1000`).lifetime).toBe(1000);
    expect(parseCrypto(`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`).lifetime).toBeUndefined();
  });

  it.each([
    ['no key', '1 AES_CM_128_HMAC_SHA1_80'],
    ['tag of 10 digits', `1234567890 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`],
    ['not inline', `1 AES_CM_128_HMAC_SHA1_80 uri:${RFC_KEY}`],
    ['bad lifetime', `1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}|forever`],
    ['not base64', '1 AES_CM_128_HMAC_SHA1_80 inline:%%%'],
  ])('refuses %s with SDP_ERR_BAD_VALUE (→ 488 + Warning 399 via checkSdp)', (_, value) => {
    expect(() => parseCrypto(value)).toThrow(expect.objectContaining({ code: 'SDP_ERR_BAD_VALUE' }));
    expect(() => checkSdp(offer('RTP/SAVP', [value]))).toThrow(
      expect.objectContaining({ code: 'SDP_ERR_BAD_VALUE' }),
    );
  });
});

describe('streamSecurity and answerOffer with SDES', () => {
  it('answers an RTP/SAVP offer with the strongest common suite, the same tag and our key', () => {
    const text = offer('RTP/SAVP', [
      `1 AES_CM_128_HMAC_SHA1_32 inline:${RFC_KEY_2}`,
      `7 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}|2^20`,
      `9 F8_128_HMAC_SHA1_80 inline:${RFC_KEY}`,
    ]);
    const { sdp, remote } = answerOffer(text, ['PCMU'], local, ids, neg('optional'));
    expect(remote.srtp).toEqual({
      suite: 'AES_CM_128_HMAC_SHA1_80',
      remoteKey: Buffer.from(RFC_KEY, 'base64'),
      localKey: OUR_KEY,
      remoteLifetime: 1048576, // its |2^20, honoured by the media layer
    });
    expect(Buffer.from(RFC_KEY, 'base64')).toHaveLength(30);
    const m = sdpTransform.parse(sdp).media[0];
    expect(m?.protocol).toBe('RTP/SAVP');
    expect(m?.crypto).toEqual([
      { id: 7, suite: 'AES_CM_128_HMAC_SHA1_80', config: `inline:${OUR_KEY.toString('base64')}` },
    ]);
  });

  it('takes the 32-bit suite when it is the only one offered', () => {
    const text = offer('RTP/SAVP', [`3 AES_CM_128_HMAC_SHA1_32 inline:${RFC_KEY_2}`]);
    expect(describeOffer(text, ['PCMU'], neg('required'))?.srtp?.suite).toBe('AES_CM_128_HMAC_SHA1_32');
  });

  it('RTP/AVP with crypto lines is best-effort SRTP: used unless off, the profile mirrored', () => {
    const text = offer('RTP/AVP', [`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`]);
    const secured = answerOffer(text, ['PCMU'], local, ids, neg('optional'));
    expect(secured.remote.srtp?.suite).toBe('AES_CM_128_HMAC_SHA1_80');
    expect(sdpTransform.parse(secured.sdp).media[0]).toMatchObject({
      protocol: 'RTP/AVP',
      crypto: [{ id: 1 }],
    });
    const plain = answerOffer(text, ['PCMU'], local, ids, neg('off'));
    expect(plain.remote.srtp).toBeUndefined();
    expect(plain.sdp).not.toContain('a=crypto');
  });

  it.each<[string, string[], SrtpPolicy, RegExp]>([
    ['RTP/SAVP under off', [`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`], 'off', /SRTP is off/],
    ['plain RTP/AVP under required', [], 'required', /SRTP required: RTP\/AVP/],
    ['RTP/SAVP without a=crypto', [], 'optional', /without a=crypto/],
    // RFC 4568 §8's audio line: its MKI is refused.
    ['an MKI', [`1 AES_CM_128_HMAC_SHA1_32 inline:${RFC_KEY_2}|2^20|1:32`], 'optional', /MKI/],
    [
      'UNENCRYPTED_SRTP',
      [`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY} UNENCRYPTED_SRTP`],
      'optional',
      /UNENCRYPTED_SRTP/,
    ],
    [
      'UNAUTHENTICATED_SRTP',
      [`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY} UNAUTHENTICATED_SRTP`],
      'required',
      /UNAUTHENTICATED_SRTP/,
    ],
    ['a lifetime of 0', [`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}|0`], 'optional', /lifetime 0 outside/],
    [
      'a lifetime above 2^48',
      [`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}|2^49`],
      'optional',
      /lifetime 562949953421312 outside 1 to 2\^48/,
    ],
    [
      'a key of 24 bytes',
      ['1 AES_CM_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0'],
      'optional',
      /24 bytes/,
    ],
    [
      'only suites we lack',
      [`1 AES_256_CM_HMAC_SHA1_80 inline:${RFC_KEY}`],
      'optional',
      /AES_256_CM_HMAC_SHA1_80 not supported/,
    ],
  ])('refuses %s with SDP_ERR_SRTP naming why', (_, lines, policy, why) => {
    const proto = policy === 'required' && lines.length === 0 ? 'RTP/AVP' : 'RTP/SAVP';
    const text = offer(proto, lines);
    expect(() => answerOffer(text, ['PCMU'], local, ids, neg(policy))).toThrow(
      expect.objectContaining({ code: 'SDP_ERR_SRTP', message: expect.stringMatching(why) as unknown }),
    );
    expect(() => describeOffer(text, ['PCMU'], neg(policy))).toThrow(
      expect.objectContaining({ code: 'SDP_ERR_SRTP' }),
    );
  });

  it('keeps a window size hint (WSH), which changes nothing for us', () => {
    const s = streamSecurity(
      'RTP/SAVP',
      [`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY} WSH=128`],
      neg('optional'),
    );
    expect(s.ok && s.srtp?.tag).toBe(1);
  });

  it('skips a refused stream for a later acceptable one (SAVP then AVP alternative, policy off)', () => {
    const text = [
      offer('RTP/SAVP', [`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`]).trimEnd(),
      'm=audio 49172 RTP/AVP 0',
      '',
    ].join('\r\n');
    const { sdp, remote } = answerOffer(text, ['PCMU'], local, ids, neg('off'));
    expect(remote.port).toBe(49172);
    expect(sdpTransform.parse(sdp).media.map((m) => m.port)).toEqual([0, 20000]);
  });

  it('an offer without our codec stays SDP_ERR_NO_CODEC whatever the policy', () => {
    const text = offer('RTP/SAVP', [`1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`]).replace(
      'RTP/SAVP 0',
      'RTP/SAVP 18',
    );
    expect(() => answerOffer(text, ['PCMU'], local, ids, neg('required'))).toThrow(
      expect.objectContaining({ code: 'SDP_ERR_NO_CODEC' }),
    );
  });
});

describe('AEAD_AES_128_GCM in SDES (RFC 7714 §14.1)', () => {
  const gcm: SrtpNegotiation = {
    policy: 'optional',
    suites: SUITES_GCM,
    localKey: () => OUR_KEY.subarray(0, 28),
  };

  it('is answered before the AES-CM suites when offered, with its 28-byte key', () => {
    const text = offer('RTP/SAVP', [
      `1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`,
      `2 AES_CM_128_HMAC_SHA1_32 inline:${RFC_KEY_2}`,
      `3 AEAD_AES_128_GCM inline:${GCM_KEY}`,
    ]);
    const { sdp, remote } = answerOffer(text, ['PCMU'], local, ids, gcm);
    expect(remote.srtp?.suite).toBe('AEAD_AES_128_GCM');
    expect(Buffer.from(remote.srtp!.remoteKey).toString('hex')).toBe(
      '000102030405060708090a0b0c0d0e0f517569642070726f2071756f',
    );
    expect(sdpTransform.parse(sdp).media[0]?.crypto).toEqual([
      { id: 3, suite: 'AEAD_AES_128_GCM', config: `inline:${OUR_KEY.subarray(0, 28).toString('base64')}` },
    ]);
  });

  it('an AES-CM offer is still answered with AES-CM', () => {
    const text = offer('RTP/SAVP', [`5 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`]);
    expect(describeOffer(text, ['PCMU'], gcm)?.srtp?.suite).toBe('AES_CM_128_HMAC_SHA1_80');
  });

  it('refuses an AES-GCM line with a 30-byte key', () => {
    const text = offer('RTP/SAVP', [`1 AEAD_AES_128_GCM inline:${RFC_KEY}`]);
    expect(() => describeOffer(text, ['PCMU'], gcm)).toThrow(
      /AEAD_AES_128_GCM inline key of 30 bytes \(must be 28\)/,
    );
  });

  it('our offer lists it first, with a 28-byte key', () => {
    const m = sdpTransform.parse(createOffer(['PCMU'], local, ids, offerCrypto('required', SUITES_GCM)))
      .media[0];
    expect(m?.crypto?.map((c) => [c.id, c.suite, Buffer.from(c.config.slice(7), 'base64').length])).toEqual([
      [1, 'AEAD_AES_128_GCM', 28],
      [2, 'AES_CM_128_HMAC_SHA1_80', 30],
      [3, 'AES_CM_128_HMAC_SHA1_32', 30],
    ]);
  });
});

describe('AEAD_AES_256_GCM in SDES (RFC 7714 §14.2: 256-bit key, 96-bit salt)', () => {
  /** RFC 7714 §16.2's key 00 … 1f and salt "Quid pro quo" as an inline key: 44 bytes. */
  const GCM256_KEY = Buffer.concat([
    Buffer.from([...Array(32).keys()]),
    Buffer.from('Quid pro quo', 'latin1'),
  ]).toString('base64');
  const all: SrtpNegotiation = {
    policy: 'optional',
    suites: [{ name: 'AEAD_AES_256_GCM', keyLength: 32, saltLength: 12 }, ...SUITES_GCM],
    localKey: (suite) => Buffer.alloc(suite.keyLength + suite.saltLength, 0xcd),
  };

  it('is answered before AEAD_AES_128_GCM and AES-CM, with a 44-byte key each way', () => {
    const text = offer('RTP/SAVP', [
      `1 AEAD_AES_128_GCM inline:${GCM_KEY}`,
      `2 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`,
      `3 AEAD_AES_256_GCM inline:${GCM256_KEY}`,
    ]);
    expect(GCM256_KEY).toHaveLength(60);
    const { sdp, remote } = answerOffer(text, ['PCMU'], local, ids, all);
    expect(remote.srtp?.suite).toBe('AEAD_AES_256_GCM');
    expect(Buffer.from(remote.srtp!.remoteKey).toString('hex')).toBe(
      '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f517569642070726f2071756f',
    );
    expect(sdpTransform.parse(sdp).media[0]?.crypto).toEqual([
      { id: 3, suite: 'AEAD_AES_256_GCM', config: `inline:${Buffer.alloc(44, 0xcd).toString('base64')}` },
    ]);
  });

  it('refuses an AEAD_AES_256_GCM line with the 28-byte key of AES-128-GCM', () => {
    const text = offer('RTP/SAVP', [`1 AEAD_AES_256_GCM inline:${GCM_KEY}`]);
    expect(() => describeOffer(text, ['PCMU'], all)).toThrow(
      /AEAD_AES_256_GCM inline key of 28 bytes \(must be 44\)/,
    );
  });
});

describe('AES_256_CM_HMAC_SHA1_80 and _32 in SDES (RFC 6188 §6: 256-bit key, 112-bit salt)', () => {
  /** RFC 6188 §7.2's master key and salt as an inline key: 46 bytes, 64 base64 characters. */
  const CM256_KEY = Buffer.from(
    'f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6' + '3b04803de51ee7c96423ab5b78d2',
    'hex',
  ).toString('base64');
  /** As SRTP_SUITES lists them: AES-GCM, then per tag length the 256-bit key before the 128-bit one. */
  const ALL = [
    { name: 'AEAD_AES_256_GCM', keyLength: 32, saltLength: 12 },
    { name: 'AEAD_AES_128_GCM', keyLength: 16, saltLength: 12 },
    { name: 'AES_256_CM_HMAC_SHA1_80', keyLength: 32, saltLength: 14 },
    SUITES[0]!,
    { name: 'AES_256_CM_HMAC_SHA1_32', keyLength: 32, saltLength: 14 },
    SUITES[1]!,
  ];
  const all: SrtpNegotiation = {
    policy: 'optional',
    suites: ALL,
    localKey: (suite) => Buffer.alloc(suite.keyLength + suite.saltLength, 0xef),
  };

  it('answers a linphone-style offer (the two AES-CM key sizes, each tag) with AES_256_CM_HMAC_SHA1_80 and a 46-byte key', () => {
    const text = offer('RTP/SAVP', [
      `1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`,
      `2 AES_CM_128_HMAC_SHA1_32 inline:${RFC_KEY_2}`,
      `3 AES_256_CM_HMAC_SHA1_80 inline:${CM256_KEY}`,
      `4 AES_256_CM_HMAC_SHA1_32 inline:${CM256_KEY}`,
    ]);
    expect(CM256_KEY).toHaveLength(64);
    const { sdp, remote } = answerOffer(text, ['PCMU'], local, ids, all);
    expect(remote.srtp?.suite).toBe('AES_256_CM_HMAC_SHA1_80');
    expect(Buffer.from(remote.srtp!.remoteKey).toString('hex')).toBe(
      'f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b63b04803de51ee7c96423ab5b78d2',
    );
    expect(sdpTransform.parse(sdp).media[0]?.crypto).toEqual([
      {
        id: 3,
        suite: 'AES_256_CM_HMAC_SHA1_80',
        config: `inline:${Buffer.alloc(46, 0xef).toString('base64')}`,
      },
    ]);
  });

  it('AES-GCM is still taken first; the 80-bit tag of AES-128 before the 32-bit tag of AES-256', () => {
    const gcm = offer('RTP/SAVP', [
      `1 AES_256_CM_HMAC_SHA1_80 inline:${CM256_KEY}`,
      `2 AEAD_AES_128_GCM inline:${GCM_KEY}`,
    ]);
    expect(describeOffer(gcm, ['PCMU'], all)?.srtp?.suite).toBe('AEAD_AES_128_GCM');
    const tags = offer('RTP/SAVP', [
      `1 AES_256_CM_HMAC_SHA1_32 inline:${CM256_KEY}`,
      `2 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`,
    ]);
    expect(describeOffer(tags, ['PCMU'], all)?.srtp?.suite).toBe('AES_CM_128_HMAC_SHA1_80');
    const only32 = offer('RTP/SAVP', [`7 AES_256_CM_HMAC_SHA1_32 inline:${CM256_KEY}`]);
    expect(describeOffer(only32, ['PCMU'], all)?.srtp?.suite).toBe('AES_256_CM_HMAC_SHA1_32');
  });

  it('refuses an AES_256_CM line with the 30-byte key of AES-128 (488 + Warning naming the lengths)', () => {
    const text = offer('RTP/SAVP', [`1 AES_256_CM_HMAC_SHA1_80 inline:${RFC_KEY}`]);
    expect(() => describeOffer(text, ['PCMU'], all)).toThrow(
      /AES_256_CM_HMAC_SHA1_80 inline key of 30 bytes \(must be 46\)/,
    );
  });

  it('was refused before, when our suites did not list it', () => {
    const text = offer('RTP/SAVP', [`3 AES_256_CM_HMAC_SHA1_80 inline:${CM256_KEY}`]);
    expect(() => describeOffer(text, ['PCMU'], neg('optional'))).toThrow(
      /crypto suite AES_256_CM_HMAC_SHA1_80 not supported/,
    );
  });

  it('our offer lists every suite in that order, with a 46-byte key for each AES-256 CM line', () => {
    const m = sdpTransform.parse(createOffer(['PCMU'], local, ids, offerCrypto('required', ALL))).media[0];
    expect(m?.crypto?.map((c) => [c.id, c.suite, Buffer.from(c.config.slice(7), 'base64').length])).toEqual([
      [1, 'AEAD_AES_256_GCM', 44],
      [2, 'AEAD_AES_128_GCM', 28],
      [3, 'AES_256_CM_HMAC_SHA1_80', 46],
      [4, 'AES_CM_128_HMAC_SHA1_80', 30],
      [5, 'AES_256_CM_HMAC_SHA1_32', 46],
      [6, 'AES_CM_128_HMAC_SHA1_32', 30],
    ]);
  });
});

describe('our own offer with SDES (late offers, dial)', () => {
  it('required: RTP/SAVP with one line per suite, strongest first, each its own 30-byte key', () => {
    const crypto = offerCrypto('required', SUITES)!;
    const m = sdpTransform.parse(createOffer(['PCMU'], local, ids, crypto)).media[0];
    expect(m?.protocol).toBe('RTP/SAVP');
    expect(m?.crypto?.map((c) => [c.id, c.suite])).toEqual([
      [1, 'AES_CM_128_HMAC_SHA1_80'],
      [2, 'AES_CM_128_HMAC_SHA1_32'],
    ]);
    const keys = m?.crypto?.map((c) => Buffer.from(c.config.replace('inline:', ''), 'base64'));
    expect(keys?.map((k) => k.length)).toEqual([30, 30]);
    expect(keys?.[0]?.equals(keys[1]!)).toBe(false);
    expect(offerCrypto('off', SUITES)).toBeUndefined();
    expect(offerCrypto('optional', SUITES)?.secure).toBe(false);
  });

  it('reads the key of the line the answer took (its tag and suite), ours for that tag', () => {
    const crypto = offerCrypto('required', SUITES)!;
    const answer = offer('RTP/SAVP', [`2 AES_CM_128_HMAC_SHA1_32 inline:${RFC_KEY}`]);
    expect(readAnswer(answer, ['PCMU'], crypto).srtp).toEqual({
      suite: 'AES_CM_128_HMAC_SHA1_32',
      remoteKey: Buffer.from(RFC_KEY, 'base64'),
      localKey: crypto.lines[1]!.key,
    });
  });

  it.each([
    ['no a=crypto', []],
    ['a tag we did not offer', [`7 AES_CM_128_HMAC_SHA1_80 inline:${RFC_KEY}`]],
    ['our tag with another suite', [`1 AES_CM_128_HMAC_SHA1_32 inline:${RFC_KEY}`]],
  ])('an answer to our RTP/SAVP offer with %s is SDP_ERR_SRTP (best effort: plain RTP)', (_, lines) => {
    const answer = offer('RTP/SAVP', lines);
    expect(() => readAnswer(answer, ['PCMU'], offerCrypto('required', SUITES))).toThrow(
      expect.objectContaining({ code: 'SDP_ERR_SRTP' }),
    );
    expect(readAnswer(answer, ['PCMU'], offerCrypto('optional', SUITES)).srtp).toBeUndefined();
  });
});
