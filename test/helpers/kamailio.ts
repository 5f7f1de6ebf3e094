/**
 * Kamailio 5.6 (Debian) as registrar + proxy on loopback, from test/fixtures/kamailio/kamailio.cfg,
 * on free ports (the cfg's SIP_PORT/TLS_PORT defines), with its own run folder (control socket, TLS
 * config, log) and throw-away certificates. Digest users (realm `sip-lab` by default):
 * alice/alice-secret, bob/bob-secret, 1001/1001-secret. Calls to a registered user at Kamailio are
 * relayed to the registered contact without challenging the caller.
 *
 * Pitfalls (from the lab): over TCP/TLS the REGISTER's source is stored (`fix_nated_register`), so
 * calls reuse the registering connection unless `tcpUseContact`; UDP calls go to the Contact as
 * written unless `udpUseSource`; `nonce_count` is not checked.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testCerts, type TestCerts } from './certs.js';
import { FIXTURES, runDir } from './paths.js';
import { freePort } from './ports.js';
import { run, start, type Managed } from './processes.js';
import { waitForListen } from './sipp.js';

export const KAMAILIO_USERS: Readonly<Record<string, string>> = {
  alice: 'alice-secret',
  bob: 'bob-secret',
  '1001': '1001-secret',
};

export interface KamailioOptions {
  /** Digest realm (default `sip-lab`). */
  realm?: string;
  /** Challenge without qop (RFC 2069 style). */
  noQop?: boolean;
  /** Digest algorithm of the challenges (default MD5; Kamailio 5.6 also offers SHA-256). */
  algorithm?: 'MD5' | 'SHA-256';
  /** registrar `min_expires` (default 10 s). */
  minExpires?: number;
  /** Answer `423 Interval Too Brief` below minExpires instead of raising the expiry. */
  rejectShortExpires?: boolean;
  udpUseSource?: boolean;
  tcpUseContact?: boolean;
  extraUser?: { user: string; password: string };
  /** Kamailio log level (2 = info, 3 = debug). */
  debug?: number;
  /** Also listen for UDP and TCP on [::1] (port `port6`). */
  ipv6?: boolean;
  /**
   * Another configuration than the registrar fixture (e.g. deploy/kamailio/kamailio.cfg); it must
   * take the same CTL_SOCK, TLS_CFG, SIP_PORT, TLS_PORT and MODULES_PATH defines.
   */
  cfg?: string;
  /** More `-A` defines (`NAME=value`, `NAME="string"`) for that configuration. */
  defines?: readonly string[];
}

/** One binding from `ul.dump`. */
export interface UlContact {
  readonly aor: string;
  readonly address: string;
  readonly expires: number;
  readonly received?: string;
  readonly socket?: string;
  readonly userAgent?: string;
  readonly path?: string;
}

export interface Kamailio {
  readonly host: string;
  /** UDP and TCP port. */
  readonly port: number;
  readonly tlsPort: number;
  /** UDP+TCP port on [::1] when started with `ipv6`. */
  readonly port6: number | undefined;
  readonly realm: string;
  readonly dir: string;
  readonly certs: TestCerts;
  /** `sip:127.0.0.1:PORT` (registrar URI), with `;transport=` for tcp/tls. */
  uri(transport?: 'udp' | 'tcp' | 'tls'): string;
  /** `sip:[::1]:PORT6` with `;transport=tcp` for tcp (needs `ipv6`). */
  uri6(transport?: 'udp' | 'tcp'): string;
  /** Stops Kamailio (TERM, then KILL), keeping its folder and ports. */
  stop(): Promise<void>;
  /** Starts it again on the same ports (memory-only location table: all bindings are gone). */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** Runs an RPC through kamcmd and returns its text output. */
  rpc(...args: string[]): Promise<string>;
  /** The location table. */
  ulDump(): Promise<UlContact[]>;
  /** Everything Kamailio logged (all runs). */
  log(): string;
}

async function waitAll(
  proc: Managed,
  ports: { port: number; tlsPort: number; port6?: number },
): Promise<void> {
  await waitForListen(proc, ports.port, 'udp');
  await waitForListen(proc, ports.port, 'tcp');
  await waitForListen(proc, ports.tlsPort, 'tcp');
  if (ports.port6 !== undefined) {
    await waitForListen(proc, ports.port6, 'udp');
    await waitForListen(proc, ports.port6, 'tcp');
  }
}

/** Debian's module folder for this machine's architecture (`/usr/lib/<triplet>/kamailio/modules`). */
function modulesPath(): string | undefined {
  try {
    for (const d of readdirSync('/usr/lib')) {
      const p = `/usr/lib/${d}/kamailio/modules/`;
      if (d.includes('-linux-') && existsSync(`${p}registrar.so`)) {
        return p;
      }
    }
  } catch {
    // fall back to the cfg's default
  }

  return undefined;
}

/** Starts Kamailio on free ports and waits until it listens on UDP, TCP and TLS. */
export async function startKamailio(opts: KamailioOptions = {}): Promise<Kamailio> {
  const dir = runDir('kamailio');
  const certs = await testCerts();
  const port = await freePort();
  const tlsPort = await freePort();
  const port6 = opts.ipv6 === true ? await freePort('::1') : undefined;
  const realm = opts.realm ?? 'sip-lab';
  const ctl = `unix:${join(dir, 'kamailio_ctl')}`;
  const tlsCfg = join(dir, 'tls.cfg');
  writeFileSync(
    tlsCfg,
    readFileSync(join(FIXTURES, 'kamailio', 'tls.cfg.in'), 'utf8')
      .replace('@LAB@/certs/server.key', certs.serverKey)
      .replace('@LAB@/certs/server.crt', certs.serverCert)
      .replace('@LAB@/certs/ca.crt', certs.caCert),
  );
  const defs = [
    `CTL_SOCK="${ctl}"`,
    `TLS_CFG="${tlsCfg}"`,
    `SIP_PORT=${port}`,
    `TLS_PORT=${tlsPort}`,
    ...(port6 !== undefined ? [`SIP6_PORT=${port6}`] : []),
    `LAB_REALM="${realm}"`,
    ...((m) => (m !== undefined ? [`MODULES_PATH="${m}"`] : []))(modulesPath()),
    ...(opts.noQop === true ? ['AUTH_NO_QOP'] : []),
    ...(opts.algorithm === 'SHA-256' ? ['AUTH_ALGORITHM="SHA-256"'] : []),
    ...(opts.minExpires !== undefined ? [`MIN_EXPIRES=${opts.minExpires}`] : []),
    ...(opts.rejectShortExpires === true ? ['REJECT_SHORT_EXPIRES'] : []),
    ...(opts.udpUseSource === true ? ['UDP_USE_SOURCE'] : []),
    ...(opts.tcpUseContact === true ? ['TCP_USE_CONTACT'] : []),
    ...(opts.extraUser !== undefined
      ? [`EXTRA_USER="${opts.extraUser.user}"`, `EXTRA_PASS="${opts.extraUser.password}"`]
      : []),
    ...(opts.defines ?? []),
  ].flatMap((d) => ['-A', d]);
  const cfg = opts.cfg ?? join(FIXTURES, 'kamailio', 'kamailio.cfg');
  const check = await run('kamailio-check', 'kamailio', ['-c', '-f', cfg, ...defs], { timeoutMs: 30_000 });
  if (check.code !== 0) {
    throw new Error(`kamailio config check failed:\n${check.output}`);
  }
  const logFile = join(dir, 'kamailio.log');
  const args = [
    '-f', cfg, ...defs, '-DD', '-E', '-Y', dir, '-m', '64', '-M', '8', `--debug=${opts.debug ?? 2}`,
  ]; // prettier-ignore
  let proc: Managed | undefined;
  let logs = '';

  const k: Kamailio = {
    host: '127.0.0.1',
    port,
    tlsPort,
    port6,
    realm,
    dir,
    certs,
    uri: (t = 'udp') =>
      t === 'udp' ? `sip:127.0.0.1:${port}` : `sip:127.0.0.1:${t === 'tls' ? tlsPort : port};transport=${t}`,
    uri6: (t = 'udp') => {
      if (port6 === undefined) {
        throw new Error('kamailio was started without ipv6');
      }

      return t === 'udp' ? `sip:[::1]:${port6}` : `sip:[::1]:${port6};transport=${t}`;
    },
    start: async () => {
      if (proc !== undefined) {
        throw new Error('kamailio is already running');
      }
      proc = start('kamailio', 'kamailio', args, { cwd: dir, logFile });
      try {
        await waitAll(proc, { port, tlsPort, ...(port6 !== undefined ? { port6 } : {}) });
      } catch (err) {
        await k.stop();
        throw err;
      }
    },
    stop: async () => {
      if (proc !== undefined) {
        const p = proc;
        proc = undefined;
        await p.stop();
        logs += p.output();
      }
    },
    restart: async () => {
      await k.stop();
      await k.start();
    },
    rpc: async (...rpcArgs) => {
      const r = await run('kamcmd', 'kamcmd', ['-s', ctl, ...rpcArgs], { timeoutMs: 10_000 });
      if (r.code !== 0) {
        throw new Error(`kamcmd ${rpcArgs.join(' ')} failed (${r.code}): ${r.output}`);
      }

      return r.output;
    },
    ulDump: async () => parseUlDump(await k.rpc('ul.dump')),
    log: () => logs + (proc?.output() ?? ''),
  };
  await k.start();

  return k;
}

/**
 * The dispatcher's view of each destination (`kamcmd dispatcher.list`): its URI → state flags
 * (`AP` active and probed, `IP` inactive…).
 */
export async function dispatcherFlags(k: Kamailio): Promise<Map<string, string>> {
  const flags = new Map<string, string>();
  let uri = '';
  for (const line of (await k.rpc('dispatcher.list')).split('\n')) {
    const m = /^\s*(URI|FLAGS):\s*(\S+)/.exec(line);
    if (m?.[1] === 'URI') {
      uri = m[2] ?? '';
    } else if (m?.[1] === 'FLAGS') {
      flags.set(uri, m[2] ?? '');
    }
  }
  return flags;
}

/**
 * Parses kamcmd's text rendering of `ul.dump` (nested `{ }` blocks with `Key: value` lines) into
 * one entry per contact.
 */
export function parseUlDump(text: string): UlContact[] {
  const contacts: UlContact[] = [];
  let aor = '';
  let current: Record<string, string> | undefined;
  const flush = (): void => {
    if (current?.['Address'] !== undefined) {
      contacts.push({
        aor,
        address: current['Address'],
        expires: Number(current['Expires'] ?? NaN),
        ...(current['Received'] !== undefined && current['Received'] !== '[not set]'
          ? { received: current['Received'] }
          : {}),
        ...(current['Socket'] !== undefined ? { socket: current['Socket'] } : {}),
        ...(current['User-Agent'] !== undefined ? { userAgent: current['User-Agent'] } : {}),
        ...(current['Path'] !== undefined && current['Path'] !== '[not set]'
          ? { path: current['Path'] }
          : {}),
      });
    }
    current = undefined;
  };
  for (const raw of text.split('\n')) {
    const m = /^\s*([A-Za-z-]+):\s*(.*?)\s*$/.exec(raw);
    if (m === null) {
      continue;
    }
    const [, key = '', value = ''] = m;
    if (key === 'AoR') {
      flush();
      aor = value;
    } else if (key === 'Address') {
      flush();
      current = { Address: value };
    } else if (current !== undefined) {
      current[key] = value;
    }
  }
  flush();

  return contacts;
}
