/**
 * `sipscribe transcribe FILE.wav [--server URL] [--api-key KEY]`: streams an audio file to a
 * moshi-server in real time and prints the words as they come, one line per utterance, prefixed
 * with its start time. The quickest check of the STT side before any phone is involved.
 *
 * Exit codes: 0 complete transcript, 1 STT failure (unreachable, full, flush incomplete),
 * 2 configuration (401: wrong API key; unreadable file).
 */
import { systemClock, type Clock } from '../../lib/clock.js';
import type { Writable } from 'node:stream';
import { loadConfig } from '../config.js';
import {
  FRAME_MS,
  SttError,
  STT_ERR,
  SttPool,
  type AudioSource,
  type SttServerConfig,
  type SttUtterance,
  type SttWord,
} from '../stt/index.js';
import { wavFileSource } from './wavFileSource.js';
import { silentLogger, type Logger } from '../../lib/logger.js';

interface TranscribeOptions {
  readonly server: SttServerConfig;
  readonly source: AudioSource;
  /** Where words go (stdout). */
  readonly out: Writable;
  /** Where status lines go (stderr). */
  readonly err: Writable;
  readonly logger?: Logger;
  readonly clock?: Clock;
  readonly modelDelayMs?: number;
  /** Streaming speed (1 = real time, as a call). */
  readonly speed?: number;
}

/** `mm:ss.mmm` */
function formatOffset(ms: number): string {
  const m = Math.floor(ms / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const milli = Math.round(ms % 1000);
  return `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(milli).padStart(3, '0')}`;
}

/** Runs the command; resolves with the exit code. */
export async function runTranscribe(opts: TranscribeOptions): Promise<number> {
  const pool = new SttPool({
    servers: [opts.server],
    logger: opts.logger ?? silentLogger,
    clock: opts.clock,
    modelDelayMs: opts.modelDelayMs,
    readyTimeoutMs: 5000,
  });
  const reservation = await pool.reserve();
  if (!reservation) {
    const code = pool.status()[0]?.lastError ?? STT_ERR.NO_SERVER;
    const why =
      code === STT_ERR.AUTH
        ? 'the server refused the API key (HTTP 401): check --api-key / stt.servers[0].apiKey'
        : code === STT_ERR.FULL
          ? 'the server has no free channels'
          : `cannot stream to ${opts.server.url}`;
    opts.err.write(`sipscribe transcribe: ${why} (${code})\n`);
    await pool.stop();
    return code === STT_ERR.AUTH ? 2 : 1;
  }
  let lineOpen = false;
  const stream = pool.open(
    reservation,
    { callId: 'transcribe', speed: opts.speed ?? 1 },
    {
      onWord: (w: SttWord) => {
        opts.out.write(lineOpen ? ` ${w.text}` : `[${formatOffset(w.startMs)}] ${w.text}`);
        lineOpen = true;
      },
      onUtterance: (_u: SttUtterance) => {
        if (lineOpen) {
          opts.out.write('\n');
          lineOpen = false;
        }
      },
      onError: (e: SttError) => opts.err.write(`sipscribe transcribe: ${e.message} (${e.code})\n`),
      onReconnect: (info) => opts.err.write(`sipscribe transcribe: reconnected to ${info.to}\n`),
    },
  );
  const clock = opts.clock ?? systemClock;
  const sleep = (ms: number): Promise<void> => new Promise((r) => clock.setTimeout(r, ms));
  for await (const frame of opts.source.frames()) {
    stream.pushFrame(frame);
    while (stream.queuedFrames > 8) {
      await sleep(FRAME_MS);
    }
  }
  while (stream.queuedFrames > 0 && stream.state !== 'failed') {
    await sleep(FRAME_MS / 2);
  }
  const final = await stream.flush();
  if (lineOpen) {
    opts.out.write('\n');
  }
  await pool.stop();
  opts.err.write(
    `sipscribe transcribe: ${final.words.length} words, ${final.utterances.length} utterances, ` +
      `${(final.audioMs / 1000).toFixed(2)} s streamed${final.complete ? '' : ', INCOMPLETE (flush Marker not returned)'}\n`,
  );
  return final.complete ? 0 : 1;
}

/** Command-line options of `transcribe`. */
export interface TranscribeCliOptions {
  readonly server?: string;
  readonly apiKey?: string;
  readonly authInQuery?: boolean;
  readonly modelDelay?: string;
}

/**
 * The `transcribe` subcommand: the server comes from `--server`/`--api-key`, else from the
 * configuration's first `stt.servers` entry (built-in default `ws://127.0.0.1:8080/api/asr-streaming`).
 * @throws ConfigError from the configuration file (the CLI maps it to exit code 2).
 */
export async function transcribeFromCli(
  file: string,
  cli: TranscribeCliOptions,
  configFile: string | undefined,
  io: { out: Writable; err: Writable } = { out: process.stdout, err: process.stderr },
): Promise<number> {
  const cfg = loadConfig(configFile);
  const configured = cfg.stt.servers[0];
  const server: SttServerConfig = {
    url: cli.server ?? configured?.url ?? 'ws://127.0.0.1:8080/api/asr-streaming',
    apiKey: cli.apiKey ?? configured?.apiKey ?? 'public_token',
    authInQuery: cli.authInQuery ?? configured?.authInQuery ?? false,
  };
  if (!/^wss?:\/\//.test(server.url)) {
    io.err.write(`sipscribe transcribe: --server must be a ws:// or wss:// URL, got ${server.url}\n`);
    return 2;
  }
  let source: AudioSource;
  try {
    source = wavFileSource(file);
  } catch (err) {
    if (err instanceof SttError) {
      io.err.write(`sipscribe transcribe: ${err.message} (${err.code})\n`);
      return 2;
    }
    throw err;
  }
  const delay = cli.modelDelay === undefined ? undefined : Number(cli.modelDelay);
  return await runTranscribe({
    server,
    source,
    out: io.out,
    err: io.err,
    modelDelayMs: delay !== undefined && Number.isFinite(delay) && delay > 0 ? delay : undefined,
  });
}
