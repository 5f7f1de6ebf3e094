import { decode, encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import {
  ProtocolDecodeError,
  decodeServerMessage,
  encodeAudio,
  encodeMarker,
  audioMessageSize,
} from '../../../src/stt/protocol.js';

// Bytes written by hand from the MessagePack spec (fixmap 0x8N, fixstr 0xaN, array16 0xdc,
// float32 0xca big-endian; IEEE 754: 1.0 = 3f800000, -0.5 = bf000000).
const THREE = [
  0x82,
  0xa4,
  0x74,
  0x79,
  0x70,
  0x65, // "type"
  0xa5,
  0x41,
  0x75,
  0x64,
  0x69,
  0x6f, // "Audio"
  0xa3,
  0x70,
  0x63,
  0x6d, // "pcm"
  0xdc,
  0x00,
  0x03, // array16(3)
  0xca,
  0x00,
  0x00,
  0x00,
  0x00, // 0.0
  0xca,
  0x3f,
  0x80,
  0x00,
  0x00, // 1.0
  0xca,
  0xbf,
  0x00,
  0x00,
  0x00, // -0.5
];

describe('moshi-server wire format', () => {
  it('encodes Audio as a map with every sample a float32, zeros included', () => {
    const bytes = encodeAudio(Float32Array.from([0, 1, -0.5]));
    expect([...bytes]).toEqual(THREE);
    expect(decode(bytes)).toEqual({ type: 'Audio', pcm: [0, 1, -0.5] });
  });

  it('matches @msgpack/msgpack with forceFloat32 + forceIntegerToFloat on a plain array, byte for byte', () => {
    const pcm = new Float32Array(1920);
    for (let i = 0; i < pcm.length; i++) {
      pcm[i] = i % 7 === 0 ? 0 : Math.sin(i / 10) * 0.7;
    }
    const mine = encodeAudio(pcm);
    const theirs = encode(
      { type: 'Audio', pcm: Array.from(pcm) },
      { forceFloat32: true, forceIntegerToFloat: true },
    );
    expect(mine.length).toBe(audioMessageSize(1920));
    expect(mine.length).toBe(9619);
    expect(Buffer.from(mine).equals(Buffer.from(theirs))).toBe(true);
  });

  it('encodes into a reused buffer: each frame overwrites the last, byte for byte as @msgpack/msgpack', () => {
    const scratch = Buffer.alloc(audioMessageSize(1920), 0xee);
    const a = new Float32Array(1920).fill(0.25);
    const b = new Float32Array(1920);
    for (let i = 0; i < b.length; i++) {
      b[i] = i % 5 === 0 ? 0 : Math.cos(i / 3) * 0.9;
    }
    const first = Buffer.from(encodeAudio(a, scratch));
    const second = encodeAudio(b, scratch);
    expect(second.buffer).toBe(scratch.buffer); // no new memory
    const theirs = (pcm: Float32Array): Buffer =>
      Buffer.from(
        encode({ type: 'Audio', pcm: Array.from(pcm) }, { forceFloat32: true, forceIntegerToFloat: true }),
      );
    expect(first.equals(theirs(a))).toBe(true);
    expect(Buffer.from(second).equals(theirs(b))).toBe(true);
    // A shorter frame after a full one: only its own bytes, with its own length.
    expect([...encodeAudio(Float32Array.from([0, 1, -0.5]), scratch)]).toEqual(THREE);
  });

  it('encodes Marker{id}', () => {
    expect([...encodeMarker(7)]).toEqual([
      0x82, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa6, 0x4d, 0x61, 0x72, 0x6b, 0x65, 0x72, 0xa2, 0x69, 0x64, 0x07,
    ]);
  });

  it('decodes every server message', () => {
    expect(decodeServerMessage(encode({ type: 'Ready' }))).toEqual({ type: 'Ready' });
    expect(decodeServerMessage(encode({ type: 'Word', text: 'Hello,', start_time: 1.04 }))).toEqual({
      type: 'Word',
      text: 'Hello,',
      start_time: 1.04,
    });
    expect(decodeServerMessage(encode({ type: 'EndWord', stop_time: 1.68 }))).toEqual({
      type: 'EndWord',
      stop_time: 1.68,
    });
    expect(
      decodeServerMessage(
        encode({ type: 'Step', step_idx: 90412, prs: [0.91, 0.88, 0.93, 0.95], buffered_pcm: 0 }),
      ),
    ).toEqual({ type: 'Step', step_idx: 90412, prs: [0.91, 0.88, 0.93, 0.95], buffered_pcm: 0 });
    expect(decodeServerMessage(encode({ type: 'Marker', id: 7 }))).toEqual({ type: 'Marker', id: 7 });
    expect(decodeServerMessage(encode({ type: 'Error', message: 'no free channels' }))).toEqual({
      type: 'Error',
      message: 'no free channels',
    });
    // Extra keys are ignored, as serde does.
    expect(decodeServerMessage(encode({ type: 'Marker', id: 1, extra: true }))).toEqual({
      type: 'Marker',
      id: 1,
    });
  });

  it('returns null for an unknown type and throws ProtocolDecodeError on malformed frames', () => {
    expect(decodeServerMessage(encode({ type: 'Something' }))).toBeNull();
    const bad: Uint8Array[] = [
      Uint8Array.from([0xc1]),
      encode([1, 2]),
      encode('Ready'),
      encode({ text: 'no type' }),
      encode({ type: 'Word', text: 3, start_time: 0 }),
      encode({ type: 'Step', step_idx: 1, prs: 'x', buffered_pcm: 0 }),
      encode({ type: 'EndWord' }),
    ];
    for (const b of bad) {
      expect(() => decodeServerMessage(b)).toThrow(ProtocolDecodeError);
    }
  });
});
