// `sipscribe transcribe FILE.wav`: in-process with an injected audio source, and as a user runs
// it (bin/sipscribe.js) on a WAV file, against the fake moshi-server.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { runTranscribe } from '../../src/audio/transcribeCommand.js';
import { wavFileSource } from '../../src/audio/wavFileSource.js';
import { FakeMoshiServer, synthesizeSpeech } from '../helpers/fakeMoshiServer.js';
import { FIXTURES, ROOT, runDir } from '../helpers/paths.js';
import { run, stopAll } from '../helpers/processes.js';

const fakes: FakeMoshiServer[] = [];
afterAll(async () => {
  await Promise.all(fakes.map((f) => f.stop()));
  await stopAll();
});

const SCRIPT = [
  { silence: 2 },
  { word: 'hello' },
  { silence: 1 },
  { word: 'my' },
  { silence: 20 },
  { word: 'thank' },
  { silence: 1 },
  { word: 'you' },
];

/** A 24 kHz mono PCM16 WAV, header written from the RIFF spec. */
function wavPcm16(frames: Float32Array[]): Buffer {
  const n = frames.length * 1920;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0, 'latin1');
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVEfmt ', 8, 'latin1');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(24000, 24);
  buf.writeUInt32LE(48000, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'latin1');
  buf.writeUInt32LE(n * 2, 40);
  let pos = 44;
  for (const f of frames) {
    for (const v of f) {
      buf.writeInt16LE(Math.round(v * 32767), pos);
      pos += 2;
    }
  }
  return buf;
}

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
  return { stream, text: () => text };
}

describe('sipscribe transcribe', () => {
  it('prints each utterance with its start time as the words come (injected source)', async () => {
    const fake = await FakeMoshiServer.start();
    fakes.push(fake);
    const frames = synthesizeSpeech(SCRIPT);
    const out = capture();
    const err = capture();
    const code = await runTranscribe({
      server: { url: fake.url },
      source: { durationMs: frames.length * 80, frames: () => frames },
      out: out.stream,
      err: err.stream,
    });
    expect(code).toBe(0);
    // 'hello' at frame 2, 'thank' at frame 2 + 3 + 1 + 3 + 20 = 29.
    expect(out.text()).toBe('[00:00.160] hello my\n[00:02.320] thank you\n');
    expect(err.text()).toContain('4 words, 2 utterances');
  });

  it('reads WAV through the product reader: 24 kHz as it is, 8 kHz resampled, garbage refused clearly', () => {
    const dir = runDir('stt-wav');
    const file = join(dir, 'speech.wav');
    const frames = synthesizeSpeech([{ word: 'hello' }]);
    writeFileSync(file, wavPcm16(frames));
    const src = wavFileSource(file);
    const got = [...(src.frames() as Iterable<Float32Array>)];
    expect(got.length).toBe(3);
    expect(got[1]![7]).toBeCloseTo(frames[1]![7]!, 4);
    // The fixtures recorded by sox at 8 and 24 kHz both read as 3.44 s.
    expect(wavFileSource(join(FIXTURES, 'audio', 'fox_pcm16_24k.wav')).durationMs).toBeCloseTo(3440, -1);
    expect(wavFileSource(join(FIXTURES, 'audio', 'fox_pcm16_8k.wav')).durationMs).toBeCloseTo(3440, -1);
    const junk = join(dir, 'junk.wav');
    writeFileSync(junk, 'not a wav file at all');
    expect(() => wavFileSource(junk)).toThrow(/junk\.wav/);
  });

  it('runs as a user runs it (--server or the config): words on stdout, exit 0; a wrong key exits 2 naming the 401', async () => {
    const fake = await FakeMoshiServer.start({ apiKeys: ['secret'] });
    fakes.push(fake);
    const dir = runDir('stt-transcribe');
    const file = join(dir, 'speech.wav');
    writeFileSync(file, wavPcm16(synthesizeSpeech(SCRIPT)));
    const bin = join(ROOT, 'bin', 'sipscribe.js');
    const withKey = (name: string, key: string) =>
      run(name, process.execPath, [bin, 'transcribe', file, '--server', fake.url, '--api-key', key]);
    const ok = await withKey('transcribe', 'secret');
    expect(ok.code).toBe(0);
    expect(ok.output).toContain('[00:00.160] hello my');
    expect(ok.output).toContain('[00:02.320] thank you');
    // Without --server: the configuration's first stt.servers entry.
    const cfgFile = join(dir, 'config.json');
    writeFileSync(cfgFile, JSON.stringify({ stt: { servers: [{ url: fake.url, apiKey: 'secret' }] } }));
    const viaConfig = await run('transcribe-cfg', process.execPath, [
      bin,
      '--config',
      cfgFile,
      'transcribe',
      file,
    ]);
    expect(viaConfig.code).toBe(0);
    expect(viaConfig.output).toContain('[00:02.320] thank you');
    const bad = await withKey('transcribe-bad', 'nope');
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('401');
    expect(bad.output).toContain('STT_ERR_AUTH');
  });
});
