// SRTP/SRTCP (RFC 3711): re-exported by rtp/index.ts.
export { SrtpContext } from './SrtpContext.js';
export { SRTP_SUITES, srtpSuite } from './suites.js';
export type { SrtpSuite, SrtpSuiteName } from './suites.js';
