/**
 * Heap snapshots of a benchmarked process and what they hold: a V8 `.heapsnapshot` file read
 * as JSON and summed by node type and constructor name (self sizes), so that two snapshots (idle
 * and under N calls) give the bytes each kind of object costs per call.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Self bytes and object count per `type:name` (e.g. `object:RtpSession`; ArrayBuffer data per size). */
export type HeapSummary = Map<string, { bytes: number; count: number }>;

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Sums a snapshot file's nodes by type and name (strings and code grouped by type alone). */
export function summarizeHeap(file: string): HeapSummary {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const fType = fields.indexOf('type');
  const fName = fields.indexOf('name');
  const fSize = fields.indexOf('self_size');
  const out: HeapSummary = new Map();
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + fType]!] ?? '?';
    const grouped =
      type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'code';
    const name = snap.strings[nodes[i + fName]!] ?? '?';
    // Backing stores by size: a size often names its owner (3840 B: a 16-bit frame of 1920 samples).
    const key = grouped
      ? type
      : name === 'system / JSArrayBufferData'
        ? `ArrayBuffer data of ${nodes[i + fSize]!} B`
        : `${type}:${name}`;
    const e = out.get(key) ?? { bytes: 0, count: 0 };
    e.bytes += nodes[i + fSize]!;
    e.count++;
    out.set(key, e);
  }
  return out;
}

/** The `.heapsnapshot` files in `dir`, oldest first (Node names them by date and sequence). */
export function snapshotFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.heapsnapshot'))
    .sort()
    .map((f) => join(dir, f));
}

/** Lines of the `top` kinds by growth from `before` to `after`, per call. */
export function heapGrowthLines(before: HeapSummary, after: HeapSummary, calls: number, top = 20): string[] {
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
