/**
 * `npm run bench -- srtp`: what SRTP (RFC 3711: AES_CM_128_HMAC_SHA1_80, AES_256_CM_HMAC_SHA1_80 of
 * RFC 6188, and AEAD_AES_128_GCM and AEAD_AES_256_GCM of RFC 7714) adds to the receive path of one call. The same 180 call-seconds of μ-law go through an
 * RtpSession receiving plain RTP and one receiving SRTP per suite (protected beforehand; all get
 * fresh buffers per round, as node:dgram gives a new one per datagram, and unprotecting decrypts in
 * place), each round in a shuffled order, best of 6 rounds after a warm-up; CPU per call-second and the ratio to the
 * plain path (goal: under 25 % extra), and the median over the rounds of each round's SRTP path over
 * the plain path of the same round (less swayed by a load that changes between rounds). Then the unprotect step alone per packet for both suites, the
 * HMAC-SHA1 part of AES-CM's (as SrtpContext computes it), and the same HMAC by createHmac.
 *
 * `npm run bench -- srtp --instructions`: the same paths counted in instructions instead of CPU
 * time, each in a child process under valgrind's callgrind (see {@link instructionView}): the
 * figure does not move with the machine's load, so it shows a change of a few hundred
 * instructions per packet on a busy machine where CPU time cannot. About 6 minutes.
 */
import { spawnSync } from 'node:child_process';
import { createHmac, createSecretKey } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HmacSha1 } from '../rtp/srtp/HmacSha1.js';
import { SrtpContext } from '../rtp/srtp/SrtpContext.js';
import { srtpSuite, type SrtpSuite } from '../rtp/srtp/suites.js';
import { MemoryNetwork } from '../test/rtp/session/memoryNetwork.js';
import { cpu, datagrams, drive, openCall } from './media.bench.js';

const CALL_SECONDS = 180;
const ROUNDS = 6;
const SUITE = srtpSuite('AES_CM_128_HMAC_SHA1_80')!;
const GCM = srtpSuite('AEAD_AES_128_GCM')!;
const GCM256 = srtpSuite('AEAD_AES_256_GCM')!;
const CM256 = srtpSuite('AES_256_CM_HMAC_SHA1_80')!;
/** A full collection before each measurement (`npm run bench` runs node with --expose-gc). */
const collect = (): void => (globalThis as { gc?: () => void }).gc?.();
const peerKey = (suite: SrtpSuite): Buffer => Buffer.alloc(suite.keyLength + suite.saltLength, 0x5a);
const ourKey = (suite: SrtpSuite): Buffer => Buffer.alloc(suite.keyLength + suite.saltLength, 0xa5);

function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
}

export async function run(): Promise<void> {
  const child = process.argv.find((a) => a.startsWith('--instructions-child='));
  if (child) {
    await instructionChild(child.slice('--instructions-child='.length));
  } else if (process.argv.includes('--instructions')) {
    instructionView();
  } else {
    await cpuView();
  }
}

async function cpuView(): Promise<void> {
  const plain = datagrams(CALL_SECONDS);
  const suites = [SUITE, CM256, GCM, GCM256];
  const protectedPackets = suites.map((suite) => {
    const sender = new SrtpContext(suite, peerKey(suite));
    return plain.map((p) => sender.protectRtp(p));
  });
  const net = new MemoryNetwork({ log: false });
  let port = 40000;
  let plainBest = Infinity;
  const srtpBest = suites.map(() => Infinity);
  /** Per round, each suite's path over the plain path of the same round (paired: load drifts). */
  const ratios: number[][] = suites.map(() => []);
  // Each round measures the plain path and every suite in a new order (a fixed-seed shuffle): the
  // path measured first in a round was seen to run slower than the same path measured later, so a
  // fixed order would pass that bias on to one suite.
  let seed = 0x2545f491;
  const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let r = 0; r <= ROUNDS; r++) {
    const warmup = r === 0;
    const n = warmup ? 1000 : plain.length;
    const order = [-1, ...suites.keys()];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let plainMs = 0;
    const srtpMs: number[] = [];
    for (const i of order) {
      if (i < 0) {
        // Fresh buffers for all, as node:dgram hands over a new one per datagram.
        const plainCopies = plain.slice(0, n).map((p) => Buffer.from(p));
        const a = await openCall(net, (port += 2), 'sendonly');
        collect();
        plainMs = cpu(() => drive(a, plainCopies)).ms;
        a.session.close();
        continue;
      }
      const suite = suites[i]!;
      const copies = protectedPackets[i]!.slice(0, n).map((p) => Buffer.from(p));
      const b = await openCall(net, (port += 2), 'sendonly', {
        suite: suite.name,
        remoteKey: peerKey(suite),
        localKey: ourKey(suite),
      });
      collect();
      srtpMs[i] = cpu(() => drive(b, copies)).ms;
      const stats = b.session.getStats();
      b.session.close();
      if (stats.srtpAuthFailed > 0 || stats.received !== n) {
        throw new Error(
          `${suite.name} path: ${stats.received} of ${n} received, ${stats.srtpAuthFailed} failed`,
        );
      }
    }
    if (!warmup) {
      plainBest = Math.min(plainBest, plainMs / CALL_SECONDS);
      for (const i of suites.keys()) {
        srtpBest[i] = Math.min(srtpBest[i]!, srtpMs[i]! / CALL_SECONDS);
        ratios[i]!.push(srtpMs[i]! / plainMs);
      }
    }
  }
  console.log(
    `call audio per run: ${CALL_SECONDS} s (${plain.length} packets of 160 bytes μ-law), best of ${ROUNDS} rounds, each in a shuffled order`,
  );
  console.log(
    `${'plain receive path (RtpSession)'.padEnd(52)} ${plainBest.toFixed(3)} ms CPU per call-second`,
  );
  for (const [i, suite] of suites.entries()) {
    const best = srtpBest[i]!;
    const extra = (best - plainBest) / plainBest;
    console.log(
      `${`SRTP receive path, ${suite.name}`.padEnd(52)} ${best.toFixed(3)} ms CPU per call-second: ` +
        `${(best / plainBest).toFixed(2)}× the plain path, +${(extra * 100).toFixed(1)} % (goal < 25 %), ` +
        `${(((best - plainBest) * 1000) / 50).toFixed(2)} µs per packet; ` +
        `paired per round: median +${((median(ratios[i]!) - 1) * 100).toFixed(1)} %`,
    );
  }

  // The unprotect step alone, and its HMAC, best of 5 rounds (the first warms up).
  const N = 50_000;
  const fresh = new SrtpContext(SUITE, peerKey(SUITE));
  const batch = Array.from({ length: N }, (_, i) => {
    const b = Buffer.from(plain[i % plain.length]!);
    b.writeUInt16BE(i & 0xffff, 2); // distinct sequence numbers: no replay
    return fresh.protectRtp(b);
  });
  const best = (f: () => void): number => {
    let ms = Infinity;
    for (let r = 0; r < 5; r++) {
      collect();
      ms = Math.min(ms, cpu(f).ms);
    }
    return ms;
  };
  let copies: Buffer[] = [];
  let unprotect = Infinity;
  for (let r = 0; r < 5; r++) {
    copies = batch.map((p) => Buffer.from(p));
    const receiver = new SrtpContext(SUITE, peerKey(SUITE));
    collect();
    unprotect = Math.min(unprotect, cpu(() => copies.forEach((p) => receiver.unprotectRtp(p))).ms);
  }
  const gcmSender = new SrtpContext(GCM, peerKey(GCM));
  const gcmBatch = batch.map((_, i) => {
    const b = Buffer.from(plain[i % plain.length]!);
    b.writeUInt16BE(i & 0xffff, 2);
    return gcmSender.protectRtp(b);
  });
  let gcmUnprotect = Infinity;
  for (let r = 0; r < 5; r++) {
    copies = gcmBatch.map((p) => Buffer.from(p));
    const receiver = new SrtpContext(GCM, peerKey(GCM));
    collect();
    gcmUnprotect = Math.min(gcmUnprotect, cpu(() => copies.forEach((p) => receiver.unprotectRtp(p))).ms);
  }
  const key = createSecretKey(Buffer.alloc(20, 7));
  const roc = Buffer.alloc(4);
  const hmac = best(() => batch.forEach((p) => createHmac('sha1', key).update(p).update(roc).digest()));
  // What SrtpContext uses: two one-shot hash() calls over buffers holding the key pads (HmacSha1).
  const ours = new HmacSha1(Buffer.alloc(20, 7));
  const check = createHmac('sha1', key).update(batch[0]!).update(roc).digest();
  if (!check.equals(Buffer.from(ours.digest(batch[0]!, batch[0]!.length, roc), 'latin1'))) {
    throw new Error('HmacSha1 differs from createHmac');
  }
  const oneShot = best(() => batch.forEach((p) => ours.digest(p, p.length, roc)));
  const us = (ms: number): string => `${((ms * 1000) / N).toFixed(2)} µs`;
  console.log(
    `unprotect alone: AEAD_AES_128_GCM ${us(gcmUnprotect)} per packet; ${SUITE.name} ${us(unprotect)}, ` +
      `of which HMAC-SHA1 (HmacSha1: two one-shot hash() calls) ${us(oneShot)}; the same HMAC by createHmac ${us(hmac)}`,
  );
}

// --- the instruction view (`npm run bench -- srtp --instructions`) ---

/** The paths of the instruction view: the plain one first. */
const IR_PATHS = ['plain', SUITE.name, CM256.name, GCM.name, GCM256.name];
/** Packets through the path before counting (JIT tiers settle), then packets counted. */
const IR_WARMUP = 3000;
const IR_PACKETS = 3000;

/**
 * One child per path under `valgrind --tool=callgrind` (instructions executed, Ir): node with
 * `--single-threaded` (compilation and GC on the main thread, in a fixed order) and fixed hash and
 * random seeds, so a count does not change from run to run nor with the machine's load. The child
 * calls `os.loadavg()` (nothing else there does) around each measured section, and callgrind dumps
 * its counts there (`--dump-before=uv_loadavg`): each section's own count, per packet.
 */
function instructionView(): void {
  const dir = mkdtempSync(join(tmpdir(), 'srtp-ir-'));
  try {
    const counts = new Map<string, Map<string, number>>();
    for (const path of IR_PATHS) {
      const started = Date.now();
      const r = spawnSync(
        'valgrind',
        [
          '--tool=callgrind',
          '--dump-before=uv_loadavg',
          `--callgrind-out-file=${join(dir, `${path}.%p`)}`,
          process.execPath,
          ...process.execArgv,
          '--single-threaded',
          '--hash-seed=1',
          '--random-seed=1',
          process.argv[1]!,
          'srtp',
          `--instructions-child=${path}`,
        ],
        { encoding: 'utf8', maxBuffer: 1 << 26 },
      );
      if (r.error || r.status !== 0) {
        throw new Error(
          `valgrind ${path}: ${r.error?.message ?? `exit ${r.status}`} (is valgrind installed?)\n${r.stderr.slice(-2000)}`,
        );
      }
      // The child names its sections in order; dump k + 1 holds what ran since dump k.
      const sections = JSON.parse(/^sections (.*)$/m.exec(r.stdout)![1]!) as string[];
      const files = readdirSync(dir).filter((f) => f.startsWith(`${path}.`));
      const summary = (part: number): number => {
        const f = files.find((name) => name.endsWith(`.${part}`))!;
        return Number(/^summary: (\d+)$/m.exec(readFileSync(join(dir, f), 'utf8'))![1]);
      };
      const m = new Map<string, number>();
      sections.forEach((name, i) => m.set(name, summary(2 * i + 2) / IR_PACKETS));
      counts.set(path, m);
      console.log(
        `  (${path}: ${((Date.now() - started) / 1000).toFixed(0)} s under valgrind, ${[...m]
          .map(([k, v]) => `${k} ${Math.round(v)}`)
          .join(', ')})`,
      );
    }
    const base = counts.get('plain')!.get('path')!;
    console.log(
      `instructions (valgrind callgrind, Ir; independent of the machine's load): ${IR_PACKETS} packets counted ` +
        `after ${IR_WARMUP}, per packet`,
    );
    console.log(
      `${'plain receive path (RtpSession)'.padEnd(52)} ${Math.round(base)} instructions per packet`,
    );
    for (const path of IR_PATHS.slice(1)) {
      const m = counts.get(path)!;
      const total = m.get('path')!;
      const unprotect = m.get('unprotectRtp')!;
      const extra = total - base;
      console.log(
        `${`SRTP receive path, ${path}`.padEnd(52)} ${Math.round(total)} instructions per packet: ` +
          `+${Math.round(extra)} (+${((extra / base) * 100).toFixed(1)} %, goal < 25 %); ` +
          `unprotectRtp alone ${Math.round(unprotect)} (+${((unprotect / base) * 100).toFixed(1)} %), ` +
          `so ${Math.round(extra - unprotect)} outside it`,
      );
    }
    console.log(
      'Instructions are not time: AES-NI and SHA extensions do a block in a few instructions, and under ' +
        "valgrind OpenSSL sees valgrind's CPU (its SHA-1 is the AVX2 code, not the SHA-NI one it uses here natively).",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The child of {@link instructionView}: one path, then unprotectRtp alone, each between two markers. */
async function instructionChild(path: string): Promise<void> {
  const suite = path === 'plain' ? undefined : srtpSuite(path);
  if (path !== 'plain' && !suite) {
    throw new Error(`unknown path ${path}`);
  }
  const total = IR_WARMUP + IR_PACKETS;
  const plain = datagrams(Math.ceil(total / 50)).slice(0, total);
  let packets = plain;
  if (suite) {
    const sender = new SrtpContext(suite, peerKey(suite));
    packets = plain.map((p) => sender.protectRtp(p));
  }
  const sections: string[] = [];
  const measure = (name: string, fn: () => void): void => {
    collect();
    loadavg(); // callgrind dumps here: the count since the last dump (setup, or a gap)
    fn();
    loadavg(); // and here: this section's count
    sections.push(name);
  };
  const net = new MemoryNetwork({ log: false });
  const call = await openCall(
    net,
    40002,
    'sendonly',
    suite ? { suite: suite.name, remoteKey: peerKey(suite), localKey: ourKey(suite) } : undefined,
  );
  const copies = packets.map((p) => Buffer.from(p));
  drive(call, copies.slice(0, IR_WARMUP));
  const counted = copies.slice(IR_WARMUP);
  measure('path', () => drive(call, counted));
  const stats = call.session.getStats();
  call.session.close();
  if (stats.received !== total || stats.srtpAuthFailed > 0) {
    throw new Error(`${path}: ${stats.received} of ${total} received, ${stats.srtpAuthFailed} failed`);
  }
  if (suite) {
    // As the session gets them: the in-memory network hands over a copy (a Uint8Array).
    const views = packets.map((p) => Uint8Array.from(p));
    const receiver = new SrtpContext(suite, peerKey(suite));
    views.slice(0, IR_WARMUP).forEach((p) => receiver.unprotectRtp(p));
    const rest = views.slice(IR_WARMUP);
    measure('unprotectRtp', () => rest.forEach((p) => receiver.unprotectRtp(p)));
  }
  console.log(`sections ${JSON.stringify(sections)}`);
}
