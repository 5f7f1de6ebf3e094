/**
 * Heap snapshots of a benchmarked process and what they hold: a V8 `.heapsnapshot` file read
 * as JSON and summed by node type and constructor name (self sizes), so that two snapshots (idle
 * and under N calls) give the bytes each kind of object costs per call; and summed again by
 * retainer path, so that the same two snapshots say which code holds them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Self bytes and object count per key. */
export type HeapTally = Map<string, { bytes: number; count: number }>;

export interface HeapSummary {
  /** Per `type:name` (e.g. `object:RtpSession`; ArrayBuffer data per size). */
  kinds: HeapTally;
  /**
   * Per kind and retainer path: `kind ← Owner.field …`, the shortest path from the GC roots walked
   * back from the object to the nearest object of a class of its own (not `Object`, `Array`, `Map`,
   * a typed array or a V8 internal), numbers in names replaced by `#` so that per-call keys group.
   * A V8 hidden class (`object shape:system / Map`) per object shows as `… Object.map`.
   */
  paths: HeapTally;
}

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Holders that say nothing about who owns them: the path goes on through them. */
const ANONYMOUS = new Set([
  'Object',
  'Array',
  'Map',
  'Set',
  'ArrayBuffer',
  'Buffer',
  'FastBuffer',
  'Int16Array',
  'Uint8Array',
  'Float32Array',
  'Float64Array',
  'Int32Array',
]);
const PATH_HOPS = 12;

const isString = (type: string): boolean =>
  type === 'string' || type === 'concatenated string' || type === 'sliced string';

/** Sums a snapshot file's nodes by kind (strings and code grouped by type alone) and by retainer path. */
export function summarizeHeap(file: string): HeapSummary {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const meta = snap.snapshot.meta;
  const fields = meta.node_fields;
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const width = fields.length;
  const eWidth = meta.edge_fields.length;
  const fType = fields.indexOf('type');
  const fName = fields.indexOf('name');
  const fSize = fields.indexOf('self_size');
  const fEdges = fields.indexOf('edge_count');
  const { nodes, edges, strings } = snap;
  const count = nodes.length / width;
  const typeOf = (n: number): string => types[nodes[n * width + fType]!] ?? '?';
  const nameOf = (n: number): string => strings[nodes[n * width + fName]!] ?? '?';
  const sizeOf = (n: number): number => nodes[n * width + fSize]!;

  // The shortest retainer of every node from the root (node 0), weak edges left out.
  const firstEdge = new Uint32Array(count + 1);
  for (let n = 0, e = 0; n < count; n++) {
    firstEdge[n] = e;
    e += nodes[n * width + fEdges]! * eWidth;
    firstEdge[n + 1] = e;
  }
  const parent = new Int32Array(count).fill(-1);
  const via = new Int32Array(count).fill(-1);
  const queue = new Int32Array(count);
  const seen = new Uint8Array(count);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0;
  seen[0] = 1;
  while (head < tail) {
    const n = queue[head++]!;
    for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += eWidth) {
      if (edgeTypes[edges[e]!] === 'weak') {
        continue;
      }
      const to = edges[e + 2]! / width;
      if (!seen[to]) {
        seen[to] = 1;
        parent[to] = n;
        via[to] = e;
        queue[tail++] = to;
      }
    }
  }
  const numbered = (s: string): string => s.replace(/[0-9a-f]{8,}|\d+/g, '#').slice(0, 48);
  const edgeName = (e: number): string => {
    const t = edgeTypes[edges[e]!];
    return t === 'element' || t === 'hidden' ? '[]' : numbered(String(strings[edges[e + 1]!]));
  };
  const holder = (n: number): string => {
    const t = typeOf(n);
    if (t === 'closure') {
      return `fn ${nameOf(n) || '(anonymous)'}`;
    }
    return t === 'object' ? numbered(nameOf(n)) : `${t}:${numbered(nameOf(n))}`;
  };
  const pathOf = (n: number): string => {
    const hops: string[] = [];
    for (let c = n; hops.length < PATH_HOPS && parent[c]! > 0; c = parent[c]!) {
      const p = parent[c]!;
      hops.unshift(`${holder(p)}.${edgeName(via[c]!)}`);
      const name = nameOf(p);
      if (typeOf(p) === 'object' && !ANONYMOUS.has(name) && !name.startsWith('system')) {
        break;
      }
    }
    return hops.join(' ');
  };

  const kinds: HeapTally = new Map();
  const paths: HeapTally = new Map();
  const add = (tally: HeapTally, key: string, bytes: number): void => {
    const e = tally.get(key) ?? { bytes: 0, count: 0 };
    e.bytes += bytes;
    e.count++;
    tally.set(key, e);
  };
  for (let n = 0; n < count; n++) {
    const type = typeOf(n);
    const name = nameOf(n);
    const bytes = sizeOf(n);
    // Backing stores by size: a size often names its owner (3840 B: a 16-bit frame of 1920 samples).
    const kind =
      isString(type) || type === 'code'
        ? type
        : name === 'system / JSArrayBufferData'
          ? `ArrayBuffer data of ${bytes} B`
          : `${type}:${name}`;
    add(kinds, kind, bytes);
    // Code and strings by path say little (feedback vectors, shared strings): kinds alone.
    if (type !== 'code' && !isString(type)) {
      add(paths, `${kind} ← ${pathOf(n)}`, bytes);
    }
  }
  return { kinds, paths };
}

/** The `.heapsnapshot` files in `dir`, oldest first (Node names them by date and sequence). */
export function snapshotFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.heapsnapshot'))
    .sort()
    .map((f) => join(dir, f));
}

/** Lines of the `top` keys by growth from `before` to `after`, per call. */
export function heapGrowthLines(before: HeapTally, after: HeapTally, calls: number, top = 20): string[] {
  const rows = [...after].map(([k, a]) => {
    const b = before.get(k) ?? { bytes: 0, count: 0 };
    return { k, bytes: (a.bytes - b.bytes) / calls, count: (a.count - b.count) / calls };
  });
  rows.sort((x, y) => y.bytes - x.bytes);
  return rows
    .slice(0, top)
    .map(
      (r) =>
        `  ${(r.bytes / 1024).toFixed(1).padStart(8)} KB/call ${r.count.toFixed(1).padStart(7)} obj/call  ${r.k}`,
    );
}

/**
 * The whole snapshot's growth per call in one line: V8 objects (the JS heap after a full GC) and
 * ArrayBuffer backing stores (outside the JS heap, in `external`), counted apart.
 */
export function heapTotalLine(before: HeapSummary, after: HeapSummary, calls: number): string {
  const total = (s: HeapSummary): { heap: number; stores: number; objects: number } => {
    let heap = 0;
    let stores = 0;
    let objects = 0;
    for (const [k, v] of s.kinds) {
      if (k.startsWith('ArrayBuffer data of ')) {
        stores += v.bytes;
      } else {
        heap += v.bytes;
        objects += v.count;
      }
    }
    return { heap, stores, objects };
  };
  const a = total(before);
  const b = total(after);
  const kb = (x: number, y: number): string => `${((y - x) / calls / 1024).toFixed(1)} KB`;
  return (
    `  whole snapshot, per call: V8 objects ${kb(a.heap, b.heap)} (${((b.objects - a.objects) / calls).toFixed(0)} objects), ` +
    `ArrayBuffer backing stores ${kb(a.stores, b.stores)}`
  );
}
