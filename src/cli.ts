/**
 * The `sipscribe` command. Exit codes: 0 success, 1 runtime failure, 2 bad usage or configuration.
 */
import { Command, CommanderError } from 'commander';
import { loadConfig, maskSecrets } from './config.js';
import { AppError, ConfigError } from './errors.js';
import { createLogger } from './logger.js';
import { startAppliance } from './appliance.js';
import { transcribeFromCli, type TranscribeCliOptions } from './stt/transcribeCommand.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

async function runStart(configFile: string | undefined): Promise<number> {
  const config = loadConfig(configFile);
  const logger = createLogger(config.log.level);
  logger.info({ config: configFile ?? '(built-in defaults)' }, 'sipscribe starting');
  const app = await startAppliance(config, logger);
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        return;
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      app.stop().then(
        () => resolve(EXIT_OK),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          resolve(EXIT_FAILURE);
        },
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
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
    .description('stream a WAV file (24 kHz for now) to a moshi-server and print the words as they come')
    .argument('<file>', 'WAV file (PCM 16-bit or float 32-bit)')
    .option('--server <url>', 'ws(s)://host:port/api/asr-streaming (default: stt.servers[0].url)')
    .option('--api-key <key>', 'kyutai-api-key (default: stt.servers[0].apiKey)')
    .option('--auth-in-query', 'send the key as ?auth_id= instead of the header')
    .option('--model-delay <ms>', 'model delay: 480 for stt-1b-en_fr, 2560 for stt-2.6b-en')
    .action(async (file: string, opts: TranscribeCliOptions) => {
      code = await transcribeFromCli(file, opts, program.opts<{ config?: string }>().config);
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
