/**
 * The processes of the load and soak benchmarks and how they are measured from outside: the fake
 * moshi-server in its own process, sipscribe as a user runs it (`bin/sipscribe.js --config FILE`,
 * one process per run), the tutorial bridge (bench/tutorialBridge.ts), CPU and RSS from
 * /proc/<pid>, and the product's own /metrics. Traffic stays on 127.0.0.1.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dispatcherFlags, startKamailio, type Kamailio } from '../test/helpers/kamailio.js';
import { ROOT, runDir } from '../test/helpers/paths.js';
import { freePort } from '../test/helpers/ports.js';
import { start, type Managed } from '../test/helpers/processes.js';
import { snapshotFiles, summarizeHeap, type HeapSummary } from './heapSnapshot.js';

/** Kernel clock ticks per second for /proc/<pid>/stat (USER_HZ: 100 on every Linux we ship to). */
const USER_HZ = 100;

/** utime + stime of a process in ms (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
}

/** utime + stime in ms of one thread of a process (its main thread: `tid` = `pid`). */
export function threadCpuMsOf(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status). */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** A child process of the benchmark with its pid. */
export interface BenchProcess {
  readonly pid: number;
  readonly process: Managed;
  readonly dir: string;
  stop(): Promise<void>;
}

function managed(name: string, proc: Managed, dir: string): BenchProcess {
  const pid = proc.child.pid;
  if (pid === undefined) {
    throw new Error(`${name} did not start:\n${proc.output()}`);
  }
  return {
    pid,
    process: proc,
    dir,
    stop: async () => {
      await proc.stop();
    },
  };
}

/** Waits for a line matching `re` on the process's output and returns its first group. */
async function lineOf(proc: Managed, re: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = re.exec(proc.output());
    if (m?.[1]) {
      return m[1];
    }
    if (proc.child.exitCode !== null) {
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${proc.name} printed no ${re.source} within ${timeoutMs} ms:\n${proc.output()}`);
}

/** The fake moshi-server (test/helpers/fakeMoshiServer.ts) in its own process. */
export async function startFakeStt(slots: number): Promise<BenchProcess & { url: string }> {
  const dir = runDir('bench-fake-stt');
  const proc = start(
    'fake-moshi',
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      "const { FakeMoshiServer } = await import('./test/helpers/fakeMoshiServer.ts'); " +
        `const f = await FakeMoshiServer.start({ slots: ${slots}, idleTimeoutMs: 60000, record: false }); ` +
        "console.log('URL ' + f.url);",
    ],
    { cwd: ROOT },
  );
  const url = await lineOf(proc, /URL (\S+)/, 30_000);
  return { ...managed('fake-moshi', proc, dir), url };
}

/** The tutorial bridge (bench/tutorialBridge.ts) with `streams` UDP ports, each to its own WebSocket. */
export async function startBridge(
  streams: number,
  sttUrl: string,
): Promise<BenchProcess & { ports: number[] }> {
  const dir = runDir('bench-bridge');
  const proc = start(
    'tutorial-bridge',
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench', 'tutorialBridge.ts'), String(streams), sttUrl],
    { cwd: ROOT },
  );
  const ports = (await lineOf(proc, /^PORTS (\S+)$/m, 60_000)).split(',').map(Number);
  return { ...managed('tutorial-bridge', proc, dir), ports };
}

/** sipscribe as its own process, with the metrics of its `/metrics` route. */
export interface Sipscribe extends BenchProcess {
  readonly sipPort: number;
  /** `/metrics` parsed: `name` or `name{labels}` → value. */
  metrics(): Promise<Map<string, number>>;
}

/**
 * Starts `bin/sipscribe.js` with a config in a fresh folder (SIP on UDP 127.0.0.1, RTP ports for
 * `maxCalls` calls, the STT at `sttUrl`, storage in the folder, admission limits above the load so
 * that only the process's own capacity is measured) and waits for `/ready`.
 */
export async function startSipscribe(
  sttUrl: string,
  maxCalls: number,
  opts: { nodeArgs?: readonly string[]; rtpThreads?: number | 'auto' } = {},
): Promise<Sipscribe> {
  const dir = runDir('bench-sipscribe');
  const sipPort = await freePort();
  const httpPort = await freePort();
  // Two ports per call (RTP, RTCP) and room for ports that others hold.
  const rtpSpan = maxCalls * 4 + 64;
  const rtpMin = 20000 + 2 * Math.floor(Math.random() * ((9999 - rtpSpan) / 2));
  const config = {
    sip: {
      listen: [{ transport: 'udp', host: '127.0.0.1', port: sipPort }],
      inbound: {
        allowFrom: ['127.0.0.1/32'],
        maxCalls: maxCalls + 10,
        maxCallsPerSource: maxCalls + 10,
        rateLimit: { burst: maxCalls + 10, perSecond: 10_000 },
      },
    },
    rtp: {
      host: '127.0.0.1',
      portMin: rtpMin,
      portMax: rtpMin + rtpSpan - 1,
      ...(opts.rtpThreads === undefined ? {} : { threads: opts.rtpThreads }),
    },
    stt: { servers: [{ url: sttUrl, apiKey: 'public_token' }] },
    storage: { dir: join(dir, 'data') },
    http: { host: '127.0.0.1', port: httpPort },
    log: { level: 'info', transcripts: false },
  };
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const proc = start(
    'sipscribe',
    process.execPath,
    [...(opts.nodeArgs ?? []), join(ROOT, 'bin', 'sipscribe.js'), '--config', configFile],
    {
      cwd: dir,
      logFile: join(dir, 'sipscribe.log'),
    },
  );
  const base = `http://127.0.0.1:${httpPort}`;
  // The launcher builds dist/ first when the sources changed: that can take a minute here.
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (proc.child.exitCode !== null) {
      throw new Error(`sipscribe exited (${proc.child.exitCode}):\n${proc.output()}`);
    }
    const ok = await fetch(`${base}/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) {
      break;
    }
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`sipscribe not ready within 180 s:\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    ...managed('sipscribe', proc, dir),
    sipPort,
    metrics: async () => parseMetrics(await (await fetch(`${base}/metrics`)).text()),
  };
}

/** Kamailio with the project's dispatcher config (deploy/kamailio) in front of `instances`. */
export interface Dispatcher {
  readonly kamailio: Kamailio;
  /** Kamailio's processes (the main one and every child it forked), read afresh each time. */
  pids(): number[];
}

/**
 * Starts Kamailio with deploy/kamailio/kamailio.cfg dispatching over `instances` (OPTIONS every
 * second) and waits until it has probed every one of them as active.
 */
export async function startDispatcher(instances: readonly Sipscribe[]): Promise<Dispatcher> {
  const dir = runDir('bench-kamailio');
  const list = join(dir, 'dispatcher.list');
  writeFileSync(
    list,
    instances.map((s, i) => `1 sip:127.0.0.1:${s.sipPort} 0 0 duid=sipscribe-${i}\n`).join(''),
  );
  const kamailio = await startKamailio({
    cfg: join(ROOT, 'deploy', 'kamailio', 'kamailio.cfg'),
    defines: [`DISPATCHER_LIST="${list}"`, 'DS_PING_INTERVAL=1'],
  });
  const uris = instances.map((s) => `sip:127.0.0.1:${s.sipPort}`);
  const active = await waitFor(async () => {
    const flags = await dispatcherFlags(kamailio);
    return uris.every((u) => flags.get(u)?.startsWith('A'));
  }, 30_000);
  if (!active) {
    await kamailio.stop();
    throw new Error(`Kamailio did not probe every instance as active within 30 s:\n${kamailio.log()}`);
  }
  // Every Kamailio process carries its run folder (`-Y dir`) on its command line.
  const mark = `\0-Y\0${kamailio.dir}\0`;
  const pids = (): number[] =>
    readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          return `\0${readFileSync(`/proc/${d}/cmdline`, 'latin1')}`.includes(mark);
        } catch {
          return false; // ended meanwhile
        }
      })
      .map(Number);
  return { kamailio, pids };
}

/** Prometheus text format → `name{labels}` → value (comments skipped). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/**
 * Where a process's memory sits, from its own `/metrics` (prom-client's Node figures) and
 * /proc: RSS, the JavaScript heap in use (and its spaces), and `external` (Buffers, typed arrays'
 * backing stores and other memory V8 does not hold itself).
 */
export interface MemoryReading {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  /** `nodejs_heap_space_size_used_bytes` per space (new, old, code, large_object, …). */
  readonly spaces: ReadonlyMap<string, number>;
  /** `nodejs_heap_size_total_bytes`: what V8 has committed for the JS heap, used or not. */
  readonly heapTotal: number;
  /** `nodejs_heap_space_size_total_bytes` per space. */
  readonly spacesTotal: ReadonlyMap<string, number>;
  /** The media threads' JS heaps in use, summed (`sipscribe_media_thread_heap_used_bytes`). */
  readonly mediaHeapUsed: number;
}

export function memoryOf(pid: number, m: Map<string, number>): MemoryReading {
  const spaces = new Map<string, number>();
  const spacesTotal = new Map<string, number>();
  for (const [k, v] of m) {
    const s = /^sipscribe_nodejs_heap_space_size_(used|total)_bytes\{space="([^"]+)"\}$/.exec(k);
    if (s) {
      (s[1] === 'used' ? spaces : spacesTotal).set(s[2]!, v);
    }
  }
  return {
    rss: rssOf(pid),
    heapUsed: metricSum(m, 'sipscribe_nodejs_heap_size_used_bytes'),
    external: metricSum(m, 'sipscribe_nodejs_external_memory_bytes'),
    spaces,
    heapTotal: metricSum(m, 'sipscribe_nodejs_heap_size_total_bytes'),
    spacesTotal,
    mediaHeapUsed: metricSum(m, 'sipscribe_media_thread_heap_used_bytes'),
  };
}

/** Sum of every series of `name` (any labels). */
export function metricSum(m: Map<string, number>, name: string): number {
  let sum = 0;
  for (const [k, v] of m) {
    if (k === name || k.startsWith(`${name}{`)) {
      sum += v;
    }
  }
  return sum;
}

/** `--threads T[,T…]`: `rtp.threads` values (`auto` or 0–64), each measured in turn. */
export function parseThreads(value: unknown, bench: string): (number | 'auto')[] {
  const threads = String(value)
    .split(',')
    .map((t) => (t === 'auto' ? 'auto' : Number(t)));
  if (
    threads.length === 0 ||
    threads.some((t) => t !== 'auto' && !(Number.isInteger(t) && t >= 0 && t <= 64))
  ) {
    throw new Error(`${bench}: --threads T[,T…] (auto or 0–64)`);
  }
  return threads;
}

/** p-th percentile (0–100) of `values` (nearest rank), NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) {
    return NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Polls `cond` every 100 ms until it holds or `timeoutMs` passed; returns whether it held. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Writes a heap snapshot of `s` (SIGUSR2 with `--heapsnapshot-signal`; V8 collects garbage first)
 * and sums it; the process answers `/metrics` again once the file is complete.
 */
export async function heapSnapshot(s: Sipscribe): Promise<HeapSummary> {
  const count = snapshotFiles(s.dir).length;
  process.kill(s.pid, 'SIGUSR2');
  const written = await waitFor(async () => {
    if (snapshotFiles(s.dir).length <= count) {
      return false;
    }
    return s.metrics().then(
      () => true,
      () => false,
    );
  }, 300_000);
  if (!written) {
    throw new Error('no heap snapshot within 300 s');
  }
  return summarizeHeap(snapshotFiles(s.dir).at(-1)!);
}
