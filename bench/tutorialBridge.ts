/**
 * The baseline of `npm run bench -- load`: the RTP → WebSocket bridge that tutorials write and that
 * this product replaces, run as its own process (`tsx bench/tutorialBridge.ts <streams> <stt-url>`).
 * One UDP port and one WebSocket to the STT per stream; per packet: the payload sliced after a fixed
 * 12-byte header, μ-law decoded through a table with one `writeInt16LE` per sample, linear
 * interpolation 8 → 24 kHz with `readInt16LE`/`writeInt16LE`, the samples turned into a plain
 * array of floats and sent as one MessagePack `Audio` frame per packet. No jitter buffer, no
 * pacing, no SIP, no storage: only the media path. Prints `PORTS p1,p2,…` once every port is bound.
 */
import { createSocket, type Socket } from 'node:dgram';
import { decode, encode } from '@msgpack/msgpack';
import { WebSocket } from 'ws';

const streams = Number(process.argv[2] ?? '1');
const url = process.argv[3] ?? 'ws://127.0.0.1:8080/api/asr-streaming';

// The μ-law table every tutorial pastes (ITU-T G.711 expansion).
const ULAW = new Int16Array(256);
for (let i = 0; i < 256; i++) {
  const u = ~i & 0xff;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 0x07)) - 0x84;
  ULAW[i] = u & 0x80 ? -magnitude : magnitude;
}

let words = 0;

function bridge(sock: Socket): void {
  const ws = new WebSocket(url, { headers: { 'kyutai-api-key': 'public_token' } });
  ws.on('message', (data: Buffer) => {
    const msg = decode(data) as { type?: string };
    if (msg.type === 'Word') {
      words++;
    }
  });
  ws.on('error', () => undefined);
  sock.on('message', (packet: Buffer) => {
    const payload = packet.slice(12);
    const pcm8 = Buffer.alloc(payload.length * 2);
    for (let i = 0; i < payload.length; i++) {
      pcm8.writeInt16LE(ULAW[payload[i]!]!, i * 2);
    }
    const n = payload.length;
    const pcm24 = Buffer.alloc(n * 3 * 2);
    for (let i = 0; i < n; i++) {
      const s = pcm8.readInt16LE(i * 2);
      const next = i + 1 < n ? pcm8.readInt16LE((i + 1) * 2) : s;
      for (let k = 0; k < 3; k++) {
        pcm24.writeInt16LE(Math.round(s + ((next - s) * k) / 3), (i * 3 + k) * 2);
      }
    }
    const pcm: number[] = [];
    for (let j = 0; j < n * 3; j++) {
      pcm.push(pcm24.readInt16LE(j * 2) / 32768);
    }
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(encode({ type: 'Audio', pcm }));
    }
  });
}

const ports: number[] = [];
for (let i = 0; i < streams; i++) {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  ports.push(sock.address().port);
  bridge(sock);
}
console.log(`PORTS ${ports.join(',')}`);
process.on('SIGTERM', () => {
  console.log(`words ${words}`);
  process.exit(0);
});
