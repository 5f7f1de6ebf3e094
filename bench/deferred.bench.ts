/**
 * Deferred transcription (`stt.whenFull: "defer"`): memory held per recorded call-minute in
 * memory (`MemoryRecording`, the old path) against on disk (`PendingRecording`, the new one), and
 * the CPU cost of writing a call-minute to disk and reading it back as STT frames.
 * Heap figures come from `process.memoryUsage()` (heap + array buffers) after forced GCs when
 * `--expose-gc` is on (`node --expose-gc --import tsx bench/run.ts deferred`); without it they are
 * indicative only. Measurements on a shared machine, never assertions.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PendingRecording } from '../src/recording/PendingRecording.js';
import { MemoryRecording } from '../src/stt/DeferredTranscriber.js';
import { FRAME_SAMPLES } from '../src/stt/protocol.js';

const FRAMES_PER_MINUTE = 750; // 80 ms frames
const MINUTES = 10;
const MARKS = new Set([1, 5, 10]);
const MB = 1024 * 1024;

function gc(): void {
  // Twice: external (ArrayBuffer) memory is given back after the collection that found it dead.
  const g = (globalThis as { gc?: () => void }).gc;
  g?.();
  g?.();
}

function used(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function frame(): Float32Array {
  const f = new Float32Array(FRAME_SAMPLES);
  for (let i = 0; i < f.length; i++) {
    f[i] = Math.sin(i / 7) * 0.3;
  }
  return f;
}

/** Records MINUTES of frames with `push`, noting the memory held at the marks. */
function record(push: (f: Float32Array) => void): string {
  const f = frame();
  const base = used();
  const marks: string[] = [];
  for (let m = 1; m <= MINUTES; m++) {
    for (let i = 0; i < FRAMES_PER_MINUTE; i++) {
      push(f);
    }
    if (MARKS.has(m)) {
      marks.push(`${m} min: ${((used() - base) / MB).toFixed(2)} MiB`);
    }
  }
  return marks.join(', ');
}

async function onDisk(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sipscribe-bench-deferred-'));
  try {
    const rec = PendingRecording.create(dir, 'bench');
    const t0 = process.cpuUsage();
    const held = record((f) => rec.push(f));
    rec.finish();
    const w = process.cpuUsage(t0);
    const bytes = statSync(rec.path).size;
    console.log(`PendingRecording (now): memory held while recording: ${held}`);
    console.log(
      `  file: ${(bytes / MB / MINUTES).toFixed(2)} MiB per call-minute on disk (24 kHz PCM16, ${bytes} bytes for ${MINUTES} min); ` +
        `writing: ${((w.user + w.system) / 1000 / MINUTES).toFixed(1)} ms CPU per call-minute`,
    );
    const t1 = process.cpuUsage();
    let n = 0;
    for await (const fr of PendingRecording.open(dir, 'bench').frames()) {
      n += fr.length === FRAME_SAMPLES ? 1 : 0;
    }
    const r = process.cpuUsage(t1);
    console.log(
      `  reading back ${n} frames: ${((r.user + r.system) / 1000 / MINUTES).toFixed(1)} ms CPU per call-minute`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function inMemory(): void {
  const mem = new MemoryRecording();
  const held = record((f) => mem.push(f));
  console.log(
    `MemoryRecording (before): memory held grows with the call: ${held} (${mem.frameCount} frames)`,
  );
}

export async function run(): Promise<void> {
  const exact = typeof (globalThis as { gc?: unknown }).gc === 'function';
  console.log(
    `heap figures after forced GC: ${exact ? 'yes' : 'no (run node with --expose-gc for exact figures)'}`,
  );
  await onDisk();
  inMemory();
}
