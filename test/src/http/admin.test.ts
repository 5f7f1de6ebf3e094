// The drain routes on a real HttpServer (loopback, port 0): behind the token like the rest of the
// API, POST starts the drain (202, idempotent), GET reports it.
import { afterEach, describe, expect, it } from 'vitest';
import { registerAdminRoutes, type DrainStatus, type Drainable } from '../../../src/http/admin.js';
import { HttpServer } from '../../../src/http/server.js';
import { logSink } from '../logSink.js';

const TOKEN = 'drain-token-0123456789';

class FakeTarget implements Drainable {
  draining = false;
  drains = 0;
  calls = 3;
  drain(): DrainStatus {
    this.drains++;
    this.draining = true;
    return this.drainStatus();
  }
  drainStatus(): DrainStatus {
    return { draining: this.draining, calls: this.calls };
  }
}

const servers: HttpServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    await s.close();
  }
});

async function serve(target: Drainable): Promise<string> {
  const http = new HttpServer({ host: '127.0.0.1', port: 0, logger: logSink().logger, token: TOKEN });
  registerAdminRoutes(http, target);
  servers.push(http);
  const addr = await http.listen();
  return `http://127.0.0.1:${addr.port}/api/admin/drain`;
}

describe('admin routes', () => {
  it('POST /api/admin/drain needs the token, then drains (202) and GET reports it', async () => {
    const target = new FakeTarget();
    const url = await serve(target);
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await fetch(url, { method: 'POST' })).status).toBe(401);
    expect((await fetch(url)).status).toBe(401);
    expect(target.drains).toBe(0);
    const before = await fetch(url, { headers: auth });
    expect([before.status, await before.json()]).toEqual([200, { draining: false, calls: 3 }]);
    const res = await fetch(url, { method: 'POST', headers: auth });
    expect([res.status, await res.json()]).toEqual([202, { draining: true, calls: 3 }]);
    target.calls = 0;
    const after = await fetch(url, { headers: auth });
    expect(await after.json()).toEqual({ draining: true, calls: 0 });
  });
});
