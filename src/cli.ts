/**
 * The `sipscribe` command. Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
 */
import { Command, CommanderError, Option } from 'commander';
import pino from 'pino';
import { dial, dialSummary } from './call/dial.js';
import { loadConfig, maskSecrets, resolveSecret, type Config } from './config.js';
import { AppError, ConfigError } from './errors.js';
import { createLogger, logFormatFor, type Logger } from './logger.js';
import { startAppliance } from './appliance.js';
import { transcribeFromCli, type TranscribeCliOptions } from './audio/transcribeCommand.js';

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;
/** After a graceful stop, the longest the process waits for sockets still closing. */
const EXIT_GRACE_MS = 2000;

/**
 * A command's logger on stdout (fd 1) or stderr (fd 2), in the format `log.format` gives for that
 * stream (readable on a terminal with `auto`), coloured when the terminal takes colours.
 */
function consoleLogger(level: string, format: Config['log']['format'], fd: 1 | 2, sync: boolean): Logger {
  const stream = fd === 1 ? process.stdout : process.stderr;
  const chosen = logFormatFor(format, stream.isTTY);
  return createLogger(level, {
    format: chosen,
    destination: pino.destination({ fd, sync }),
    color: chosen === 'pretty' && stream.isTTY && stream.hasColors(),
  });
}

async function runStart(configFile: string | undefined): Promise<number> {
  const config = loadConfig(configFile);
  const logger = consoleLogger(config.log.level, config.log.format, 1, false);
  logger.info({ config: configFile ?? '(built-in defaults)' }, 'sipscribe starting');
  const app = await startAppliance(config, logger);
  return await new Promise<number>((resolve) => {
    let stopping = false;
    /** `exitCode`: what the process exits with once stopped (1 after a bug). */
    const stop = (signal: NodeJS.Signals | 'uncaughtException', exitCode = EXIT_OK): void => {
      if (stopping) {
        if (signal !== 'uncaughtException') {
          // A second signal cuts the drain short: the calls left end now, through the flush.
          logger.info({ signal }, 'shutting down: drain cut short');
          void app.stop();
        }
        return;
      }
      stopping = true;
      logger.info({ signal, drainTimeoutMs: config.shutdown.drainTimeoutMs }, 'shutting down');
      app.stop().then(
        () => {
          // Everything is stopped and on disk, and the STT pool's stop has waited for its
          // WebSockets to close. As a safety net, anything still open must not hold the exit:
          // the process leaves after EXIT_GRACE_MS at the latest (logged at debug).
          logger.debug({ resources: process.getActiveResourcesInfo() }, 'stopped');
          setTimeout(() => {
            logger.debug(
              { resources: process.getActiveResourcesInfo() },
              'exiting with resources still open',
            );
            logger.flush();
            process.exit(exitCode);
          }, EXIT_GRACE_MS).unref();
          resolve(exitCode);
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolve(EXIT_FAILURE);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // Renewed certificates (ACME tooling and the like): re-read without dropping calls.
    process.on('SIGHUP', () => {
      if (!stopping) {
        logger.info({ signal: 'SIGHUP' }, 'reloading TLS certificates');
        app.reloadCertificates();
      }
    });
    // Safety net for bugs (nothing in sipscribe should reach these). A rejected promise nobody
    // handled is logged and counted, and the endpoint goes on: calls in progress keep their
    // transcripts. An uncaught exception may have left any state half-changed: the endpoint stops
    // gracefully (calls flushed, outbox on disk) and exits 1 for its supervisor to restart it.
    process.on('unhandledRejection', (reason) => {
      app.endpoint.metrics.internalErrors.inc({ kind: 'unhandled-rejection' });
      logger.error({ err: reason }, 'unhandled promise rejection (a bug): logged, the endpoint goes on');
    });
    process.on('uncaughtException', (err) => {
      app.endpoint.metrics.internalErrors.inc({ kind: 'uncaught-exception' });
      logger.fatal({ err }, 'uncaught exception (a bug): stopping gracefully, exit 1');
      stop('uncaughtException', EXIT_FAILURE);
    });
  });
}

interface DialCliOptions {
  wav: string;
  transport?: 'udp' | 'tcp' | 'tls';
  from?: string;
  proxy?: string;
  user?: string;
  password?: string;
  tail: string;
  answerTimeout: string;
  srtp?: 'off' | 'optional' | 'required';
}

async function runDial(uri: string, opts: DialCliOptions, configFile: string | undefined): Promise<number> {
  const config = loadConfig(configFile);
  const tailMs = Number(opts.tail);
  const answerTimeoutMs = Number(opts.answerTimeout);
  if (!Number.isFinite(tailMs) || tailMs < 0 || !Number.isFinite(answerTimeoutMs) || answerTimeoutMs <= 0) {
    process.stderr.write('sipscribe dial: --tail and --answer-timeout take milliseconds\n');
    return EXIT_USAGE;
  }
  let auth: { username: string; password: string } | undefined;
  if (opts.user !== undefined || opts.password !== undefined) {
    const password = resolveSecret(opts.password ?? '', '--password');
    if (!opts.user || !password) {
      process.stderr.write(
        'sipscribe dial: --user and --password go together (the password may be env:NAME)\n',
      );
      return EXIT_USAGE;
    }
    auth = { username: opts.user, password };
  }
  // Logs go to stderr (warnings only unless log.level says more); the outcome line to stdout.
  const level = config.log.level === 'info' ? 'warn' : config.log.level;
  const logger = consoleLogger(level, config.log.format, 2, true);
  const r = await dial(
    {
      uri,
      wav: opts.wav,
      tailMs,
      answerTimeoutMs,
      ...(opts.transport ? { transport: opts.transport } : {}),
      ...(opts.from ? { from: opts.from } : {}),
      ...(opts.proxy ? { proxy: opts.proxy } : {}),
      ...(opts.srtp ? { srtp: opts.srtp } : {}),
      ...(auth ? { auth } : {}),
    },
    config,
    logger,
  );
  process.stdout.write(`${dialSummary(r)}\n`);
  return r.ok ? EXIT_OK : EXIT_FAILURE;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command()
    .name('sipscribe')
    .description('SIP endpoint that turns phone calls into live transcripts')
    .option('-c, --config <file>', 'configuration file (JSON); built-in defaults when absent')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  let code = EXIT_OK;
  program.action(async (opts: { config?: string }) => {
    code = await runStart(opts.config);
  });
  program
    .command('check-config')
    .description('validate the configuration and print it with secrets masked')
    .action(() => {
      const { config: file } = program.opts<{ config?: string }>();
      const cfg = loadConfig(file);
      process.stdout.write(`${JSON.stringify(maskSecrets(cfg), null, 2)}\n`);
    });

  program
    .command('transcribe')
    .description('stream a WAV file to a moshi-server and print the words as they come')
    .argument('<file>', 'WAV file (any rate; PCM, float, µ-law or A-law; channels mixed down)')
    .option('--server <url>', 'ws(s)://host:port/api/asr-streaming (default: stt.servers[0].url)')
    .option(
      '--api-key <key>',
      'kyutai-api-key (default: stt.servers[0].apiKey); env:NAME reads it from the environment',
    )
    .option('--auth-in-query', 'send the key as ?auth_id= instead of the header')
    .option('--model-delay <ms>', 'model delay: 480 for stt-1b-en_fr, 2560 for stt-2.6b-en')
    .action(async (file: string, opts: TranscribeCliOptions) => {
      const apiKey = opts.apiKey === undefined ? {} : { apiKey: resolveSecret(opts.apiKey, '--api-key') };
      code = await transcribeFromCli(
        file,
        { ...opts, ...apiKey },
        program.opts<{ config?: string }>().config,
      );
    });

  program
    .command('dial')
    .description(
      'call a SIP URI, play a WAV file as G.711, hang up (a test caller for a deployment or trunk)',
    )
    .argument('<uri>', 'SIP URI to call, e.g. sip:transcribe@192.0.2.10:5060 (;transport=tcp, sips: for TLS)')
    .requiredOption(
      '--wav <file>',
      'WAV file to play (any rate, PCM/float/µ-law/A-law; mono or first channel)',
    )
    .addOption(
      new Option('--transport <t>', 'transport when the URI does not say').choices(['udp', 'tcp', 'tls']),
    )
    .option('--from <uri>', 'From URI (default sip:sipscribe@<our address>)')
    .option('--proxy <uri>', 'send the INVITE to this outbound proxy (sip:host:port) instead of the URI host')
    .option('--user <name>', 'username for a 401/407 challenge (with --password)')
    .option('--password <secret>', 'password for a 401/407 challenge; env:NAME reads it from the environment')
    .option('--tail <ms>', 'silence after the audio before hanging up', '1000')
    .option('--answer-timeout <ms>', 'give up when not answered within this time', '30000')
    .addOption(
      new Option(
        '--srtp <policy>',
        'SRTP with SDES keys: off (default), optional (RTP/AVP with a=crypto), required (RTP/SAVP)',
      ).choices(['off', 'optional', 'required']),
    )
    .action(async (uri: string, opts: DialCliOptions) => {
      code = await runDial(uri, opts, program.opts<{ config?: string }>().config);
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`sipscribe: configuration error: ${err.message}\n`);
      for (const p of err.problems.slice(1)) {
        process.stderr.write(`  also: ${p}\n`);
      }
      return EXIT_USAGE;
    }
    if (err instanceof AppError) {
      process.stderr.write(`sipscribe: ${err.message} (${err.code})\n`);
      return EXIT_FAILURE;
    }
    throw err;
  }
  return code;
}
