// The ingress adapters: audio from Twilio, FreeSWITCH and Asterisk (AudioSocket, ARI externalMedia RTP)
// into the same call pipeline.
import type { Admission } from '../call/Admission.js';
import type { HttpServer } from '../http/server.js';
import type { Logger } from '../logger.js';
import { AudioSocketServer } from './AudioSocketServer.js';
import { registerFreeswitchIngress } from './FreeswitchIngress.js';
import type { IngressDeps } from './IngressCall.js';
import { IngressCalls } from './IngressCalls.js';
import { RtpIngress } from './RtpIngress.js';
import { registerTwilioIngress } from './TwilioIngress.js';

/** The running adapters: their calls, and the AudioSocket and RTP listeners' addresses when enabled. */
export interface Ingress {
  readonly calls: IngressCalls;
  readonly audiosocket: { address: string; port: number } | null;
  readonly rtp: { address: string; port: number } | null;
  /** Closes the AudioSocket listener and the RTP socket (after `calls.shutdown`). */
  close(): Promise<void>;
}

/**
 * Starts the adapters `ingress` enables: Twilio and FreeSWITCH routes on the HTTP server, the
 * AudioSocket TCP listener, the `externalMedia` RTP socket.
 * @throws AppError/ConfigError when the AudioSocket or RTP port cannot be bound or an allow list is bad.
 */
export async function startIngress(
  deps: IngressDeps & { readonly http: HttpServer; readonly admission: Admission; readonly logger: Logger },
): Promise<Ingress> {
  const { config, http, logger } = deps;
  const log = logger.child({ part: 'ingress' });
  const calls = new IngressCalls({ ...deps, logger: log });
  const { twilio, freeswitch, audiosocket, rtp } = config.ingress;
  if (twilio.enabled) {
    registerTwilioIngress(http, config, calls, log);
  }
  if (freeswitch.enabled) {
    registerFreeswitchIngress(http, config, calls, log);
  }
  let server: AudioSocketServer | null = null;
  let address: { address: string; port: number } | null = null;
  if (audiosocket.enabled) {
    server = new AudioSocketServer(config, calls, log);
    const a = await server.listen();
    address = { address: a.address, port: a.port };
    log.info({ audiosocket: `${a.address}:${a.port}` }, 'audiosocket listening');
  }
  let rtpIngress: RtpIngress | null = null;
  let rtpAddress: { address: string; port: number } | null = null;
  if (rtp.enabled) {
    rtpIngress = new RtpIngress(deps, calls, log);
    try {
      rtpAddress = await rtpIngress.listen();
    } catch (err) {
      await server?.close();
      throw err;
    }
    log.info(
      { rtp: `${rtpAddress.address}:${rtpAddress.port}`, format: rtp.format },
      'rtp ingress listening',
    );
  }
  return {
    calls,
    audiosocket: address,
    rtp: rtpAddress,
    close: async () => {
      await Promise.all([server?.close(), rtpIngress?.close()]);
    },
  };
}
