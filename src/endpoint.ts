/**
 * Wires the layers of the running endpoint together: HTTP, SIP, RTP, STT and transcript sinks.
 * No protocol logic lives here.
 */
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { HttpServer } from './http/server.js';

export interface Endpoint {
  readonly httpPort: number;
  stop(): Promise<void>;
}

export async function startEndpoint(config: Config, logger: Logger): Promise<Endpoint> {
  const http = new HttpServer({ host: config.http.host, port: config.http.port, logger });
  const addr = await http.listen();
  logger.info({ http: `${addr.address}:${addr.port}` }, 'http server listening');
  return {
    httpPort: addr.port,
    async stop(): Promise<void> {
      await http.close();
    },
  };
}
