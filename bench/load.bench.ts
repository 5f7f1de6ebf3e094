/**
 * `npm run bench -- load [--calls 50,100,200] [--seconds 20] [--rate 50]`: the whole process under
 * real load. Per N: sipscribe started as its own process (bin/sipscribe.js, a config in a fresh
 * folder), the fake moshi-server in another, and a load generator (bench/loadGenerator.ts, this
 * process) placing N real calls over UDP on 127.0.0.1 (the project's SIP stack as UAC, G.711 μ-law
 * from a fixture paced every 20 ms). Then, in the same run and under the same RTP load, the
 * tutorial bridge (bench/tutorialBridge.ts) as the baseline. CPU and RSS are read from
 * /proc/<pid> of each process; event-loop delay and RTP figures from sipscribe's /metrics.
 * `--instances=K` (K > 1) starts K sipscribe processes behind Kamailio with the project's
 * dispatcher config (deploy/kamailio, call-load algorithm): the generator calls Kamailio, media goes
 * straight to the instances; the figures are the instances' sums, with the calls each one took and
 * Kamailio's own CPU beside them. `--cpu-profile`: the first instance runs with `--inspect` on
 * loopback and is profiled over the window (bench/cpuProfile.ts): self time by area and function.
 * `--threads 0,auto` (default `auto`, the product's default): `rtp.threads` of sipscribe, each value
 * measured in turn at every N (0: media on the main thread); the main thread's own CPU beside the
 * process's, and each media thread's busy share from /metrics.
 * Bounded: every phase has a time limit, the processes are stopped at the end.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LoadGenerator, type RtpStream } from './loadGenerator.js';
import { freePort } from '../test/helpers/ports.js';
import { startCpuProfile } from './cpuProfile.js';
import { heapGrowthLines, heapTotalLine } from './heapSnapshot.js';
import {
  cpuMsOf,
  heapSnapshot,
  memoryOf,
  metricSum,
  parseThreads,
  percentile,
  rssOf,
  sleep,
  startBridge,
  startDispatcher,
  startFakeStt,
  startSipscribe,
  threadCpuMsOf,
  waitFor,
  type Dispatcher,
  type MemoryReading,
  type Sipscribe,
} from './loadRig.js';

const WARMUP_MS = 3000;
/** prom-client samples the event loop every 10 ms; its histogram includes that period. */
const ELD_RESOLUTION_S = 0.01;

interface Options {
  calls: number[];
  seconds: number;
  rate: number;
  /** sipscribe processes; more than one are placed behind Kamailio's dispatcher. */
  instances: number;
  /** Heap snapshots of the (single) instance idle and loaded, summed by kind of object. */
  heapSnapshot: boolean;
  /** A CPU profile of the first instance over the measured window. */
  cpuProfile: boolean;
  /** `rtp.threads` values measured in turn at every N. */
  threads: (number | 'auto')[];
}

function options(): Options {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      calls: { type: 'string', default: '50,100,200' },
      seconds: { type: 'string', default: '20' },
      rate: { type: 'string', default: '50' },
      instances: { type: 'string', default: '1' },
      'heap-snapshot': { type: 'boolean', default: false },
      'cpu-profile': { type: 'boolean', default: false },
      threads: { type: 'string', default: 'auto' },
    },
    strict: false,
    allowPositionals: true,
  });
  const calls = String(values['calls'])
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  const seconds = Number(values['seconds']);
  const rate = Number(values['rate']);
  const instances = Number(values['instances']);
  const threads = parseThreads(values['threads'], 'load');
  if (
    calls.length === 0 ||
    !(seconds >= 5 && seconds <= 600) ||
    !(rate > 0) ||
    !(Number.isInteger(instances) && instances >= 1 && instances <= 8)
  ) {
    throw new Error(
      'load: --calls N[,N…] (positive integers), --seconds 5–600, --rate > 0 calls/s, --instances 1–8',
    );
  }
  return {
    calls,
    seconds,
    rate,
    instances,
    heapSnapshot: values['heap-snapshot'] === true && instances === 1,
    cpuProfile: values['cpu-profile'] === true,
    threads,
  };
}

interface SipscribeFigures {
  threads: number | 'auto';
  /** The first instance's main thread alone, CPU ms per call-second. */
  mainCpuMsPerCallS: number;
  /** The first instance's media threads: busy share of each over the window. */
  mediaBusy: number[];
  placed: number;
  refused: number[];
  cpuMsPerCallS: number;
  rssIdle: number;
  rss: number;
  eldP99Ms: number;
  eldMaxMs: number;
  sent: number;
  received: number;
  lost: number;
  late: number;
  setupP50: number;
  setupP99: number;
  genLateP99: number;
  /** Calls each instance held during the window (one entry per instance). */
  perInstance: number[];
  /** Memory of the first instance idle, loaded (end of the window) and idle again after the calls. */
  memory: { idle: MemoryReading; loaded: MemoryReading; after: MemoryReading };
  /** `--heap-snapshot`: the kinds of object that grew most per call, idle → loaded. */
  heapLines: string[];
  /** `--cpu-profile`: self time by area and function over the window (first instance). */
  profileLines: string[];
  /** Kamailio's CPU ms per call-second of steady load (behind the dispatcher only). */
  kamailioCpuMsPerCallS?: number;
  /** Kamailio's CPU ms per call from the first INVITE to the last BYE's answer (setup, probes, teardown). */
  kamailioCpuMsPerCall?: number;
}

interface BridgeFigures {
  cpuMsPerCallS: number;
  rssIdle: number;
  rss: number;
}

/**
 * CPU ms of each of `pids` over `seconds` of steady load, per call-second of `calls` calls; then,
 * for `mainOf` (a pid among them), its main thread alone.
 */
async function cpuWindow(
  pids: readonly number[],
  calls: number,
  seconds: number,
  mainOf?: number,
): Promise<number[]> {
  const read = (): number[] => [
    ...pids.map(cpuMsOf),
    ...(mainOf === undefined ? [] : [threadCpuMsOf(mainOf, mainOf)]),
  ];
  const c0 = read();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const c1 = read();
  const wallS = (performance.now() - t0) / 1000;

  return c0.map((_, i) => (c1[i]! - c0[i]!) / (calls * wallS));
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** A metric over every instance: the sum of each one's. */
const metricTotal = (ms: readonly Map<string, number>[], name: string): number =>
  sum(ms.map((m) => metricSum(m, name)));

/** The sipscribe processes of one run (the first builds dist/ if needed, then the rest at once). */
async function startInstances(
  sttUrl: string,
  n: number,
  o: Options,
  inspectPort: number | null,
  rtpThreads: number | 'auto',
): Promise<Sipscribe[]> {
  const count = o.instances;
  const first = await startSipscribe(sttUrl, n, {
    rtpThreads,
    nodeArgs: [
      ...(o.heapSnapshot ? ['--heapsnapshot-signal=SIGUSR2'] : []),
      ...(inspectPort === null ? [] : [`--inspect=127.0.0.1:${inspectPort}`]),
    ],
  });
  const rest = await Promise.allSettled(
    Array.from({ length: count - 1 }, () => startSipscribe(sttUrl, n, { rtpThreads })),
  );
  const started = [first, ...rest.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))];
  const failed = rest.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(started.map((s) => s.stop()));
    throw failed.reason;
  }
  return started;
}

async function measureSipscribe(
  gen: LoadGenerator,
  sttUrl: string,
  n: number,
  o: Options,
  rtpThreads: number | 'auto',
): Promise<SipscribeFigures> {
  const inspectPort = o.cpuProfile ? await freePort() : null;
  const sips = await startInstances(sttUrl, n, o, inspectPort, rtpThreads);
  let dispatcher: Dispatcher | undefined;
  try {
    dispatcher = o.instances > 1 ? await startDispatcher(sips) : undefined;
    const target = dispatcher ? `127.0.0.1:${dispatcher.kamailio.port}` : `127.0.0.1:${sips[0]!.sipPort}`;
    const all = (): Promise<Map<string, number>[]> => Promise.all(sips.map((s) => s.metrics()));
    await sleep(1000);
    const rssIdle = sum(sips.map((s) => rssOf(s.pid)));
    const before = await all();
    const first = sips[0]!;
    const memIdle = memoryOf(first.pid, before[0]!);
    const idleHeap = o.heapSnapshot ? await heapSnapshot(first) : null;
    const kamailioPids = dispatcher?.pids() ?? [];
    const kamailioCpu = (): number => sum(kamailioPids.map(cpuMsOf));
    const kamailio0 = kamailioCpu();
    const tickMark = gen.tickLateMs.length;
    const { calls, refused } = await gen.placeMany(target, n, o.rate);
    await sleep(WARMUP_MS);
    // A scrape resets prom-client's event-loop histogram: the next one covers the window only.
    await all();
    const profiler = inspectPort === null ? null : await startCpuProfile(inspectPort);
    const pids = [...sips.map((s) => s.pid), ...kamailioPids];
    const cpu = await cpuWindow(pids, calls.length, o.seconds, first.pid);
    const profileLines = (await profiler?.stop(join(first.dir, `cpu-${n}.cpuprofile`))) ?? [];
    const rss = sum(sips.map((s) => rssOf(s.pid)));
    const during = await all();
    const memLoaded = memoryOf(first.pid, during[0]!);
    const genLateP99 = percentile(gen.tickLateMs.slice(tickMark), 99);
    const loadedHeap = idleHeap ? await heapSnapshot(first) : null;
    await gen.hangupAll(calls);
    await waitFor(async () => metricTotal(await all(), 'sipscribe_calls_active') === 0, 20_000);
    const kamailioMs = kamailioCpu() - kamailio0;
    const after = await all();
    const memAfter = memoryOf(first.pid, after[0]!);
    const delta = (name: string): number => metricTotal(after, name) - metricTotal(before, name);
    const setup = calls.map((c) => c.setupMs);
    const worst = (name: string): number => Math.max(...during.map((m) => metricSum(m, name)));

    const busy = [...during[0]!.entries()]
      .filter(([k]) => k.startsWith('sipscribe_media_thread_busy_ratio'))
      .map(([, v]) => v);
    return {
      threads: rtpThreads,
      mainCpuMsPerCallS: cpu[pids.length]!,
      mediaBusy: busy,
      placed: n,
      refused,
      cpuMsPerCallS: sum(cpu.slice(0, sips.length)),
      ...(dispatcher
        ? {
            kamailioCpuMsPerCallS: sum(cpu.slice(sips.length)),
            kamailioCpuMsPerCall: kamailioMs / Math.max(1, calls.length),
          }
        : {}),
      perInstance: during.map((m) => metricSum(m, 'sipscribe_calls_active')),
      rssIdle,
      rss,
      memory: { idle: memIdle, loaded: memLoaded, after: memAfter },
      heapLines:
        idleHeap && loadedHeap
          ? [
              heapTotalLine(idleHeap, loadedHeap, calls.length),
              ...heapGrowthLines(idleHeap.kinds, loadedHeap.kinds, calls.length),
              '  by retainer path (kind ← the nearest object of a class of its own, then the fields to it):',
              ...heapGrowthLines(idleHeap.paths, loadedHeap.paths, calls.length, 25),
            ]
          : [],
      profileLines,
      eldP99Ms: (worst('sipscribe_nodejs_eventloop_lag_p99_seconds') - ELD_RESOLUTION_S) * 1000,
      eldMaxMs: (worst('sipscribe_nodejs_eventloop_lag_max_seconds') - ELD_RESOLUTION_S) * 1000,
      sent: calls.reduce((s, c) => s + c.stream.sent, 0),
      received: delta('sipscribe_rtp_packets_received_total'),
      lost: delta('sipscribe_rtp_packets_lost_total'),
      late: delta('sipscribe_rtp_dropped_total{reason="late"}'),
      setupP50: percentile(setup, 50),
      setupP99: percentile(setup, 99),
      genLateP99,
    };
  } finally {
    await dispatcher?.kamailio.stop();
    await Promise.all(sips.map((s) => s.stop()));
  }
}

/** Where the per-call memory of one N sits: RSS, JS heap (by space) and external memory. */
function memoryLines(n: number, up: number, m: SipscribeFigures['memory']): string[] {
  const k = (b: number): string => `${(b / 1024).toFixed(0)} KB`;
  const per = (a: number, b: number): string => k((b - a) / Math.max(1, up));
  const bySpace = (loaded: ReadonlyMap<string, number>, idle: ReadonlyMap<string, number>): string =>
    [...loaded.keys()]
      .map((sp) => ({ sp, d: (loaded.get(sp) ?? 0) - (idle.get(sp) ?? 0) }))
      .filter((x) => Math.abs(x.d) >= 1024 * Math.max(1, up))
      .map((x) => `${x.sp} ${k(x.d / Math.max(1, up))}`)
      .join(', ');
  const spaces = bySpace(m.loaded.spaces, m.idle.spaces);
  const committed = bySpace(m.loaded.spacesTotal, m.idle.spacesTotal);
  return [
    `  memory at ${n} calls, per call (loaded − idle): RSS ${per(m.idle.rss, m.loaded.rss)}, ` +
      `JS heap used ${per(m.idle.heapUsed, m.loaded.heapUsed)} (${spaces || 'no space over 1 KB'}), ` +
      `JS heap committed ${per(m.idle.heapTotal, m.loaded.heapTotal)} (${committed || 'no space over 1 KB'}), ` +
      `external (Buffers, typed arrays) ${per(m.idle.external, m.loaded.external)}, ` +
      `media threads' JS heaps ${per(m.idle.mediaHeapUsed, m.loaded.mediaHeapUsed)}; ` +
      `idle ${k(m.idle.rss)} RSS / ${k(m.idle.heapUsed)} heap / ${k(m.idle.external)} external, ` +
      `after the calls ${k(m.after.rss)} / ${k(m.after.heapUsed)} / ${k(m.after.external)}`,
  ];
}

async function measureBridge(
  gen: LoadGenerator,
  sttUrl: string,
  n: number,
  o: Options,
): Promise<BridgeFigures> {
  const bridge = await startBridge(n, sttUrl);
  const streams: RtpStream[] = [];
  try {
    for (let i = 0; i < n; i++) {
      streams.push(await gen.openStream());
    }
    await sleep(1000);
    const rssIdle = rssOf(bridge.pid);
    streams.forEach((s, i) => {
      s.port = bridge.ports[i]!;
    });
    await sleep(WARMUP_MS);
    const [cpuMsPerCallS = NaN] = await cpuWindow([bridge.pid], n, o.seconds);

    return { cpuMsPerCallS, rssIdle, rss: rssOf(bridge.pid) };
  } finally {
    for (const s of streams) {
      gen.closeStream(s);
    }
    await bridge.stop();
  }
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KB`;

function print(n: number, s: SipscribeFigures, b: BridgeFigures): void {
  const up = s.placed - s.refused.length;
  // A packet that arrives after its playout deadline is counted lost at the deadline and late on
  // arrival: lost covers both; late tells how many of them did arrive.
  const bad = Math.max(s.lost, s.late);
  console.log(
    `| ${n} | ${up}${s.refused.length ? ` (${s.refused.length} refused: ${[...new Set(s.refused)].join(', ')})` : ''} ` +
      `| ${s.threads} | ${s.cpuMsPerCallS.toFixed(2)} (main thread ${s.mainCpuMsPerCallS.toFixed(2)}) | ${b.cpuMsPerCallS.toFixed(2)} | ${(s.cpuMsPerCallS / b.cpuMsPerCallS).toFixed(2)} ` +
      `| ${mb(s.rss)} (${kb((s.rss - s.rssIdle) / Math.max(1, up))}/call) | ${mb(b.rss)} (${kb((b.rss - b.rssIdle) / n)}/call) ` +
      `| ${s.eldP99Ms.toFixed(1)} (max ${s.eldMaxMs.toFixed(0)}) ` +
      `| ${((100 * bad) / Math.max(1, s.sent)).toFixed(3)} % (${s.lost} lost, of which ${s.late} arrived late; ` +
      `${s.sent - s.received} of ${s.sent} never arrived) ` +
      `| ${s.setupP50.toFixed(1)} / ${s.setupP99.toFixed(1)} | ${s.genLateP99.toFixed(1)} |`,
  );
}

/** Where one N's CPU went: the main thread, the media threads, the rest of the process. */
function threadLine(n: number, s: SipscribeFigures): string {
  const pct = (msPerCallS: number): string => `${((msPerCallS * n) / 10).toFixed(0)} % of a core`;
  const cores = (s.cpuMsPerCallS * n) / 1000;
  return (
    `  ${n} calls, rtp.threads ${s.threads}: the process ${cores.toFixed(2)} of the machine's ${availableParallelism()} cores ` +
    `(${(n / Math.max(cores, 1e-9)).toFixed(0)} calls per core busy); main thread ${s.mainCpuMsPerCallS.toFixed(2)} CPU ms per call-s ` +
    `(${pct(s.mainCpuMsPerCallS)}), the rest of the process ${(s.cpuMsPerCallS - s.mainCpuMsPerCallS).toFixed(2)} ` +
    `(${pct(s.cpuMsPerCallS - s.mainCpuMsPerCallS)}: media threads, GC helpers, libuv)` +
    (s.mediaBusy.length > 0
      ? `; media threads busy ${s.mediaBusy.map((b) => `${(100 * b).toFixed(0)} %`).join(' / ')}`
      : '; no media thread')
  );
}

/** The cluster's line for one N: the calls each instance took and Kamailio's own cost. */
function clusterLine(n: number, s: SipscribeFigures): string {
  const k = s.kamailioCpuMsPerCallS ?? NaN;
  return (
    `  ${n} calls over ${s.perInstance.length} instances: ${s.perInstance.join(' / ')} calls each; ` +
    `Kamailio ${k.toFixed(2)} CPU ms per call-s in the steady window ` +
    `(${((100 * k) / s.cpuMsPerCallS).toFixed(1)} % of the instances' sum), ` +
    `${(s.kamailioCpuMsPerCall ?? NaN).toFixed(2)} CPU ms per call from INVITE to BYE (setup, probes, teardown)`
  );
}

export async function run(): Promise<void> {
  const o = options();
  const cluster: string[] = [];
  const memory: string[] = [];
  const threadLines: string[] = [];
  console.log(
    (o.instances > 1
      ? `(${o.instances} sipscribe instances behind Kamailio's dispatcher: sipscribe columns are their sums) `
      : '') +
      `(${o.calls.join(', ')} calls, ${o.seconds} s measured after ${WARMUP_MS / 1000} s of warm-up, ` +
      `calls placed at ${o.rate}/s; the machine may be shared: say so next to the figures)`,
  );
  console.log(
    '| calls | up | rtp.threads | sipscribe CPU ms per call-s | bridge CPU ms per call-s | ratio | sipscribe RSS | bridge RSS ' +
      '| event-loop delay p99 ms | packets late or lost | setup p50 / p99 ms | generator tick late p99 ms |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const n of o.calls) {
    const fake = await startFakeStt(5000);
    const gen = new LoadGenerator();
    try {
      await gen.start();
      gen.startStreaming();
      const runs: SipscribeFigures[] = [];
      for (const t of o.threads) {
        runs.push(await measureSipscribe(gen, fake.url, n, o, t));
      }
      const b = await measureBridge(gen, fake.url, n, o);
      for (const s of runs) {
        print(n, s, b);
        threadLines.push(threadLine(n, s));
        if (o.instances === 1) {
          memory.push(...memoryLines(n, s.placed - s.refused.length, s.memory));
        }
      }
      const s = runs[runs.length - 1]!;
      if (s.heapLines.length > 0) {
        memory.push(
          `  heap snapshot at ${n} calls, kinds of object that grew most (self size, loaded − idle, per call):`,
        );
        memory.push(...s.heapLines);
      }
      if (s.profileLines.length > 0) {
        memory.push(`  at ${n} calls, ${s.profileLines[0]}`, ...s.profileLines.slice(1).map((l) => `  ${l}`));
      }
      if (o.instances > 1) {
        cluster.push(clusterLine(n, s));
      }
    } finally {
      await gen.stop();
      await fake.stop();
    }
  }
  for (const line of [...threadLines, ...cluster, ...memory]) {
    console.log(line);
  }
  console.log(
    '  CPU: utime+stime of each process (/proc/<pid>/stat) over the window, per call-second.\n' +
      '  RSS: VmRSS at the end of the window; per call = (loaded − idle before the calls) / calls.\n' +
      "  Event-loop delay: sipscribe's own prom-client histogram over the window, minus its 10 ms sampling period.\n" +
      "  Packets: sipscribe's /metrics over everything the generator sent: sipscribe_rtp_packets_lost_total (missing\n" +
      '  at playout, late arrivals included), sipscribe_rtp_dropped_total{reason=late} (of those, arrived after all),\n' +
      '  never arrived = sent − sipscribe_rtp_packets_received_total. Setup: INVITE sent → 200 OK at the generator.\n' +
      '  Generator tick late: how late the generator itself sent (its own load shows here, not sipscribe’s).',
  );
}
