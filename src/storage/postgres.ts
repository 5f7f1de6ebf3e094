/**
 * The PostgreSQL database of `storage.url` (`postgres://…`): a connection pool (`pg`) and the
 * schema, built and upgraded by the same migrations as SQLite (database.ts, in PostgreSQL's words).
 * Several instances may share the database: the migrations run under an advisory lock, once, and
 * the table `schema_version` records how many ran.
 */
import pg from 'pg';
import { AppError } from '../errors.js';
import { maskUrl } from '../logger.js';
import { MIGRATIONS, postgresDialect } from './database.js';

export type PgPool = pg.Pool;

/** Any number the advisory lock of the migrations is known by (the same in every instance). */
const MIGRATION_LOCK = 0x5195c41be;

/** 64-bit integers (epoch milliseconds, ids) as JavaScript numbers rather than strings. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === 20) {
      // int8
      return (v: string) => Number(v);
    }
    return pg.types.getTypeParser(oid, format) as (value: string) => unknown;
  },
} as unknown as typeof pg.types;

/**
 * Connects to the database and brings its schema up to date.
 * @throws AppError `STORAGE_ERR_OPEN` when it cannot connect or migrate.
 */
export async function openPostgres(url: string, opts: { max?: number } = {}): Promise<PgPool> {
  // A server that does not answer fails a query after 10 s rather than leaving it waiting forever.
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    types,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client's error (the server restarted) must not crash the process: the pool replaces it.
  pool.on('error', () => undefined);
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new AppError(
      'STORAGE_ERR_OPEN',
      `cannot open the PostgreSQL database ${maskUrl(url)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return pool;
}

async function migrate(pool: PgPool): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const r = await c.query<{ version: number }>('SELECT version FROM schema_version');
    if (r.rows.length === 0) {
      await c.query('INSERT INTO schema_version (version) VALUES (0)');
    }
    for (let v = r.rows[0]?.version ?? 0; v < MIGRATIONS.length; v++) {
      await c.query(postgresDialect(MIGRATIONS[v] ?? ''));
      await c.query('UPDATE schema_version SET version = $1', [v + 1]);
    }
  });
}

/** Runs `fn` in a transaction on one client of the pool (rolled back when it throws). */
export async function inTransaction<T>(pool: PgPool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
