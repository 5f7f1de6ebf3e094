import type { RemoteMedia } from '../../../rtp/session/types.js';

/** A remote description for unit tests: PCMU from 127.0.0.2:40000 (RTCP 40001), sendrecv, no rtcp-mux. */
export function remoteMedia(over: Partial<RemoteMedia> = {}): RemoteMedia {
  return {
    address: '127.0.0.2',
    port: 40000,
    rtcpPort: 40001,
    rtcpMux: false,
    codec: 'PCMU',
    payloadType: 0,
    telephoneEventPayloadType: 101,
    ptime: 20,
    direction: 'sendrecv',
    ...over,
  };
}
