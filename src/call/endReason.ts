/** How the SIP layer's end reasons read in the event schema (`call.ended.reason`). */
import type { EndReason as SipEndReason } from '../../sip/index.js';
import type { EndReason } from '../events.js';

/** The SIP layer's end reasons mapped to the event schema's. */
export function appEndReason(r: SipEndReason): EndReason {
  switch (r) {
    case 'bye-remote':
    case 'bye-local':
    case 'cancel':
    case 'session-expired':
    case 'shutdown':
    case 'error':
      return r;
    case 'ack-timeout':
    case 'timeout':
    case 'transport-error':
    case 'rejected':
      return 'error';
  }
}
