// The deferred call's audio on disk: the bytes are checked against the WAV layout (RIFF/WAVE,
// fmt PCM mono 24 kHz 16-bit, data) and the PCM16 values written out by hand.
import { mkdtempSync, readFileSync, rmSync, truncateSync, existsSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  listPendingRecordings,
  PendingBudget,
  pendingPath,
  PendingRecording,
} from '../../../src/recording/PendingRecording.js';

async function readAll(rec: PendingRecording): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for await (const f of rec.frames()) {
    out.push(f);
  }
  return out;
}

/** One 1920-sample frame: `value` everywhere except sample 0 (= -1) and 1 (= 1). */
function frame(value: number): Float32Array {
  const f = new Float32Array(1920).fill(value);
  f[0] = -1;
  f[1] = 1;
  return f;
}

describe('PendingRecording', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sipscribe-pending-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes <dir>/pending/<callId>.wav as 24 kHz PCM16 mono, one 3840-byte block per frame', () => {
    const rec = PendingRecording.create(dir, 'call-1');
    expect(rec.path).toBe(join(dir, 'pending', 'call-1.wav'));
    rec.push(frame(0.5));
    rec.push(frame(-0.25));
    rec.finish();
    expect(rec.frameCount).toBe(2);
    expect(rec.audioMs).toBe(160);
    const b = readFileSync(rec.path);
    expect(b.length).toBe(44 + 2 * 3840);
    expect(b.toString('ascii', 0, 4)).toBe('RIFF');
    expect(b.readUInt32LE(4)).toBe(36 + 7680);
    expect(b.toString('ascii', 8, 16)).toBe('WAVEfmt ');
    expect(b.readUInt16LE(20)).toBe(1); // PCM
    expect(b.readUInt16LE(22)).toBe(1); // mono
    expect(b.readUInt32LE(24)).toBe(24_000);
    expect(b.readUInt16LE(34)).toBe(16);
    expect(b.toString('ascii', 36, 40)).toBe('data');
    expect(b.readUInt32LE(40)).toBe(7680);
    // -1 → -32768, 1 → 32767, 0.5 → round(16383.5) = 16384, -0.25 → -8192
    expect([b.readInt16LE(44), b.readInt16LE(46), b.readInt16LE(48)]).toEqual([-32768, 32767, 16384]);
    expect(b.readInt16LE(44 + 3840 + 4)).toBe(-8192);
  });

  it('reads the frames back (to within one PCM16 step) from a file opened by a later run', async () => {
    const rec = PendingRecording.create(dir, 'call-2');
    rec.push(frame(0.5));
    rec.push(frame(-0.25));
    rec.finish();
    const again = PendingRecording.open(dir, 'call-2');
    expect(again.frameCount).toBe(2);
    const frames = await readAll(again);
    expect(frames).toHaveLength(2);
    expect(frames[0]![0]).toBe(-1);
    expect(frames[0]![1]).toBe(1);
    expect(Math.abs(frames[0]![2]! - 0.5)).toBeLessThan(1 / 32767);
    expect(Math.abs(frames[1]![2]! + 0.25)).toBeLessThan(1 / 32767);
  });

  it('a file cut mid-frame by a crash (header never patched) reads up to its last whole frame', async () => {
    const rec = PendingRecording.create(dir, 'call-3');
    for (let i = 0; i < 3; i++) {
      rec.push(frame(0.1));
    }
    // No finish(): the header still says 0 bytes, like after a crash; then a torn last frame.
    truncateSync(pendingPath(dir, 'call-3'), 44 + 2 * 3840 + 100);
    const again = PendingRecording.open(dir, 'call-3');
    expect(again.frameCount).toBe(2);
    expect(await readAll(again)).toHaveLength(2);
    rec.finish();
  });

  it('lists pending calls oldest first; remove() deletes the file', () => {
    expect(listPendingRecordings(dir)).toEqual([]); // no pending/ folder yet
    const a = PendingRecording.create(dir, 'a');
    const b = PendingRecording.create(dir, 'b');
    a.finish();
    b.finish();
    utimesSync(a.path, new Date(2026, 0, 2), new Date(2026, 0, 2));
    utimesSync(b.path, new Date(2026, 0, 1), new Date(2026, 0, 1));
    expect(listPendingRecordings(dir)).toEqual(['b', 'a']);
    a.remove();
    expect(existsSync(a.path)).toBe(false);
    expect(listPendingRecordings(dir)).toEqual(['b']);
  });

  describe('PendingBudget (storage.pendingMaxBytes)', () => {
    // 44-byte WAV header, 3840 bytes per 80 ms frame; a minute is 750 frames = 2 880 000 bytes.
    it('counts the files a previous run left, takes frames as written, and gets removed files back', () => {
      const old = PendingRecording.create(dir, 'old');
      old.push(frame(0.1));
      old.push(frame(0.1));
      old.finish();
      const budget = new PendingBudget(dir, 44 + 2 * 3840 + 44 + 3 * 3840);
      expect(budget.usedBytes).toBe(44 + 2 * 3840);
      const rec = PendingRecording.create(dir, 'new', budget);
      expect([1, 2, 3, 4].map(() => rec.push(frame(0.2)))).toEqual([true, true, true, false]);
      expect(budget.usedBytes).toBe(budget.maxBytes);
      rec.finish();
      expect(readFileSync(rec.path).length).toBe(44 + 3 * 3840); // the refused frame was not written
      PendingRecording.open(dir, 'old', budget).remove();
      expect(budget.usedBytes).toBe(44 + 3 * 3840);
      rec.remove();
      expect(budget.usedBytes).toBe(0);
    });

    it('takes a new deferred call only while a minute of audio still fits', () => {
      const minute = 750 * 3840;
      const budget = new PendingBudget(dir, minute + 44);
      expect(budget.hasRoom()).toBe(true);
      const rec = PendingRecording.create(dir, 'a', budget);
      rec.push(frame(0));
      expect(budget.hasRoom()).toBe(false);
      expect(new PendingBudget(dir, 0).hasRoom()).toBe(false);
    });
  });
});
