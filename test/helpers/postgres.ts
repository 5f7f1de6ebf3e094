/**
 * A throwaway PostgreSQL cluster for tests: Debian's server binaries (`postgresql` package,
 * installed by scripts/install-test-deps.sh), `initdb` into a temp folder, the server on a free
 * loopback port with its socket in that folder, trust authentication, no fsync. As root the server
 * runs as the `postgres` user (it refuses to run as root). The server is a managed process
 * (processes.ts), so `stopAll()` ends it even when a test failed; `stop()` also removes the folder.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';
import { run, start, type Managed } from './processes.js';

export interface PostgresCluster {
  /** `postgres://sipscribe@127.0.0.1:<port>/postgres` */
  readonly url: string;
  readonly port: number;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** The newest installed server's bin folder, or null when PostgreSQL is not installed. */
export function postgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) {
    return null;
  }
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : null;
}

/** Runs a server binary as an unprivileged user: `postgres` when we are root, else ourselves. */
function asServerUser(cmd: string, args: readonly string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, [...args]];
}

/** PostgreSQL's log line once it accepts connections (every version since 8). */
const READY = /database system is ready to accept connections/;

/** Waits for the server to log that it accepts connections, then checks with one connection. */
async function connectable(url: string, server: Managed, timeoutMs: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const streams = [server.child.stdout, server.child.stderr];
    const done = (err?: Error): void => {
      clearTimeout(timer);
      streams.forEach((st) => st?.off('data', check));
      if (err) {
        reject(err);
      } else {
        resolve();
      }
    };
    const check = (): void => {
      if (READY.test(server.output())) {
        done();
      }
    };
    const timer = setTimeout(
      () => done(new Error(`postgres not ready within ${timeoutMs} ms:\n${server.output()}`)),
      timeoutMs,
    );
    streams.forEach((st) => st?.on('data', check));
    void server.exited.then(() =>
      done(new Error(`postgres exited before it was ready:\n${server.output()}`)),
    );
    check();
  });
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function startPostgres(): Promise<PostgresCluster> {
  const bin = postgresBin();
  if (!bin) {
    throw new Error('PostgreSQL is not installed: run scripts/install-test-deps.sh');
  }
  const dir = mkdtempSync(join(tmpdir(), 'sipscribe-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const [initCmd, initArgs] = asServerUser(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'sipscribe',
    '-A',
    'trust',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  const init = await run('initdb', initCmd, initArgs, { timeoutMs: 120_000, cwd: dir });
  if (init.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.code}):\n${init.output}`);
  }
  const port = await freePort();
  const [cmd, args] = asServerUser(join(bin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${dir}`,
    '-c',
    'fsync=off',
    '-c',
    'max_connections=200',
  ]);
  const server = start('postgres', cmd, args, { cwd: dir });
  const url = `postgres://sipscribe@127.0.0.1:${port}/postgres`;
  try {
    await connectable(url, server, 60_000);
  } catch (err) {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    port,
    async createDatabase(name: string): Promise<string> {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return `postgres://sipscribe@127.0.0.1:${port}/${name}`;
    },
    async stop(): Promise<void> {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
