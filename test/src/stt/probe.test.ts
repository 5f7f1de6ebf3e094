import { describe, expect, it } from 'vitest';
import { httpBaseOf, parseModulesInfo } from '../../../src/stt/probe.js';

describe('moshi-server probes', () => {
  it('reads used/total slots given as strings (moshi-server main.rs modules_info)', () => {
    const body = JSON.stringify([
      {
        type: 'batched_asr',
        path: '/api/asr-streaming',
        lm: 'x',
        audio_tokenizer: 'y',
        used_slots: '3',
        total_slots: '64',
      },
    ]);
    expect(parseModulesInfo(body, '/api/asr-streaming')).toEqual({ used: 3, total: 64 });
  });

  it('picks the module by path, and rejects what it cannot read', () => {
    const body = JSON.stringify([
      { type: 'batched_asr', path: '/a', used_slots: '1', total_slots: '2' },
      { type: 'batched_asr', path: '/b', used_slots: '5', total_slots: '16' },
      { type: 'tts', path: '/c' },
    ]);
    expect(parseModulesInfo(body, '/b')).toEqual({ used: 5, total: 16 });
    expect(parseModulesInfo(body, '/z')).toBeNull();
    expect(parseModulesInfo('not json', '/a')).toBeNull();
    expect(parseModulesInfo('{}', '/a')).toBeNull();
    expect(
      parseModulesInfo(JSON.stringify([{ type: 'batched_asr', used_slots: 'x', total_slots: '2' }]), '/a'),
    ).toBeNull();
  });

  it('derives the HTTP base from the WebSocket URL', () => {
    expect(httpBaseOf('ws://127.0.0.1:8080/api/asr-streaming')).toBe('http://127.0.0.1:8080');
    expect(httpBaseOf('wss://stt.example:443/x')).toBe('https://stt.example');
  });
});
