import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * The URL of the module `name` beside `besideUrl` (the caller's `import.meta.url`): `<name>.js`
 * when the caller runs as JavaScript, `<name>.ts` when it runs as TypeScript (the test runner).
 */
export function moduleBeside(besideUrl: string, name: string): string {
  const ext = fileURLToPath(besideUrl).endsWith('.ts') ? 'ts' : 'js';
  return new URL(`./${name}.${ext}`, besideUrl).href;
}

/**
 * Starts a worker thread on the module `name` beside `besideUrl` (the caller's `import.meta.url`):
 * the compiled `<name>.js` when the caller runs as JavaScript, or, when it runs as TypeScript (the
 * test runner), `<name>.ts` through tsx's loader (`--import tsx` in a worker's `execArgv` does not
 * load `.ts` there; a module it loads may itself `import()` other `.ts` files).
 */
export function startModuleWorker(besideUrl: string, name: string, options: WorkerOptions = {}): Worker {
  const url = moduleBeside(besideUrl, name);
  if (url.endsWith('.js')) {
    return new Worker(new URL(url), options);
  }
  const script = JSON.stringify(url);
  return new Worker(`import('tsx/esm/api').then((tsx) => tsx.tsImport(${script}, ${script}));`, {
    ...options,
    eval: true,
  });
}
