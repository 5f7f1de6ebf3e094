import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { FrameBatch, portLogger, type PortLogLine } from '../../lib/threadPort.js';

/** A frame of `n` samples all equal to `v`. */
const frame = (n: number, v: number): Float32Array => new Float32Array(n).fill(v);

describe('FrameBatch', () => {
  it("sends a task's frames in one batch at its end, each at its place, copied", async () => {
    const sent: { ids: number[]; tags: number[]; samples: Float32Array }[] = [];
    const batch = new FrameBatch(4, 8, (b) => sent.push(b));
    const f = frame(4, 0.5);
    batch.add(7, f, 80);
    f.fill(-1); // the caller's buffer is its own again once add() returns
    batch.add(9, frame(4, 0.25), 160);
    expect(sent).toHaveLength(0);
    await Promise.resolve();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.ids).toEqual([7, 9]);
    expect(sent[0]!.tags).toEqual([80, 160]);
    expect(Array.from(sent[0]!.samples.subarray(0, 8))).toEqual([0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]);
    expect(sent[0]!.samples.length).toBe(32);
  });

  it('sends a full batch at once and starts another; flush() sends what it holds now', async () => {
    const sent: number[][] = [];
    const batch = new FrameBatch(2, 2, (b) => sent.push(b.ids));
    batch.add(1, frame(2, 0));
    batch.add(2, frame(2, 0));
    batch.add(3, frame(2, 0));
    expect(sent).toEqual([[1, 2]]);
    batch.flush();
    expect(sent).toEqual([[1, 2], [3]]);
    batch.flush(); // nothing held: nothing sent
    await Promise.resolve();
    expect(sent).toEqual([[1, 2], [3]]);
  });

  it('reuses a buffer handed back, keeps at most four, refuses one of another size', async () => {
    const sent: Float32Array[] = [];
    const batch = new FrameBatch(2, 2, (b) => sent.push(b.samples));
    batch.add(1, frame(2, 1));
    batch.flush();
    const first = sent[0]!;
    batch.recycle(first);
    batch.add(2, frame(2, 2));
    batch.flush();
    expect(sent[1]).toBe(first);
    batch.recycle(new Float32Array(3));
    batch.add(3, frame(2, 3));
    batch.flush();
    expect(sent[2]).not.toBe(first);
    // Six handed back: four kept, so the next four batches reuse and the fifth is new.
    const back: Float32Array[] = Array.from({ length: 6 }, () => new Float32Array(4));
    back.forEach((b) => batch.recycle(b));
    for (let i = 0; i < 5; i++) {
      batch.add(i, frame(2, 0));
      batch.flush();
    }
    const reused = sent.slice(3).filter((s) => back.includes(s));
    expect(reused).toHaveLength(4);
    await Promise.resolve();
  });
});

describe('portLogger', () => {
  it('sends lines at its level and above, nothing below', () => {
    const lines: PortLogLine[] = [];
    const log = portLogger((l) => lines.push(l), 'warn');
    log.debug({ a: 1 }, 'd');
    log.info({ a: 2 }, 'i');
    log.warn({ a: 3 }, 'w');
    log.error({ a: 4 });
    expect(lines).toEqual([
      { level: 'warn', obj: { a: 3 }, msg: 'w' },
      { level: 'error', obj: { a: 4 } },
    ]);
  });

  it('sends fields the structured clone refuses as their JSON form: an error with its code, no functions', () => {
    const { port1 } = new MessageChannel();
    const lines: PortLogLine[] = [];
    const log = portLogger((l) => {
      port1.postMessage(l); // throws DataCloneError on a function
      lines.push(l);
    }, 'debug');
    const err = Object.assign(new Error('boom'), { code: 'X_CODE' });
    log.error({ err, cb: () => 1, n: 10n }, 'failed');
    port1.close();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toBe('failed');
    expect(lines[0]!.obj).toMatchObject({ err: { type: 'Error', message: 'boom', code: 'X_CODE' }, n: '10' });
    expect(lines[0]!.obj).not.toHaveProperty('cb');
  });
});
