import { describe, expect, it } from 'vitest';
import { DownloadSigner } from '../../../src/http/downloadLinks.js';

const key = Buffer.alloc(32, 7);
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('DownloadSigner', () => {
  it('signs a path with its query; the link works until it expires, then never', () => {
    const s = new DownloadSigner({ key, ttlMs: 60_000 });
    const { url, expiresMs } = s.sign('/api/calls/abc/transcript?format=txt', T0);
    expect(expiresMs).toBe(T0 + 60_000);
    expect(url).toMatch(/^\/api\/calls\/abc\/transcript\?format=txt&expires=1767268860&sig=[\w-]{43}$/);
    const u = new URL(url, 'http://localhost');
    expect(s.verify(u, T0)).toBe(true);
    expect(s.verify(u, T0 + 59_999)).toBe(true);
    expect(s.verify(u, T0 + 60_000)).toBe(false);
  });

  it('refuses a link signed with another key, or with any part changed', () => {
    const s = new DownloadSigner({ key, ttlMs: 60_000 });
    const good = new URL(s.sign('/a?format=txt', T0).url, 'http://localhost');
    expect(new DownloadSigner({ ttlMs: 60_000 }).verify(good, T0)).toBe(false);
    const changed = (f: (u: URL) => void): URL => {
      const u = new URL(good);
      f(u);
      return u;
    };
    expect(
      s.verify(
        changed((u) => (u.pathname = '/b')),
        T0,
      ),
    ).toBe(false);
    expect(
      s.verify(
        changed((u) => u.searchParams.set('format', 'srt')),
        T0,
      ),
    ).toBe(false);
    expect(
      s.verify(
        changed((u) => u.searchParams.append('x', '1')),
        T0,
      ),
    ).toBe(false);
    expect(
      s.verify(
        changed((u) => u.searchParams.set('expires', '99999999999')),
        T0,
      ),
    ).toBe(false);
    expect(
      s.verify(
        changed((u) => u.searchParams.set('expires', 'x')),
        T0,
      ),
    ).toBe(false);
    expect(
      s.verify(
        changed((u) => u.searchParams.delete('sig')),
        T0,
      ),
    ).toBe(false);
    expect(
      s.verify(
        changed((u) => u.searchParams.set('sig', 'short')),
        T0,
      ),
    ).toBe(false);
  });
});
