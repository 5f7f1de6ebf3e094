/**
 * baresip 1.0 (Debian baresip-core) as a real softphone on loopback, with no sound card: a 16-bit
 * 8 kHz mono WAV is its microphone (aufile) and the sndfile module records what it sends
 * (`…-enc.wav`) and receives (`…-dec.wav`). Copied from the team lab's lib/baresip.sh.
 *
 * - {@link baresipCall}: dials a URI once (directly, or registered at a registrar and through it),
 *   plain RTP or SRTP with SDES keys (its srtp module, `mediaenc`), and reports whether the call
 *   was established and how much audio came back.
 * - {@link baresipUa}: a registered callee that answers every call at once (auto-answer).
 *
 * Pitfalls: `net_interface` must be `127.0.0.1` (not `lo`); the WAV must be S16LE mono at exactly
 * 8000 Hz; baresip hangs up when the WAV ends; TLS listens on the SIP port + 1; auto-answer has no
 * ringing phase (so no CANCEL tests against the UA).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testCerts } from './certs.js';
import { FIXTURES, runDir } from './paths.js';
import { freePort } from './ports.js';
import { start, type Managed } from './processes.js';

export type BaresipTransport = 'udp' | 'tcp' | 'tls';
export type BaresipCodecs = 'pcmu' | 'pcma' | 'both';

const CODECS: Record<BaresipCodecs, string> = { pcmu: 'PCMU', pcma: 'PCMA', both: 'PCMU,PCMA' };

/** Digest registration of a baresip account at a registrar (e.g. Kamailio). */
export interface BaresipRegistration {
  user: string;
  password: string;
  /** `host:port` of the registrar, used as outbound proxy. */
  registrar: string;
}

interface Profile {
  dir: string;
  sipPort: number;
  rec: string;
}

async function writeProfile(name: string, wav: string): Promise<Profile> {
  const dir = runDir(name);
  const rec = join(dir, 'rec');
  mkdirSync(rec, { recursive: true });
  const certs = await testCerts();
  const sipPort = await freePort('127.0.0.1', 2); // TLS on sipPort + 1
  const rtpBase = await freePort('127.0.0.1', 20);
  const config = [
    ['poll_method', 'epoll'],
    ['sip_listen', `127.0.0.1:${sipPort}`],
    ['sip_certificate', certs.serverPem],
    ['sip_cafile', certs.caCert],
    ['sip_trans_bsize', '128'],
    ['call_local_timeout', '120'],
    ['call_max_calls', '4'],
    ['audio_source', `aufile,${wav}`],
    ['audio_alert', `aufile,${wav}`],
    ['ausrc_srate', '8000'],
    ['auplay_srate', '8000'],
    ['ausrc_channels', '1'],
    ['auplay_channels', '1'],
    ['audio_level', 'no'],
    ['rtp_ports', `${rtpBase}-${rtpBase + 19}`],
    ['rtcp_mux', 'no'],
    ['jitter_buffer_delay', '5-10'],
    ['net_interface', '127.0.0.1'],
    ['module_path', '/usr/lib/baresip/modules'],
    ['module', 'g711.so'],
    ['module', 'aufile.so'],
    ['module', 'sndfile.so'],
    ['module', 'srtp.so'],
    ['module_app', 'account.so'],
    ['module_app', 'menu.so'],
    ['snd_path', rec],
  ];
  writeFileSync(join(dir, 'config'), config.map(([k, v]) => `${k}\t\t${v}`).join('\n') + '\n');
  writeFileSync(join(dir, 'contacts'), '');

  return { dir, sipPort, rec };
}

function accountLine(
  t: BaresipTransport,
  codecs: BaresipCodecs,
  reg: BaresipRegistration | undefined,
  extra: string,
  caller?: { user: string; password?: string },
): string {
  if (reg === undefined) {
    const user = caller?.user ?? 'baresip';
    const auth = caller?.password !== undefined ? `;auth_pass=${caller.password}` : '';

    return `<sip:${user}@127.0.0.1;transport=${t}>${auth};regint=0;audio_codecs=${CODECS[codecs]};ptime=20${extra}\n`;
  }

  // NOTE: the AOR carries the registrar's port: Kamailio's `uri==myself` compares ports, and the
  // REGISTER's Request-URI is the AOR's domain.
  return (
    `<sip:${reg.user}@${reg.registrar};transport=${t}>;auth_pass=${reg.password};` +
    `outbound="sip:${reg.registrar};transport=${t}";regint=600;audio_codecs=${CODECS[codecs]};ptime=20${extra}\n`
  );
}

/** Strips colour codes and the menu's status line from baresip's output. */
export function cleanBaresipLog(raw: string): string {
  // eslint-disable-next-line no-control-regex
  return raw.replace(/\x1b\[[0-9;]*m/g, '').replace(/\[[0-9:]*\] audio=[0-9/]* \(bit\/s\) */g, '');
}

/** Seconds of audio in a 16-bit mono 8 kHz WAV file (from its `data` chunk size). */
export function wavSeconds(path: string): number {
  const buf = readFileSync(path);
  let pos = 12;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    if (id === 'data') {
      // sndfile may leave the size unset until close; fall back to the file length
      const bytes = size === 0 || size === 0xffffffff ? buf.length - pos - 8 : size;
      const rate = buf.readUInt32LE(24);
      const channels = buf.readUInt16LE(22);
      const bits = buf.readUInt16LE(34);

      return bytes / (rate * channels * (bits / 8));
    }
    pos += 8 + size + (size % 2);
  }

  return 0;
}

function newest(dir: string, suffix: string): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);

  return files[0];
}

export interface BaresipCallOptions {
  transport?: BaresipTransport;
  codecs?: BaresipCodecs;
  /** Microphone: 16-bit PCM mono 8 kHz WAV (default the 3.44 s fox clip). */
  wav?: string;
  /** baresip quits after this many seconds (default 15); it hangs up itself when the WAV ends. */
  maxSeconds?: number;
  /** Register first and send the INVITE through the registrar (outbound proxy). */
  register?: BaresipRegistration;
  /**
   * Without `register`: the caller's user (default `baresip`) and the password it answers digest
   * challenges of the callee with (401/407 to the INVITE).
   */
  caller?: { user: string; password?: string };
  /**
   * Media encryption of the account (`mediaenc`): `srtp-mand` offers RTP/SAVP with SDES keys and
   * refuses plain RTP, `srtp` offers best-effort SRTP (RTP/AVP with a=crypto). Default: plain RTP.
   */
  mediaenc?: 'srtp' | 'srtp-mand';
}

export interface BaresipCallResult {
  /** "Call established" was logged. */
  established: boolean;
  /** Seconds of audio received (0 when nothing was recorded). */
  receivedSeconds: number;
  receivedWav?: string;
  sentWav?: string;
  /** Cleaned baresip output with the SIP trace. */
  log: string;
  /** baresip's exit code. */
  code: number | null;
  dir: string;
}

/**
 * Places one call from baresip to `uri` (e.g. `sip:alice@127.0.0.1:5062`; `;transport=` is added
 * from the account) and waits until baresip quits.
 */
export async function baresipCall(uri: string, opts: BaresipCallOptions = {}): Promise<BaresipCallResult> {
  const t = opts.transport ?? 'udp';
  const wav = opts.wav ?? join(FIXTURES, 'audio', 'fox_pcm16_8k.wav');
  const p = await writeProfile('baresip-call', wav);
  writeFileSync(
    join(p.dir, 'accounts'),
    accountLine(
      t,
      opts.codecs ?? 'both',
      opts.register,
      opts.mediaenc ? `;mediaenc=${opts.mediaenc}` : '',
      opts.caller,
    ),
  );
  const maxSeconds = opts.maxSeconds ?? 15;
  const proc = start(
    'baresip-call',
    'baresip',
    ['-f', p.dir, '-s', '-e', `/dial ${uri}`, '-t', String(maxSeconds)],
    {
      cwd: p.dir,
      logFile: join(p.dir, 'baresip.raw.log'),
    },
  );
  const timer = setTimeout(() => void proc.stop(), (maxSeconds + 10) * 1000);
  const code = await proc.exited;
  clearTimeout(timer);
  const log = cleanBaresipLog(proc.output());
  writeFileSync(join(p.dir, 'baresip.log'), log);
  const dec = newest(p.rec, '-dec.wav');
  const enc = newest(p.rec, '-enc.wav');
  const receivedWav = dec !== undefined ? join(p.dir, 'received.wav') : undefined;
  const sentWav = enc !== undefined ? join(p.dir, 'sent.wav') : undefined;
  if (dec !== undefined && receivedWav !== undefined) {
    renameSync(dec, receivedWav);
  }
  if (enc !== undefined && sentWav !== undefined) {
    renameSync(enc, sentWav);
  }

  return {
    established: log.includes('Call established'),
    receivedSeconds: receivedWav !== undefined ? wavSeconds(receivedWav) : 0,
    ...(receivedWav !== undefined ? { receivedWav } : {}),
    ...(sentWav !== undefined ? { sentWav } : {}),
    log,
    code,
    dir: p.dir,
  };
}

export interface BaresipUa {
  readonly process: Managed;
  readonly dir: string;
  /** baresip's own SIP port (UDP/TCP; TLS is port + 1). */
  readonly sipPort: number;
  /** Cleaned output so far. */
  log(): string;
  /** Recordings of what it received, one `-dec.wav` per call. */
  received(): string[];
  stop(): Promise<void>;
}

/**
 * baresip registered at a registrar (digest), answering every INVITE at once with the 35 s fox
 * clip as microphone. Resolves once the registration got `200 OK`; rejects when it failed. Without
 * `reg` it registers nowhere and answers INVITEs sent to `sip:<user>@127.0.0.1:<sipPort>` (`user`
 * default `baresip`), resolving once it is ready; `mediaenc` as for {@link baresipCall}.
 */
export async function baresipUa(
  reg: BaresipRegistration | undefined,
  opts: {
    transport?: BaresipTransport;
    codecs?: BaresipCodecs;
    timeoutMs?: number;
    mediaenc?: 'srtp' | 'srtp-mand';
    user?: string;
  } = {},
): Promise<BaresipUa> {
  const t = opts.transport ?? 'udp';
  const p = await writeProfile(`baresip-ua-${t}`, join(FIXTURES, 'audio', 'fox_long_pcm16_8k.wav'));
  const extra = `;answermode=auto${opts.mediaenc ? `;mediaenc=${opts.mediaenc}` : ''}`;
  const caller = { user: opts.user ?? 'baresip' };
  writeFileSync(join(p.dir, 'accounts'), accountLine(t, opts.codecs ?? 'both', reg, extra, caller));
  const proc = start('baresip-ua', 'baresip', ['-f', p.dir, '-s'], {
    cwd: p.dir,
    logFile: join(p.dir, 'baresip.raw.log'),
  });
  // baresip prints the AOR without the port: `bob@127.0.0.1: {0/UDP/v4} 200 OK`
  const aor = reg ? `${reg.user}@${reg.registrar.replace(/:\d+$/, '')}`.replace(/\./g, '\\.') : '';
  const ok = reg ? new RegExp(`${aor}: \\{[0-9]+/[A-Z]+/v4\\} 200 OK`) : /baresip is ready/;
  const bad = reg
    ? new RegExp(`${aor}: reg.*failed|\\{[0-9]+/[A-Z]+/v4\\} 40[0-9]|reg: sip:${aor}: [4-6][0-9][0-9]`)
    : /(?!)/;
  const what = reg ? `registration of ${reg.user}` : 'start';
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    const out = cleanBaresipLog(proc.output());
    if (ok.test(out)) {
      break;
    }
    if (bad.test(out) || proc.child.exitCode !== null || Date.now() > deadline) {
      await proc.stop();
      throw new Error(`baresip ${what} over ${t} failed:\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    process: proc,
    dir: p.dir,
    sipPort: p.sipPort,
    log: () => cleanBaresipLog(proc.output()),
    received: () =>
      readdirSync(p.rec)
        .filter((f) => f.endsWith('-dec.wav'))
        .map((f) => join(p.rec, f)),
    stop: async () => {
      await proc.stop();
    },
  };
}
