/**
 * The live page's static files (`src/web/`: index.html, app.js, style.css), served from disk with
 * a fixed allow-list (no directory traversal possible). No framework, no CDN: the page talks to
 * `/api/calls` and `/api/live` only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sendText, type HttpServer } from './server.js';

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/**
 * Where the page's files are: `src/web` next to this module when run from source, or the source
 * tree's `src/web` when run from `dist/src/http` (tsc does not copy non-TS files).
 */
function webDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'web'), join(here, '..', '..', '..', 'src', 'web')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) {
    throw new Error(`the web page files are missing (looked in ${candidates.join(', ')})`);
  }
  return found;
}

export function registerStaticRoutes(http: HttpServer, dir: string = webDir()): void {
  for (const [path, { file, type }] of Object.entries(FILES)) {
    // Read at start: the files are small, and a missing one should fail the start, not a request.
    const body = readFileSync(join(dir, file), 'utf8');
    http.route(
      'GET',
      path,
      (_req, res) => {
        res.setHeader(
          'content-security-policy',
          "default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'",
        );
        sendText(res, 200, type, body);
      },
      { public: true },
    );
  }
}
