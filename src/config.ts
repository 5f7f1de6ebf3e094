/**
 * Configuration: one schema (zod) that validates a user's JSON file, resolves every default in one
 * place and names the JSON path of anything wrong. With no file the built-in defaults run.
 *
 * The key names under `sip`, `rtp`, `stt`, `storage` and `http` are a contract with users and with
 * the acceptance tests; `config.example.json` documents every key.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { JITTER_DEFAULTS } from '../rtp/index.js';
import { parseAllowList } from './call/Admission.js';
import { unknownKeys } from './configKeys.js';
import { ConfigError } from './errors.js';
import { EVENT_TYPES, type EventType } from './events.js';
import { maskUrl } from './logger.js';
import { loadCaFile, loadServerCredentials } from './tls/credentials.js';
import { DEFAULT_STOP_GRACE_MS } from './webhooks/WebhookDispatcher.js';

/**
 * Every duration a setting gives a timer is bounded: Node fires a setTimeout above 2^31−1 ms
 * (about 24.8 days) after 1 ms.
 */
const DAY_MS = 86_400_000;

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1);
/** A string that may name an environment variable instead: `"env:NAME"`. */
const secret = z.string();

/**
 * SRTP (RFC 3711, keys by SDES RFC 4568) of incoming calls: `off` plain RTP only (an RTP/SAVP offer
 * gets 488), `optional` SRTP when offered, `required` SRTP only (a plain offer gets 488). Absent:
 * the account's setting, else the listener's, else `optional` for an INVITE that came over TLS and
 * `off` otherwise (SDES keys travel in the SDP: over UDP/TCP anyone on the path reads them).
 */
const srtpPolicySchema = z.enum(['off', 'optional', 'required']);

const listenSchema = z.object({
  transport: z.enum(['udp', 'tcp', 'tls']),
  host: host.default('0.0.0.0'),
  port,
  /** TLS only: PEM files; when absent a self-signed certificate is generated into storage.dir. */
  certFile: z.string().optional(),
  keyFile: z.string().optional(),
  /** SRTP policy of the calls coming in on this listener (see {@link srtpPolicySchema}). */
  srtp: srtpPolicySchema.optional(),
});

const accountSchema = z.object({
  registrar: z.string().regex(/^sips?:/, 'a sip: or sips: URI'),
  username: z.string().min(1),
  authUsername: z.string().optional(),
  password: secret.default(''),
  realm: z.string().optional(),
  outboundProxy: z
    .string()
    .regex(/^sips?:/, 'a sip: or sips: URI')
    .optional(),
  expires: z.number().int().min(30).max(86400).default(300),
  displayName: z.string().optional(),
  /** SRTP policy of the calls to this account (wins over the listener's). */
  srtp: srtpPolicySchema.optional(),
});

const sttServerSchema = z.object({
  url: z.string().regex(/^wss?:\/\//, 'a ws:// or wss:// URL'),
  apiKey: secret.default('public_token'),
  /** Send the key as `?auth_id=` instead of the `kyutai-api-key` header (documented fallback). */
  authInQuery: z.boolean().default(false),
  /**
   * `wss://` only: `caFile` (PEM) is the CA the server's certificate must chain to (a private CA;
   * the system store when absent); `verify: false` skips verification (tests only; warned at start).
   */
  tls: z.object({ caFile: z.string().min(1).optional(), verify: z.boolean().default(true) }).optional(),
});

const webhookSchema = z.object({
  url: z.string().regex(/^https?:\/\//, 'an http:// or https:// URL'),
  /** HMAC-SHA256 key for the `X-Sipscribe-Signature` header. */
  secret: secret.min(1, 'a non-empty secret (sign every delivery)'),
  /** Event types sent to this URL. */
  events: z
    .array(z.enum(EVENT_TYPES as [EventType, ...EventType[]]))
    .min(1)
    .default(['call.started', 'transcript.utterance', 'call.ended']),
  /** Per request. */
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** Exponential backoff between attempts: minDelayMs · 2^(n-1), capped; give up after maxAgeMs. */
  retry: z
    .object({
      minDelayMs: z.number().int().min(10).max(DAY_MS).default(1000),
      maxDelayMs: z.number().int().min(10).max(DAY_MS).default(60_000),
      maxAgeMs: z
        .number()
        .int()
        .min(1000)
        .max(30 * DAY_MS)
        .default(DAY_MS),
    })
    .prefault({}),
});

/** The shortest `http.token` accepted. */
export const MIN_TOKEN_LENGTH = 16;

/** Loopback hosts: the HTTP server needs no token there. */
export function isLoopbackHost(h: string): boolean {
  return h === 'localhost' || h === '::1' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const configSchema = z.object({
  sip: z
    .object({
      listen: z
        .array(listenSchema)
        .min(1)
        .default([
          { transport: 'udp', host: '0.0.0.0', port: 5060 },
          { transport: 'tcp', host: '0.0.0.0', port: 5060 },
        ]),
      accounts: z.array(accountSchema).default([]),
      tls: z
        .object({ caFile: z.string().nullable().default(null), verify: z.boolean().default(true) })
        .prefault({}),
      inbound: z
        .object({
          allowFrom: z.array(z.string()).default(['0.0.0.0/0', '::/0']),
          /**
           * Calls on the phone at once (ringing or talking) before new INVITEs get 486; a call hung
           * up and waiting for its transcript no longer counts.
           */
          maxCalls: z.number().int().min(1).default(200),
          /** Calls on the phone at once from one source address before its new INVITEs get 486. */
          maxCallsPerSource: z.number().int().min(1).default(10),
          /** Ring time before answering, in ms (0 answers at once after 180). */
          ringMs: z.number().int().min(0).max(60_000).default(0),
          /**
           * Per source address: at most `burst` requests at once, refilled at `perSecond`. Requests
           * over the limit get no answer (silences scanners and floods; see call/Admission.ts).
           */
          rateLimit: z
            .object({
              burst: z.number().int().min(1).default(50),
              perSecond: z.number().min(0.1).default(10),
            })
            .prefault({}),
          /**
           * Digest authentication of callers (RFC 3261 §22, RFC 8760): an INVITE without valid
           * credentials for one of `users` is challenged (401), wrong credentials get 403. Absent:
           * no authentication (use `allowFrom` then).
           */
          auth: z
            .object({
              realm: z.string().min(1).default('sipscribe'),
              users: z.array(z.object({ username: z.string().min(1), password: secret.min(1) })).min(1),
              /** Methods challenged (out-of-dialog INVITE; the only one for now). */
              methods: z
                .array(z.enum(['INVITE']))
                .min(1)
                .default(['INVITE']),
              /** Challenge algorithms, preferred first (SIPp and baresip 1.0 only answer MD5 on top). */
              algorithms: z
                .array(z.enum(['SHA-256', 'MD5']))
                .min(1)
                .default(['SHA-256', 'MD5']),
            })
            .optional(),
        })
        .prefault({}),
      userAgent: z.string().default('sipscribe'),
      /**
       * SIPREC recording server (RFC 7866): INVITEs with `Require: siprec` or a `+sip.src` Contact
       * are recording sessions, one channel per labelled stream (README, "SIPREC"). Off by default.
       */
      siprec: z.object({ enabled: z.boolean().default(false) }).prefault({}),
      /** Session timers (RFC 4028): our Min-SE in seconds (90 is the RFC's floor; lower only for tests). */
      // Min-SE at most the longest interval the stack grants (7200 s, sip/ua/sessionTimer.ts).
      sessionTimer: z.object({ minSE: z.number().int().min(1).max(7200).default(90) }).prefault({}),
      timers: z
        .object({
          t1: z.number().int().min(10).max(60_000).default(500),
          t2: z.number().int().min(100).max(600_000).default(4000),
          t4: z.number().int().min(100).max(600_000).default(5000),
        })
        .prefault({}),
    })
    .prefault({}),
  rtp: z
    .object({
      host: host.default('0.0.0.0'),
      /**
       * Address written into SDP c= lines; defaults to the address the SIP request arrived on.
       * Behind a load balancer (Kamailio) each instance sets its own: media goes straight to it.
       */
      publicAddress: z.string().optional(),
      portMin: port.default(20000),
      portMax: port.default(29999),
      codecs: z
        .array(z.enum(['PCMU', 'PCMA']))
        .min(1)
        .default(['PCMU', 'PCMA']),
      timeoutMs: z.number().int().min(1000).max(3_600_000).default(30_000),
      /**
       * What goes back to the caller (we have nothing to say): `silence` at ptime (50 packets/s, as a
       * phone would), `keepalive` one silence packet per `keepaliveMs` (RFC 6263; keeps NATs and
       * carriers' no-RTP timers happy at 1/50 of the cost), `none` no RTP (answered `a=recvonly`).
       */
      sendBack: z.enum(['silence', 'keepalive', 'none']).default('keepalive'),
      keepaliveMs: z.number().int().min(20).max(60_000).default(1000),
      /**
       * Media threads: the calls' RTP sessions (receive, jitter buffer, decoding, upsampling, what
       * is sent back) run on this many worker threads, the main thread keeping SIP, the STT streams,
       * storage and HTTP; 0 runs them on the main thread. `auto`: one per core beyond the first.
       */
      threads: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default('auto'),
      // The jitter buffer serves a recogniser: accuracy first, delay bounded (rtp/README.md).
      jitter: z
        .object({
          minDelayMs: z.number().int().min(0).max(10_000).default(JITTER_DEFAULTS.minDelayMs),
          maxDelayMs: z.number().int().min(20).max(10_000).default(JITTER_DEFAULTS.maxDelayMs),
          shrinkPercent: z.number().int().min(1).max(50).default(JITTER_DEFAULTS.shrinkPercent),
        })
        .prefault({}),
    })
    .prefault({}),
  stt: z
    .object({
      servers: z
        .array(sttServerSchema)
        .default([
          { url: 'ws://127.0.0.1:8080/api/asr-streaming', apiKey: 'public_token', authInQuery: false },
        ]),
      /**
       * A call when no STT server has a free slot (all full, or down): `defer` answers it, records
       * its audio to `<storage.dir>/pending/` (within `storage.pendingMaxBytes`) and transcribes it
       * once a slot frees up; `reject` answers `503`.
       */
      whenFull: z.enum(['reject', 'defer']).default('defer'),
      /**
       * Audio kept per channel from the answer until its STT stream opens (the ACK, the server's
       * `Ready`: seconds under load), sent first so the first words are not lost; beyond it the
       * oldest goes. 10 s is 480 KB per channel.
       */
      earlyAudioMs: z.number().int().min(0).max(120_000).default(10_000),
      /** The model's delay in ms (480 for stt-1b-en_fr, 2560 for stt-2.6b-en): bounds the hangup flush. */
      modelDelayMs: z.number().int().min(80).max(10_000).default(480),
      /**
       * Connections opened ahead of need per server and kept `Ready`, so a call (or a failover)
       * takes a stream without waiting for a handshake; each holds one of the server's slots
       * (`perServer`, 0 = off) and is replaced after `maxIdleMs` unused (moshi-server closes a
       * stream that sends no frame for 20 s).
       */
      warm: z
        .object({
          perServer: z.number().int().min(0).max(64).default(2),
          maxIdleMs: z.number().int().min(1000).max(19_000).default(15_000),
        })
        .prefault({}),
      /** An utterance is cut at `maxWords` words or `maxSeconds` from its first word (long turns). */
      utterance: z
        .object({
          maxWords: z.number().int().min(1).max(1000).default(60),
          maxSeconds: z.number().min(1).max(600).default(20),
        })
        .prefault({}),
    })
    .prefault({}),
  storage: z
    .object({
      dir: z.string().default('./data'),
      /**
       * A PostgreSQL database (`postgres://user:password@host:5432/db`, or `env:NAME`) for calls,
       * transcripts, events, the refused log and the webhook outbox, shared by every instance that
       * points at it. Absent: the embedded SQLite database in `dir`. JSONL files, recordings and
       * pending audio stay in `dir` either way.
       */
      url: z
        .string()
        .regex(/^postgres(?:ql)?:\/\/./, 'a postgres:// or postgresql:// URL')
        .optional(),
      /**
       * This instance's name in a shared database (`url`): its calls are marked with it, and a start
       * closes only the calls that it left unfinished. It must stay the same across restarts and
       * differ between instances. Default: a name made at the first start and kept in
       * `<dir>/instance-id`.
       */
      instanceId: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,64}$/, '1 to 64 letters, digits, ".", "_" or "-"')
        .optional(),
      /** Also write each call's audio to `<dir>/recordings/<callId>.wav` (PCM16 mono). */
      recordAudio: z.boolean().default(false),
      /** Calls over for longer than this many days are deleted with their files; 0 keeps everything. */
      retentionDays: z.number().int().min(0).max(36_500).default(0),
      /**
       * Disk budget of deferred calls' audio in `<dir>/pending/` (2.88 MB per call-minute): beyond
       * it new calls get `503` and a deferred call in progress is hung up. Default 1 GiB (~6 h).
       */
      pendingMaxBytes: z
        .number()
        .int()
        .min(0)
        .max(2 ** 50)
        .default(2 ** 30),
      /**
       * Events (words, utterances, …) are written in batches across calls: one transaction and one
       * append per call's JSONL file per batch, `writeBatchMs` after its first event or at once when
       * it holds `writeBatchRows` events or a `call.ended`. A crash loses at most one batch.
       */
      writeBatchMs: z.number().int().min(0).max(5000).default(50),
      writeBatchRows: z.number().int().min(1).max(100_000).default(500),
    })
    .prefault({}),
  /** Receivers of `call.started`, `transcript.utterance` and `call.ended` (see README, "Webhooks"). */
  webhooks: z.array(webhookSchema).default([]),
  http: z
    .object({
      host: host.default('127.0.0.1'),
      port: port.default(8001),
      /**
       * Names besides IP literals, `localhost` and `http.host` that clients may send as `Host` (and
       * pages as `Origin`): the public name of this server, or `.example.com` for a whole domain.
       */
      allowedHosts: z.array(host).default([]),
      /**
       * HTTPS for the API, the live feed (wss://) and the page: PEM certificate (chain) and key,
       * re-read on SIGHUP. Absent: plain HTTP (warned at start with a token and a non-loopback host).
       */
      tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
      /** Required when http.host is not a loopback address; at least 16 characters. */
      token: secret
        .min(MIN_TOKEN_LENGTH, `at least ${MIN_TOKEN_LENGTH} characters (e.g. \`openssl rand -hex 16\`)`)
        .optional(),
    })
    .prefault({}),
  /**
   * Audio from other systems into the same pipeline as a SIP call (README, "Other sources"): Twilio
   * Media Streams and FreeSWITCH audio streams as WebSockets on the HTTP server, Asterisk
   * AudioSocket on its own TCP port. Each is off until enabled, and needs its credentials.
   */
  ingress: z
    .object({
      /** Ingress streams in progress at once, all sources together; beyond it a stream is refused. */
      maxStreams: z.number().int().min(1).max(10_000).default(100),
      /** The largest message (WebSocket) or AudioSocket frame taken, in bytes. */
      maxFrameBytes: z
        .number()
        .int()
        .min(1024)
        .max(16 * 1024 * 1024)
        .default(256 * 1024),
      twilio: z
        .object({
          enabled: z.boolean().default(false),
          /** The account's Auth Token: `X-Twilio-Signature` is checked with it (HMAC-SHA1). */
          authToken: secret.min(1).optional(),
          /** The URL Twilio is given (`wss://host/ingress/twilio`), as Twilio signs it. */
          publicUrl: z.url().optional(),
        })
        .refine((t) => !t.enabled || (t.authToken !== undefined && t.publicUrl !== undefined), {
          message: 'ingress.twilio.enabled needs authToken and publicUrl',
        })
        .prefault({}),
      freeswitch: z
        .object({
          enabled: z.boolean().default(false),
          /** `Authorization: Bearer <token>`, or Basic with it as the password. */
          token: secret.min(16).optional(),
        })
        .refine((f) => !f.enabled || f.token !== undefined, {
          message: 'ingress.freeswitch.enabled needs a token (at least 16 characters)',
        })
        .prefault({}),
      audiosocket: z
        .object({
          enabled: z.boolean().default(false),
          host: host.default('127.0.0.1'),
          port: port.default(9092),
          /** Addresses or CIDR ranges that may connect (the Asterisk servers). */
          allowFrom: z.array(z.string().min(1)).default(['127.0.0.1/32', '::1/128']),
        })
        .prefault({}),
      /**
       * Plain RTP on one UDP port, as Asterisk ARI `externalMedia` sends it (`encapsulation=rtp`,
       * `transport=udp`): each source address and port is one call, ended by `rtp.timeoutMs`
       * without a packet. `format` is the one the ARI request names (`ulaw` or `alaw`).
       */
      rtp: z
        .object({
          enabled: z.boolean().default(false),
          host: host.default('127.0.0.1'),
          port: port.default(9093),
          /** Addresses or CIDR ranges whose RTP is taken (the Asterisk servers). */
          allowFrom: z.array(z.string().min(1)).default(['127.0.0.1/32', '::1/128']),
          format: z.enum(['ulaw', 'alaw']).default('ulaw'),
        })
        .prefault({}),
    })
    .prefault({}),
  shutdown: z
    .object({
      /**
       * Drain: at SIGTERM/SIGINT, how long calls in progress may go on (new calls and OPTIONS get
       * 503) before those still up are ended through the STT flush. 0 ends them at once.
       */
      drainTimeoutMs: z.number().int().min(0).max(3_600_000).default(0),
      /**
       * At the stop, how long webhook requests already sent may take to be answered (their rows
       * are then marked delivered, so the receiver does not get them again); those still
       * unanswered then are cut and sent again later. 0 cuts them at once.
       */
      webhookGraceMs: z.number().int().min(0).max(120_000).default(DEFAULT_STOP_GRACE_MS),
    })
    .prefault({}),
  log: z
    .object({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
      /**
       * `json`: one JSON record per line (for a supervisor, a container, a log shipper). `pretty`:
       * readable lines (`09:00:05.123  INFO: [sip 3f2a…] message key=value …`), secrets masked the
       * same way. `auto`: `pretty` when the output is a terminal, `json` otherwise. With `json`
       * the console's transcripts are JSON records too, even on a terminal.
       */
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
      /**
       * Write transcript text (utterances) to the log. The log is outside deletion and retention,
       * so by default only when stdout is a terminal (someone watching), never under a supervisor.
       */
      transcripts: z.boolean().default(() => process.stdout.isTTY === true),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;

/**
 * A secret as written by a user: `"env:NAME"` is read from the environment, anything else is the
 * secret itself. Also for command-line secrets (`dial --password`, `transcribe --api-key`).
 * @param where the JSON path or option named in the error.
 * @throws ConfigError when the variable is not set.
 */
export function resolveSecret(value: string, where: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!value.startsWith('env:')) {
    return value;
  }
  const name = value.slice(4);
  const v = env[name];
  if (v === undefined) {
    throw new ConfigError(where, `environment variable ${name} is not set`);
  }
  return v;
}

/** Resolves `"env:NAME"` strings anywhere in the tree from the environment. */
function resolveEnv(value: unknown, path: string, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') {
    return resolveSecret(value, path, env);
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => resolveEnv(v, `${path}[${i}]`, env));
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, resolveEnv(v, path ? `${path}.${k}` : k, env)]),
    );
  }
  return value;
}

function jsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}

/**
 * Validates a parsed JSON value and fills in every default. Every object is strict: an unknown key
 * is an error with the nearest valid name (configKeys.ts).
 * @throws ConfigError naming the JSON path of the first problem.
 */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  const unknown = unknownKeys(configSchema, raw);
  if (unknown[0]) {
    throw new ConfigError(
      jsonPath(unknown[0].path),
      unknown[0].message,
      unknown.map((u) => `${jsonPath(u.path)}: ${u.message}`),
    );
  }
  const result = configSchema.safeParse(resolveEnv(raw ?? {}, '', env));
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(
      issue ? jsonPath(issue.path) : '(root)',
      issue?.message ?? 'invalid configuration',
      result.error.issues.map((i) => `${jsonPath(i.path)}: ${i.message}`),
    );
  }
  const cfg = result.data;
  if (cfg.rtp.portMin > cfg.rtp.portMax) {
    throw new ConfigError('rtp.portMin', `must not exceed rtp.portMax (${cfg.rtp.portMax})`);
  }
  parseAllowList(cfg.sip.inbound.allowFrom);
  if (!isLoopbackHost(cfg.http.host) && !cfg.http.token) {
    throw new ConfigError(
      'http.token',
      `required when http.host (${cfg.http.host}) is not a loopback address: the API and live feed carry transcripts`,
    );
  }
  if (cfg.http.tls) {
    loadServerCredentials({ ...cfg.http.tls, where: 'http.tls' });
  }
  cfg.stt.servers.forEach((s, i) => {
    if (s.tls && !s.url.startsWith('wss://')) {
      throw new ConfigError(
        `stt.servers[${i}].tls`,
        `applies to wss:// URLs only (url is ${maskUrl(s.url)})`,
      );
    }
    if (s.tls?.caFile) {
      loadCaFile(s.tls.caFile, `stt.servers[${i}].tls.caFile`);
    }
  });
  const urls = new Set<string>();
  cfg.webhooks.forEach((w, i) => {
    if (urls.has(w.url)) {
      throw new ConfigError(`webhooks[${i}].url`, `${w.url} is listed twice`);
    }
    urls.add(w.url);
    if (w.retry.minDelayMs > w.retry.maxDelayMs) {
      throw new ConfigError(`webhooks[${i}].retry.minDelayMs`, 'must not exceed retry.maxDelayMs');
    }
  });
  return cfg;
}

/** Reads and validates a config file; `undefined` means the built-in defaults. */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  if (file === undefined) {
    return parseConfig({}, env);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('(file)', `cannot read ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('(file)', `${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseConfig(raw, env);
}

const SECRET_KEYS = new Set(['password', 'apiKey', 'token', 'secret']);

/**
 * A copy of the config with every secret replaced by `***` and credentials inside URLs masked
 * (`maskUrl`), for printing and logging.
 */
export function maskSecrets(cfg: unknown): unknown {
  if (typeof cfg === 'string') {
    return maskUrl(cfg);
  }
  if (Array.isArray(cfg)) {
    return cfg.map(maskSecrets);
  }
  if (cfg !== null && typeof cfg === 'object') {
    return Object.fromEntries(
      Object.entries(cfg).map(([k, v]) => [
        k,
        SECRET_KEYS.has(k) && typeof v === 'string' && v ? '***' : maskSecrets(v),
      ]),
    );
  }
  return cfg;
}
