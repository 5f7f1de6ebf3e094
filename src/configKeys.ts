/**
 * Unknown configuration keys: every object of the schema is strict. A key the schema does not know
 * is an error naming its JSON path and the nearest valid name (`sip.inbound.allowfrom: unknown key
 * (did you mean "allowFrom"?)`), because a silently dropped typo (`allowfrom`, `tokn`) leaves a
 * setting at its default: every source allowed, the API open.
 *
 * The check walks the user's JSON alongside the schema, so every `z.object` added to the schema is
 * strict with no change here (records, whose keys are free, are skipped).
 */
import type { z } from 'zod';

/** One unknown key: its JSON path (as `path` segments) and what to say about it. */
interface UnknownKey {
  path: PropertyKey[];
  message: string;
}

/** The schema under optional/default/prefault/nullable/readonly/pipe wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const def = s._zod.def as unknown as { type: string; innerType?: z.ZodType; in?: z.ZodType };
    if (def.innerType) {
      s = def.innerType;
    } else if (def.type === 'pipe' && def.in) {
      s = def.in;
    } else {
      return s;
    }
  }
}

/** Every unknown key in `value` (the user's JSON) against `schema`, in document order. */
export function unknownKeys(schema: z.ZodType, value: unknown, path: PropertyKey[] = []): UnknownKey[] {
  const s = unwrap(schema);
  const def = s._zod.def as unknown as {
    type: string;
    shape?: Record<string, z.ZodType>;
    element?: z.ZodType;
    options?: readonly z.ZodType[];
  };
  if (def.type === 'array' && def.element && Array.isArray(value)) {
    const element = def.element;
    return value.flatMap((v, i) => unknownKeys(element, v, [...path, i]));
  }
  if (def.type === 'union' && def.options) {
    // The keys of any object alternative are valid; nothing deeper is checked.
    const keys = def.options.flatMap((o) => {
      const shape = (unwrap(o)._zod.def as unknown as { shape?: Record<string, unknown> }).shape;
      return shape ? Object.keys(shape) : [];
    });
    return keys.length > 0 ? check(keys, value, path, () => []) : [];
  }
  if (def.type !== 'object' || !def.shape) {
    return [];
  }
  const shape = def.shape;
  return check(Object.keys(shape), value, path, (k, v) => {
    const child = shape[k];
    return child ? unknownKeys(child, v, [...path, k]) : [];
  });
}

function check(
  known: readonly string[],
  value: unknown,
  path: PropertyKey[],
  deeper: (key: string, v: unknown) => UnknownKey[],
): UnknownKey[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return []; // a wrong type: the schema says so
  }
  return Object.entries(value).flatMap(([k, v]) => {
    if (known.includes(k)) {
      return deeper(k, v);
    }
    const near = nearest(k, known);
    return [
      {
        path: [...path, k],
        message:
          near.length === 0
            ? `unknown key (valid here: ${known.join(', ')})`
            : `unknown key (did you mean ${near.map((n) => `"${n}"`).join(' or ')}?)`,
      },
    ];
  });
}

/**
 * The valid names closest to `key` (case-insensitive edit distance, a transposition counts 1), when
 * close enough to be a typo; several when they are equally close.
 */
function nearest(key: string, known: readonly string[]): string[] {
  let best: string[] = [];
  let bestDistance = Infinity;
  for (const name of known) {
    const d = editDistance(key.toLowerCase(), name.toLowerCase());
    if (d > Math.max(2, Math.floor(name.length / 3)) || d > bestDistance) {
      continue;
    }
    best = d < bestDistance ? [name] : [...best, name];
    bestDistance = d;
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent transpositions. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) {
    d[i * cols] = i;
  }
  for (let j = 0; j < cols; j++) {
    d[j] = j;
  }
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, at(i - 2, j - 2) + 1);
      }
      d[i * cols + j] = v;
    }
  }
  return at(a.length, b.length);
}
