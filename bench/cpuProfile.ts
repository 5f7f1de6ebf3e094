/**
 * A CPU profile of a benchmarked process over a window of its steady state (`load --cpu-profile`):
 * the process runs with `--inspect` on a loopback port; V8's sampling profiler is started and
 * stopped through the inspector protocol (a WebSocket), and the samples are summed by function
 * (self time) and by the part of the code it belongs to.
 */
import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A profiler session on one process; `stop()` ends it and returns the summary lines. */
export interface CpuProfiler {
  /** Ends the profile, writes it to `file` (a `.cpuprofile` for DevTools) and sums it. */
  stop(file: string): Promise<string[]>;
}

/** Connects to the inspector on `port` (127.0.0.1) and starts sampling every `intervalUs`. */
export async function startCpuProfile(port: number, intervalUs = 500): Promise<CpuProfiler> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) {
    throw new Error(`no inspector target on port ${port}`);
  }
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let next = 1;
  const pending = new Map<number, (result: unknown) => void>();
  ws.on('message', (data: Buffer) => {
    const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown };
    if (msg.id !== undefined) {
      pending.get(msg.id)?.(msg.result);
      pending.delete(msg.id);
    }
  });
  const call = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve) => {
      const id = next++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: intervalUs });
  await call('Profiler.start');
  return {
    async stop(file: string): Promise<string[]> {
      const { profile } = (await call('Profiler.stop')) as { profile: Profile };
      ws.close();
      writeFileSync(file, JSON.stringify(profile));
      return [...summarizeProfile(profile), `the profile: ${file}`];
    },
  };
}

/** The part of the code a frame belongs to: a project folder, a package, Node itself or V8. */
function area(url: string, name: string): string {
  if (!url) {
    return name.startsWith('(') ? name : '(native)';
  }
  const project = /\/dist\/(sip|rtp|src|lib)\/(?:([^/]+)\/)?/.exec(url);
  if (project) {
    return project[1] === 'src' && project[2] && !project[2].endsWith('.js')
      ? `src/${project[2]}`
      : project[1]!;
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) {
    return pkg[1]!;
  }
  return url.startsWith('node:') ? 'node' : url;
}

/** Self time by area and by the `top` functions, in percent of the samples. */
export function summarizeProfile(p: Profile, top = 25): string[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const a = area(f.url, f.functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
    const file = f.url.replace(/^.*\/(dist|node_modules)\//, '').replace(/^node:/, 'node:');
    const key = `${f.functionName || '(anonymous)'} ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  const pct = (us: number): string => `${((100 * us) / Math.max(1, total)).toFixed(1).padStart(5)} %`;
  const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]);
  return [
    `CPU profile: ${(total / 1000).toFixed(0)} ms sampled; self time by area:`,
    ...sorted(areas).map(([k, us]) => `  ${pct(us)}  ${k}`),
    `self time, top ${top} functions:`,
    ...sorted(fns)
      .slice(0, top)
      .map(([k, us]) => `  ${pct(us)}  ${k}`),
  ];
}
