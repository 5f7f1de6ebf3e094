/**
 * `npm run bench -- srtp`: what SRTP (RFC 3711: AES_CM_128_HMAC_SHA1_80, AES_256_CM_HMAC_SHA1_80 of
 * RFC 6188, AEAD_AES_128_GCM and AEAD_AES_256_GCM of RFC 7714) adds to the receive path of one
 * call (goal of #13: under 25 % of the plain path for the mandatory suite).
 *
 * CPU view (the default): five calls, one receiving plain RTP and one receiving SRTP per suite
 * (protected beforehand; fresh buffers, as node:dgram gives a new one per datagram, and
 * unprotecting decrypts in place), all open at once and fed {@link CHUNK} packets at a time in
 * turns, {@link CHUNKS} turns, each in a shuffled order: per path the least CPU of a turn (what it
 * costs when nothing else takes the core: under a busy or stolen core one long run per path
 * scattered from -25 % to +98 % against plain, the least of many short interleaved turns does
 * not), and the median and middle half of each turn's SRTP path over the plain path's turn. Then
 * each suite's `unprotectRtp` alone the same way (what of the extra is the SRTP step itself, the
 * rest lies outside it), the HMAC-SHA1 of the AES-CM suites (as SrtpContext computes it, and by
 * createHmac), and what node:crypto alone costs per AES-GCM packet. The load average at the start
 * and end is printed.
 *
 * Instruction view (`npm run bench -- srtp --instructions`, about 6 minutes; valgrind needed): the
 * same paths counted in instructions executed instead of CPU time, each in a child process under
 * valgrind's callgrind (see {@link instructionView}). The counts do not move with the machine's
 * load, so they show a change of a thousand instructions per packet (0.5 %) where CPU time cannot.
 * `--cache` adds callgrind's cache simulation (about twice as long): L1 misses per packet, the
 * part of SRTP's CPU time that instruction counts do not show.
 */
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHmac, createSecretKey } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HmacSha1 } from '../rtp/srtp/HmacSha1.js';
import { SrtpContext } from '../rtp/srtp/SrtpContext.js';
import { srtpSuite, type SrtpSuite } from '../rtp/srtp/suites.js';
import { MemoryNetwork } from '../test/rtp/session/memoryNetwork.js';
import { cpu, datagrams, drive, openCall } from './media.bench.js';

/** Packets per turn of a path in the CPU view (10 s of call), and the turns measured. */
const CHUNK = 500;
const CHUNKS = 40;
const SUITE = srtpSuite('AES_CM_128_HMAC_SHA1_80')!;
const CM256 = srtpSuite('AES_256_CM_HMAC_SHA1_80')!;
const GCM = srtpSuite('AEAD_AES_128_GCM')!;
const GCM256 = srtpSuite('AEAD_AES_256_GCM')!;
const SUITES = [SUITE, CM256, GCM, GCM256];
/** A full collection before each measurement (`npm run bench` runs node with --expose-gc). */
const collect = (): void => (globalThis as { gc?: () => void }).gc?.();
const peerKey = (suite: SrtpSuite): Buffer => Buffer.alloc(suite.keyLength + suite.saltLength, 0x5a);
const ourKey = (suite: SrtpSuite): Buffer => Buffer.alloc(suite.keyLength + suite.saltLength, 0xa5);
const pct = (ratio: number): string => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;

function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
}

/** A fixed-seed generator: the same shuffles in every run. */
function seeded(): () => number {
  let seed = 0x2545f491;
  return () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

const load = (): string => loadavg()[0]!.toFixed(1);

export async function run(): Promise<void> {
  const child = process.argv.find((a) => a.startsWith('--instructions-child='));
  if (child) {
    await instructionChild(child.slice('--instructions-child='.length));
  } else if (process.argv.includes('--instructions')) {
    instructionView(process.argv.includes('--cache'));
  } else {
    await cpuView();
  }
}

// --- the CPU view (`npm run bench -- srtp`) ---

async function cpuView(): Promise<void> {
  const loadBefore = load();
  const plain = datagrams((CHUNK * (CHUNKS + 2)) / 50);
  const protectedPackets = SUITES.map((suite) => {
    const sender = new SrtpContext(suite, peerKey(suite));
    return plain.map((p) => sender.protectRtp(p));
  });
  // One call per path, all open at once, each fed CHUNK packets at a time in turns.
  const net = new MemoryNetwork({ log: false });
  const paths = [{ name: 'plain', packets: plain, call: await openCall(net, 40000, 'sendonly') }];
  for (const [i, suite] of SUITES.entries()) {
    const keys = { suite: suite.name, remoteKey: peerKey(suite), localKey: ourKey(suite) };
    paths.push({
      name: suite.name,
      packets: protectedPackets[i]!,
      call: await openCall(net, 40002 + 2 * i, 'sendonly', keys),
    });
  }
  /** Per path, µs per packet of each chunk after the warm-up (two chunks). */
  const chunkUs: number[][] = paths.map(() => []);
  const random = seeded();
  for (let c = 0; c < CHUNKS + 2; c++) {
    // A new order each turn: the path measured first was seen to run slower than the same path
    // measured later, and a fixed order would pass that bias on to one path.
    for (const i of shuffle([...paths.keys()], random)) {
      const { packets, call } = paths[i]!;
      // Fresh buffers, as node:dgram hands over a new one per datagram.
      const copies = packets.slice(c * CHUNK, (c + 1) * CHUNK).map((p) => Buffer.from(p));
      const ms = cpu(() => drive(call, copies)).ms;
      if (c >= 2) {
        chunkUs[i]!.push((ms * 1000) / CHUNK);
      }
    }
  }
  for (const { name, call } of paths) {
    const stats = call.session.getStats();
    call.session.close();
    if (stats.srtpAuthFailed > 0 || stats.received !== plain.length) {
      throw new Error(`${name} path: ${stats.received} of ${plain.length} received`);
    }
  }
  const plainUs = Math.min(...chunkUs[0]!);
  /** Per suite, its chunk over the plain path's chunk of the same turn. */
  const ratios = SUITES.map((_, i) => chunkUs[i + 1]!.map((v, c) => v / chunkUs[0]![c]!));
  const srtpUs = SUITES.map((_, i) => Math.min(...chunkUs[i + 1]!));

  // Each suite's unprotectRtp alone, the same way: a receiver per suite fed CHUNK packets at a
  // time in turns, as this bench's session gets them (the in-memory network hands over a copy, a
  // Uint8Array); the least CPU of a turn.
  const receivers = SUITES.map((suite) => new SrtpContext(suite, peerKey(suite)));
  const aloneUs = SUITES.map(() => Infinity);
  for (let c = 0; c < CHUNKS + 2; c++) {
    for (const i of shuffle([...SUITES.keys()], random)) {
      const views = protectedPackets[i]!.slice(c * CHUNK, (c + 1) * CHUNK).map((p) => Uint8Array.from(p));
      const receiver = receivers[i]!;
      const ms = cpu(() => views.forEach((p) => receiver.unprotectRtp(p))).ms;
      if (c >= 2) {
        aloneUs[i] = Math.min(aloneUs[i]!, (ms * 1000) / CHUNK);
      }
    }
  }
  /** The least CPU per item of `fn` over the first CHUNK of `items`, of CHUNKS runs after 2. */
  const least = <T>(items: readonly T[], fn: (item: T) => void): number => {
    const chunk = items.slice(0, CHUNK);
    let us = Infinity;
    for (let c = 0; c < CHUNKS + 2; c++) {
      const t = (cpu(() => chunk.forEach(fn)).ms * 1000) / CHUNK;
      us = c >= 2 ? Math.min(us, t) : us;
    }
    return us;
  };
  // HMAC-SHA1 as SrtpContext computes it (HmacSha1: two one-shot hash() calls over buffers holding
  // the key pads), and by createHmac.
  const batch = protectedPackets[0]!;
  const hmacKey = createSecretKey(Buffer.alloc(20, 7));
  const roc = Buffer.alloc(4);
  const ours = new HmacSha1(Buffer.alloc(20, 7));
  const check = createHmac('sha1', hmacKey).update(batch[0]!).update(roc).digest();
  if (!check.equals(Buffer.from(ours.digest(batch[0]!, batch[0]!.length, roc), 'latin1'))) {
    throw new Error('HmacSha1 differs from createHmac');
  }
  const oneShot = least(batch, (p) => ours.digest(p, p.length, roc));
  const byCreateHmac = least(batch, (p) => createHmac('sha1', hmacKey).update(p).update(roc).digest());
  // What node:crypto alone costs per AES-GCM packet: a decipher per packet (no API gives a GCM
  // cipher a new IV), then its AAD, tag, update and final; and the decipher object alone.
  const gcmKey = createSecretKey(Buffer.alloc(16, 3));
  const iv = Buffer.alloc(12, 9);
  const gcmPackets = plain.slice(0, CHUNK).map((p) => {
    const c = createCipheriv('aes-128-gcm', gcmKey, iv);
    c.setAAD(p.subarray(0, 12));
    const body = c.update(p.subarray(12));
    c.final();
    return Buffer.concat([p.subarray(0, 12), body, c.getAuthTag()]);
  });
  const gcmCreate = least(gcmPackets, () => createDecipheriv('aes-128-gcm', gcmKey, iv));
  const gcmWhole = least(gcmPackets, (p) => {
    const d = createDecipheriv('aes-128-gcm', gcmKey, iv);
    d.setAAD(p.subarray(0, 12));
    d.setAuthTag(p.subarray(p.length - 16));
    d.update(p.subarray(12, p.length - 16));
    d.final();
  });

  const us = (v: number): string => `${v.toFixed(2)} µs`;
  console.log(
    `CPU time (process.cpuUsage): ${paths.length} calls, one per path, fed ${CHUNK} packets (${CHUNK / 50} s of ` +
      `μ-law) at a time in turns, ${CHUNKS} turns in shuffled orders after 2 of warm-up; the least CPU ` +
      `of a turn per path (what the path costs when nothing else takes the core), and each turn's SRTP ` +
      `path over the plain path's turn. Load average ${loadBefore} → ${load()} on ${cpus().length} cores ` +
      '(`--instructions` counts instructions: within 0.2 % from run to run under any load)',
  );
  console.log(
    `${'plain receive path (RtpSession)'.padEnd(52)} ${us(plainUs)} per packet, ` +
      `${((plainUs * 50) / 1000).toFixed(3)} ms CPU per call-second`,
  );
  for (const [i, suite] of SUITES.entries()) {
    const extraUs = srtpUs[i]! - plainUs;
    const sorted = [...ratios[i]!].sort((a, b) => a - b);
    const q = (f: number): number => sorted[Math.round(f * (sorted.length - 1))]!;
    console.log(
      `${`SRTP receive path, ${suite.name}`.padEnd(52)} ${us(srtpUs[i]!)} per packet: ` +
        `${pct(srtpUs[i]! / plainUs)} (goal < 25 %), ${us(extraUs)} more, of which unprotectRtp alone ` +
        `${us(aloneUs[i]!)}, outside it ${us(extraUs - aloneUs[i]!)}; per turn: median ${pct(median(sorted))}, ` +
        `middle half ${pct(q(0.25))} … ${pct(q(0.75))}`,
    );
  }
  console.log(
    `HMAC-SHA1 of an AES-CM packet: ${us(oneShot)} as SrtpContext computes it (HmacSha1: two one-shot hash() calls), ` +
      `${us(byCreateHmac)} by createHmac`,
  );
  console.log(
    `node:crypto alone per AES-GCM packet: ${us(gcmWhole)} (createDecipheriv, setAAD, setAuthTag, update, final), ` +
      `of which createDecipheriv ${us(gcmCreate)}: no node:crypto API gives a GCM cipher a new IV, so each packet needs one`,
  );
}

// --- the instruction view (`npm run bench -- srtp --instructions [--cache]`) ---

/** The paths of the instruction view: the plain one first. */
const IR_PATHS = ['plain', ...SUITES.map((s) => s.name)];
/** Packets through the path before counting (JIT tiers settle), then packets counted. */
const IR_WARMUP = 3000;
/** Counted in IR_WINDOWS windows: a collection falls into one window or another (AES-GCM allocates
 * a cipher per packet), so the windows' spread shows how much that moves a count. */
const IR_WINDOWS = 3;
const IR_WINDOW = 2000;
const IR_PACKETS = IR_WINDOWS * IR_WINDOW;

/**
 * One child per path under `valgrind --tool=callgrind` (instructions executed, Ir): node with
 * `--single-threaded` (compilation and GC on the main thread, in a fixed order),
 * `--predictable-gc-schedule` (heap growth not from measured GC speeds, which depend on how fast
 * valgrind runs) and fixed hash and random seeds, so a count does not move with the machine's load
 * (runs agree within about 500 instructions per packet of some 230,000). The child calls `os.loadavg()` (nothing else there
 * does) around each measured section, and callgrind dumps its counts there
 * (`--dump-before=uv_loadavg`): each section's own count, divided by its packets. With `cache`,
 * callgrind also simulates the caches (valgrind takes their sizes from this CPU): L1 instruction
 * and data misses per packet.
 */
function instructionView(cache: boolean): void {
  const loadBefore = load();
  const dir = mkdtempSync(join(tmpdir(), 'srtp-ir-'));
  /** Per path, per section: events per packet (Ir, and with `cache` I1mr, D1mr, D1mw). */
  const counts = new Map<string, Map<string, Record<string, number>>>();
  try {
    for (const path of IR_PATHS) {
      const started = Date.now();
      const r = spawnSync(
        'valgrind',
        [
          '--tool=callgrind',
          '--dump-before=uv_loadavg',
          ...(cache ? ['--cache-sim=yes'] : []),
          `--callgrind-out-file=${join(dir, `${path}.%p`)}`,
          process.execPath,
          ...process.execArgv,
          '--single-threaded',
          '--predictable-gc-schedule',
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
      // The child names its sections in order; dump 2k + 2 holds section k (odd dumps: setup, gaps).
      const sections = JSON.parse(/^sections (.*)$/m.exec(r.stdout)![1]!) as string[];
      const files = readdirSync(dir).filter((f) => f.startsWith(`${path}.`));
      const m = new Map<string, Record<string, number>>();
      sections.forEach((name, k) => {
        const f = files.find((file) => file.endsWith(`.${2 * k + 2}`))!;
        const text = readFileSync(join(dir, f), 'utf8');
        const events = /^events: (.*)$/m.exec(text)![1]!.split(' ');
        const values = /^summary: (.*)$/m.exec(text)![1]!.split(' ').map(Number);
        // Per packet over all windows of the section; the windows' least and most Ir beside.
        const sum = m.get(name) ?? { low: Infinity, high: 0 };
        events.forEach((e, j) => (sum[e] = (sum[e] ?? 0) + values[j]! / IR_PACKETS));
        sum['low'] = Math.min(sum['low']!, values[0]! / IR_WINDOW);
        sum['high'] = Math.max(sum['high']!, values[0]! / IR_WINDOW);
        m.set(name, sum);
      });
      counts.set(path, m);
      console.log(`  (${path}: ${((Date.now() - started) / 1000).toFixed(0)} s under valgrind)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const misses = (e: Record<string, number>): number => e['I1mr']! + e['D1mr']! + e['D1mw']!;
  const round = (v: number): string => Math.round(v).toLocaleString('en-US');
  const spread = (e: Record<string, number>): string => `${round(e['low']!)} … ${round(e['high']!)}`;
  const base = counts.get('plain')!.get('path')!;
  console.log(
    `instructions executed (valgrind callgrind, Ir) per packet, over ${IR_PACKETS} packets counted after ${IR_WARMUP} ` +
      `(in brackets: the least and most of its ${IR_WINDOWS} windows of ${IR_WINDOW}, apart by where a garbage collection fell); ` +
      `within about 0.2 % from run to run, whatever the load (load average ${loadBefore} → ${load()})`,
  );
  console.log(
    `${'plain receive path (RtpSession)'.padEnd(52)} ${round(base['Ir']!)} instructions per packet (${spread(base)})` +
      (cache ? `, ${round(misses(base))} L1 misses (I1 ${round(base['I1mr']!)})` : ''),
  );
  for (const path of IR_PATHS.slice(1)) {
    const total = counts.get(path)!.get('path')!;
    const alone = counts.get(path)!.get('unprotectRtp')!;
    const extra = total['Ir']! - base['Ir']!;
    let line =
      `${`SRTP receive path, ${path}`.padEnd(52)} ${round(total['Ir']!)} instructions per packet (${spread(total)}): ` +
      `+${round(extra)} (${pct(total['Ir']! / base['Ir']!)}, goal < 25 %), of which unprotectRtp alone ` +
      `${round(alone['Ir']!)} (${spread(alone)}), outside it ${round(extra - alone['Ir']!)}`;
    if (cache) {
      const extraMisses = misses(total) - misses(base);
      line +=
        `; L1 misses +${round(extraMisses)} (${pct(misses(total) / misses(base))}), unprotectRtp alone ` +
        `${round(misses(alone))}, so ${round(extraMisses - misses(alone))} more in the path than alone`;
    }
    console.log(line);
  }
  console.log(
    'Instructions are not time: a call into node:crypto or OpenSSL costs more time per instruction than the ' +
      "plain path's JavaScript (AES-NI does a block in a few instructions; under valgrind OpenSSL sees " +
      "valgrind's CPU, so its SHA-1 is the AVX2 code, not the SHA-NI code it may use natively)" +
      (cache ? ', and each L1 miss costs several cycles.' : '; `--cache` adds L1 misses.'),
  );
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
  for (let w = 0; w < IR_WINDOWS; w++) {
    const counted = copies.slice(IR_WARMUP + w * IR_WINDOW, IR_WARMUP + (w + 1) * IR_WINDOW);
    measure('path', () => drive(call, counted));
  }
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
    for (let w = 0; w < IR_WINDOWS; w++) {
      const counted = views.slice(IR_WARMUP + w * IR_WINDOW, IR_WARMUP + (w + 1) * IR_WINDOW);
      measure('unprotectRtp', () => counted.forEach((p) => receiver.unprotectRtp(p)));
    }
  }
  console.log(`sections ${JSON.stringify(sections)}`);
}
