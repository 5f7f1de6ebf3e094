// What the ingress tests' protocol clients share: the fake STT's tone "speech" as the 8 kHz phone
// audio the three systems send (16-bit PCM, and µ-law by sox's G.711 encoder, the reference), and
// PCM as the little-endian bytes on the wire.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDir } from '../helpers/paths.js';
import { WebSocket } from 'ws';
import { run } from '../helpers/processes.js';
import { dbRows, getJson, scriptWav8k, until, type E2e } from './e2eHarness.js';

/** The samples of a 16-bit mono WAV file (its `data` chunk). */
export function wavSamples(path: string): Int16Array {
  const b = readFileSync(path);
  let pos = 12;
  while (pos + 8 <= b.length) {
    const id = b.toString('latin1', pos, pos + 4);
    const size = b.readUInt32LE(pos + 4);
    if (id === 'data') {
      const out = new Int16Array(size / 2);
      for (let i = 0; i < out.length; i++) {
        out[i] = b.readInt16LE(pos + 8 + i * 2);
      }
      return out;
    }
    pos += 8 + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

/** The script as 8 kHz 16-bit PCM, and as raw µ-law (sox's G.711 encoder, the reference). */
export async function script(
  name: string,
  words: readonly string[],
): Promise<{ pcm: Int16Array; ulaw: Buffer; wav: string }> {
  const dir = runDir(name);
  const wav = await scriptWav8k(dir, words);
  const ul = join(dir, 'script.ul');
  const sox = await run('sox', 'sox', [wav, '-t', 'raw', '-e', 'u-law', '-b', '8', ul], {
    timeoutMs: 20_000,
  });
  if (sox.code !== 0) {
    throw new Error(sox.output);
  }
  return { pcm: wavSamples(wav), ulaw: readFileSync(ul), wav };
}

export function le16(pcm: Int16Array): Buffer {
  const b = Buffer.alloc(pcm.length * 2);
  pcm.forEach((s, i) => b.writeInt16LE(s, i * 2));
  return b;
}

/** A call as `GET /api/calls` lists it (the fields these tests read). */
export interface ApiCall {
  id: string;
  state: string;
  endReason: string | null;
  call: { ingress?: string; sipCallId: string };
}

/** The call whose source key (`sipCallId`) is `key`, once it has ended. */
export async function endedIngressCall(e2e: E2e, key: string, timeoutMs = 30_000): Promise<ApiCall> {
  return until(
    async () => {
      const { calls } = await getJson<{ calls: ApiCall[] }>(`${e2e.base}/api/calls`);
      const c = calls.find((x) => x.call.sipCallId === key);
      return c?.state === 'ended' ? c : undefined;
    },
    `the call ${key} to end`,
    timeoutMs,
  );
}

/** The words stored for one channel of a call, in order. */
export function channelWords(e2e: Pick<E2e, 'storageDir'>, callId: string, channel: string): string[] {
  return dbRows<{ text: string }>(
    e2e.storageDir,
    'SELECT text FROM words WHERE call_id = ? AND channel = ? ORDER BY seq',
    callId,
    channel,
  ).map((w) => w.text);
}

/** A WebSocket upgrade's HTTP status (101 when it was taken; the socket is then closed at once). */
export function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('error', () => undefined);
  });
}
