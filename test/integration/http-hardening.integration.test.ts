// Hostile HTTP and WebSocket clients against a running endpoint on loopback (issue #10, items 10,
// 11 and 13): DNS rebinding (a foreign Host), cross-site WebSocket hijacking (a foreign Origin),
// oversized live-feed messages, the token's places, signed download links and security headers.
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { stopAll } from '../helpers/processes.js';
import { playCall, startApp, type App } from './appHarness.js';

const apps: App[] = [];
afterAll(async () => {
  for (const a of apps) {
    await a.endpoint.stop();
  }
  await stopAll();
});

const TOKEN = 'correct-horse-battery-staple';

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with any headers (fetch does not let a client choose Host). */
function raw(base: string, path: string, init: { method?: string; headers?: Record<string, string> } = {}) {
  const u = new URL(base);
  return new Promise<RawResponse>((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path, method: init.method ?? 'GET', headers: init.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The HTTP status a WebSocket upgrade gets (101 when it opens). */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const ws = new WebSocket(url, { headers });
  return new Promise<number>((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('error', reject);
  });
}

describe('Host and Origin (DNS rebinding, cross-site WebSocket hijacking)', () => {
  it('answers only requests whose Host names this server; loopback names and IP literals work', async () => {
    const app = await startApp('http-host', { http: { allowedHosts: ['transcribe.example.com'] } });
    apps.push(app);
    const { port } = new URL(app.base);
    const id = playCall(app.endpoint, ['keep me']);
    await app.endpoint.bus.flush();
    for (const host of [`evil.example:${port}`, 'evil.example', `localhost.evil.example:${port}`]) {
      for (const path of ['/api/calls', '/health', '/', `/api/calls/${id}/transcript?format=txt`]) {
        const res = await raw(app.base, path, { headers: { host } });
        expect([host, path, res.status]).toEqual([host, path, 403]);
        expect(res.body).not.toContain('keep me');
      }
    }
    // A rebinding page cannot delete either.
    const del = await raw(app.base, `/api/calls/${id}`, {
      method: 'DELETE',
      headers: { host: `evil.example:${port}` },
    });
    expect(del.status).toBe(403);
    expect(app.endpoint.calls.get(id)).toBeDefined();
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST:${port}`,
      `[::1]:${port}`,
      'transcribe.example.com',
      `transcribe.example.com:${port}`,
    ]) {
      expect([host, (await raw(app.base, '/api/calls', { headers: { host } })).status]).toEqual([host, 200]);
    }
  });

  it('refuses a live-feed upgrade from another web origin, and one with a foreign Host', async () => {
    const app = await startApp('http-origin');
    apps.push(app);
    const live = `${app.base.replace('http', 'ws')}/api/live`;
    const { host } = new URL(app.base);
    expect(await upgradeStatus(live, { origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus(live, { origin: 'null' })).toBe(403);
    expect(await upgradeStatus(live, { origin: `http://localhost:1` })).toBe(403);
    expect(await upgradeStatus(live, { host: 'evil.example' })).toBe(403);
    // The page's own origin, and clients that send no Origin at all (curl, scripts).
    expect(await upgradeStatus(live, { origin: `http://${host}` })).toBe(101);
    expect(await upgradeStatus(live)).toBe(101);
    // A cross-origin API request is refused too.
    const res = await raw(app.base, '/api/calls', { headers: { origin: 'https://evil.example' } });
    expect(res.status).toBe(403);
  });
});

describe('live feed messages', () => {
  it('closes a client that sends more than a few bytes (1009), not buffering 100 MiB', async () => {
    const app = await startApp('http-payload');
    apps.push(app);
    const ws = new WebSocket(`${app.base.replace('http', 'ws')}/api/live`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    // Either the server closes the connection, or (unbounded) answers the ping that follows.
    const outcome = new Promise<string>((resolve) => {
      ws.once('close', (code) => resolve(`close ${code}`));
      ws.once('pong', () => resolve('pong'));
    });
    ws.send(Buffer.alloc(64 * 1024, 0x61));
    ws.ping();
    expect(await outcome).toBe('close 1009');
  });
});

describe('the token', () => {
  it('is checked before routing: a stranger learns no route (no 404, no 405)', async () => {
    const app = await startApp('http-auth-first', { http: { token: TOKEN } });
    apps.push(app);
    for (const [method, path] of [
      ['GET', '/api/nothing'],
      ['POST', '/api/calls'],
      ['GET', '/api/calls/x/nothing'],
      ['DELETE', '/'],
    ] as const) {
      expect([method, path, (await raw(app.base, path, { method })).status]).toEqual([method, path, 401]);
    }
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await raw(app.base, '/api/nothing', { headers: auth })).status).toBe(404);
    expect((await raw(app.base, '/api/calls', { method: 'POST', headers: auth })).status).toBe(405);
    expect(await upgradeStatus(`${app.base.replace('http', 'ws')}/api/nope`)).toBe(401);
    // Public routes stay public.
    expect((await raw(app.base, '/health')).status).toBe(200);
    expect((await raw(app.base, '/')).status).toBe(200);
  });

  it('is taken from ?access_token= only for the live feed and downloads', async () => {
    const app = await startApp('http-query-token', { http: { token: TOKEN } });
    apps.push(app);
    const id = playCall(app.endpoint, ['hello there']);
    await app.endpoint.bus.flush();
    const q = `access_token=${TOKEN}`;
    expect((await raw(app.base, `/api/calls?${q}`)).status).toBe(401);
    expect((await raw(app.base, `/api/calls/${id}?${q}`)).status).toBe(401);
    expect((await raw(app.base, `/metrics?${q}`)).status).toBe(401);
    expect((await raw(app.base, `/api/calls/${id}?${q}`, { method: 'DELETE' })).status).toBe(401);
    expect((await raw(app.base, `/api/calls/${id}/transcript?format=txt&${q}`)).status).toBe(200);
    expect(await upgradeStatus(`${app.base.replace('http', 'ws')}/api/live?${q}`)).toBe(101);
  });

  it('signs short-lived download links so that page URLs never carry the token', async () => {
    const app = await startApp('http-links', { http: { token: TOKEN } });
    apps.push(app);
    const id = playCall(app.endpoint, ['signed and delivered']);
    const other = playCall(app.endpoint, ['not yours']);
    await app.endpoint.bus.flush();
    expect((await raw(app.base, `/api/calls/${id}/links`)).status).toBe(401);
    const res = await raw(app.base, `/api/calls/${id}/links`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.status).toBe(200);
    const links = JSON.parse(res.body) as { expiresAt: string; transcript: Record<string, string> };
    const ttl = Date.parse(links.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10 * 60_000);
    expect(Object.keys(links.transcript).sort()).toEqual(['json', 'srt', 'txt', 'vtt']);
    const txt = links.transcript['txt'] ?? '';
    expect(txt).not.toContain(TOKEN);
    expect(txt.startsWith(`/api/calls/${id}/transcript?`)).toBe(true);
    const got = await raw(app.base, txt);
    expect(got.status).toBe(200);
    expect(got.body).toBe('[00:00:00] signed and delivered\n');
    // Tampered: another format, another call, a later expiry, a changed signature.
    const u = new URL(txt, app.base);
    const tamper = (f: (p: URLSearchParams) => void, path = u.pathname): string => {
      const p = new URLSearchParams(u.search);
      f(p);
      return `${path}?${p.toString()}`;
    };
    for (const bad of [
      tamper((p) => p.set('format', 'srt')),
      tamper(() => undefined, `/api/calls/${other}/transcript`),
      tamper((p) => p.set('expires', String(Number(p.get('expires')) + 3600))),
      tamper((p) => p.set('sig', `${p.get('sig')?.slice(0, -2) ?? ''}AA`)),
      tamper((p) => p.delete('sig')),
    ]) {
      expect([bad, (await raw(app.base, bad)).status]).toEqual([bad, 401]);
    }
    // A signed link opens a download, never the rest of the API.
    const sig = u.search;
    expect((await raw(app.base, `/api/calls${sig}`)).status).toBe(401);
  });

  it('sends anti-framing and no-sniff headers everywhere, and transcripts as attachments', async () => {
    const app = await startApp('http-headers');
    apps.push(app);
    const id = playCall(app.endpoint, ['headers']);
    await app.endpoint.bus.flush();
    for (const path of ['/', '/api/calls', '/health', '/nothing', `/api/calls/${id}/transcript`]) {
      const res = await raw(app.base, path);
      expect([path, res.headers['x-frame-options']]).toEqual([path, 'DENY']);
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    for (const f of ['txt', 'srt', 'vtt', 'json']) {
      const res = await raw(app.base, `/api/calls/${id}/transcript?format=${f}`);
      expect(res.headers['content-disposition']).toBe(`attachment; filename="${id}.${f}"`);
    }
  });
});
