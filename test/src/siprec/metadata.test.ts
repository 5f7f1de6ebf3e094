/**
 * SIPREC metadata (RFC 7865) against the RFC's example documents (test/fixtures/siprec/README.md):
 * who sends which labelled stream, the recorded call's Session-ID, partial updates (hold, resume),
 * participants joining and leaving, and malformed documents refused with a clear error.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  applyMetadata,
  diffMetadata,
  labelledStreams,
  parseMetadata,
  senderOf,
  sipSessionId,
  SiprecMetadataError,
} from '../../../src/siprec/metadata.js';
import { FIXTURES } from '../../helpers/paths.js';

const fixture = (name: string): string => readFileSync(join(FIXTURES, 'siprec', name), 'utf8');
const COMPLETE = fixture('rfc7865-complete.xml');
const HOLD = fixture('hold-partial.xml');
const RESUME = fixture('resume-partial.xml');
const BOB = 'srfBElmCRp2QB23b7Mpk0w==';
const PAUL = 'zSfPoSvdSDCmU3A3TRDxAw==';
const SESSION = 'hVpd7YQgRW2nD22h7q60JQ==';

const who = (m: ReturnType<typeof parseMetadata>): [string, string | undefined][] =>
  labelledStreams(m).map((s) => [s.label, s.sender?.name]);

describe("RFC 7865 §8.1's complete metadata", () => {
  const m = parseMetadata(COMPLETE);

  it('reads the session, its sipSessionID (folded over two lines), and both participants with aor and name', () => {
    expect(m.dataMode).toBe('complete');
    expect([...m.sessions.keys()]).toEqual([SESSION]);
    expect(sipSessionId(m)).toBe('ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2');
    expect([...m.participants.values()]).toEqual([
      { id: BOB, aor: 'sip:bob@biloxi.com', name: 'Bob' },
      { id: PAUL, aor: 'sip:Paul@biloxi.com', name: 'Paul' },
    ]);
  });

  it('binds each label to its sender: 96 and 97 are Bob, 98 and 99 are Paul', () => {
    expect(who(m)).toEqual([
      ['96', 'Bob'],
      ['97', 'Bob'],
      ['98', 'Paul'],
      ['99', 'Paul'],
    ]);
    expect(senderOf(m, '98')?.aor).toBe('sip:Paul@biloxi.com');
    expect(senderOf(m, '42')).toBeUndefined();
    expect(m.participantStreams.get(BOB)?.recv).toEqual([
      '8zc6e0lYTlWIINA6GR+3ag==',
      'EiXGlc+4TruqqoDaNE76ag==',
    ]);
    expect(m.participantSessions.get(`${BOB} ${SESSION}`)?.associateTime).toBe('2010-12-16T23:41:07Z');
  });

  it('ignores the extension elements (call-center, mydata) and the comments', () => {
    expect(m.streams.size).toBe(4);
    expect(m.streams.get('UAAMm5GRQKSCMVvLyl4rFw==')).toEqual({
      id: 'UAAMm5GRQKSCMVvLyl4rFw==',
      label: '96',
      sessionId: SESSION,
    });
  });
});

describe('updates', () => {
  it('hold (partial): Bob sends nothing, his streams are paused; resume: they are his again', () => {
    const before = parseMetadata(COMPLETE);
    const held = applyMetadata(before, parseMetadata(HOLD));
    expect(parseMetadata(HOLD).dataMode).toBe('partial');
    expect(who(held)).toEqual([
      ['96', undefined],
      ['97', undefined],
      ['98', 'Paul'],
      ['99', 'Paul'],
    ]);
    expect(held.participants.size).toBe(2);
    expect(diffMetadata(before, held)).toEqual({ joined: [], left: [], paused: ['96', '97'], resumed: [] });
    const resumed = applyMetadata(held, parseMetadata(RESUME));
    expect(who(resumed)).toEqual(who(before));
    expect(diffMetadata(held, resumed).resumed).toEqual(['96', '97']);
  });

  it('a participant joins (a new participant and stream) and leaves (disassociate-time)', () => {
    const before = parseMetadata(COMPLETE);
    const join = `<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
  <datamode>partial</datamode>
  <participant participant_id="carol"><nameID aor="sip:carol@chicago.com"><name>Carol</name></nameID></participant>
  <stream stream_id="s100" session_id="${SESSION}"><label>100</label></stream>
  <participantsessionassoc participant_id="carol" session_id="${SESSION}"><associate-time>2010-12-16T23:45:00Z</associate-time></participantsessionassoc>
  <participantstreamassoc participant_id="carol"><send>s100</send></participantstreamassoc>
</recording>`;
    const joined = applyMetadata(before, parseMetadata(join));
    expect(diffMetadata(before, joined).joined.map((p) => p.name)).toEqual(['Carol']);
    expect(senderOf(joined, '100')?.aor).toBe('sip:carol@chicago.com');
    expect(senderOf(joined, '96')?.name).toBe('Bob');
    const leave = `<recording xmlns='urn:ietf:params:xml:ns:recording:1'><datamode>partial</datamode>
  <participantsessionassoc participant_id="${PAUL}" session_id="${SESSION}">
    <associate-time>2010-12-16T23:41:07Z</associate-time><disassociate-time>2010-12-16T23:50:00Z</disassociate-time>
  </participantsessionassoc></recording>`;
    const left = applyMetadata(joined, parseMetadata(leave));
    expect(diffMetadata(joined, left).left.map((p) => p.name)).toEqual(['Paul']);
    expect(diffMetadata(left, left).left).toEqual([]);
  });

  it('an empty document is an empty state; a prefixed or draft namespace is read the same', () => {
    expect(parseMetadata('<recording/>').participants.size).toBe(0);
    const prefixed = COMPLETE.replace(
      "<recording xmlns='urn:ietf:params:xml:ns:recording:1'>",
      "<r:recording xmlns:r='urn:ietf:params:xml:ns:recording'>",
    ).replace('</recording>', '</r:recording>');
    expect(who(parseMetadata(prefixed))).toEqual(who(parseMetadata(COMPLETE)));
  });

  it('a complete document replaces everything', () => {
    const only =
      parseMetadata(`<recording xmlns='urn:ietf:params:xml:ns:recording:1'><datamode>complete</datamode>
      <participant participant_id="x"><nameID aor="sip:x@example.com"/></participant></recording>`);
    const m = applyMetadata(parseMetadata(COMPLETE), only);
    expect([...m.participants.values()]).toEqual([{ id: 'x', aor: 'sip:x@example.com', name: undefined }]);
    expect(m.streams.size).toBe(0);
  });
});

describe('malformed metadata', () => {
  it.each([
    ['not XML', 'hello', 'SIPREC_ERR_XML', /not well-formed/],
    ['an unclosed element', COMPLETE.replace('</recording>', ''), 'SIPREC_ERR_XML', /not well-formed/],
    [
      'mismatched tags',
      '<recording><session></participant></recording>',
      'SIPREC_ERR_XML',
      /not well-formed/,
    ],
    [
      'a DOCTYPE (entity expansion)',
      '<!DOCTYPE r [<!ENTITY a "aaaa">]><recording>&a;</recording>',
      'SIPREC_ERR_XML',
      /DOCTYPE/,
    ],
    [
      'an unclosed CDATA section (fuzzing)',
      '<recording><label><![CDATA[96</label></recording>',
      'SIPREC_ERR_XML',
      /not well-formed/,
    ],
    ['a broken comment (fuzzing)', "<recording><!'- x --></recording>", 'SIPREC_ERR_XML', /not well-formed/],
    ['another root element', '<conference-info/>', 'SIPREC_ERR_NOT_RECORDING', /not <recording>/],
    ['too large', `<recording>${' '.repeat(70_000)}</recording>`, 'SIPREC_ERR_TOO_LARGE', /over 65536/],
  ])('%s → SiprecMetadataError', (_w, xml, code, why) => {
    const err = (() => {
      try {
        parseMetadata(xml);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(SiprecMetadataError);
    expect((err as SiprecMetadataError).code).toBe(code);
    expect((err as Error).message).toMatch(why);
  });
});
