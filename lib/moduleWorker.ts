import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on the module `name` beside `besideUrl` (the caller's `import.meta.url`):
 * the compiled `<name>.js` when the caller runs as JavaScript, or, when it runs as TypeScript (the
 * test runner), `<name>.ts` through tsx's loader (`--import tsx` in a worker's `execArgv` does not
 * load `.ts` there).
 */
export function startModuleWorker(besideUrl: string, name: string, options: WorkerOptions = {}): Worker {
  if (!fileURLToPath(besideUrl).endsWith('.ts')) {
    return new Worker(new URL(`./${name}.js`, besideUrl), options);
  }
  const script = JSON.stringify(new URL(`./${name}.ts`, besideUrl).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => tsx.tsImport(${script}, ${script}));`, {
    ...options,
    eval: true,
  });
}
