/**
 * The SRTP policy of an incoming call, in one place: the account it is for (`sip.accounts[].srtp`),
 * else the listener it came in on (`sip.listen[].srtp`), else `optional` when the INVITE came over
 * TLS and `off` otherwise: SDES keys (RFC 4568) travel in the SDP, so over UDP or TCP signalling
 * anyone on the path can read them and SRTP would only pretend to protect the audio.
 */
import type { InviteSummary, SrtpPolicy } from '../../sip/index.js';
import type { Config } from '../config.js';

/**
 * @param account the configured account the call is for, or undefined for a direct call
 */
export function srtpPolicyFor(
  config: Config,
  call: InviteSummary,
  account: Config['sip']['accounts'][number] | undefined,
): SrtpPolicy {
  const listener = call.listener === undefined ? undefined : config.sip.listen[call.listener];
  return account?.srtp ?? listener?.srtp ?? (call.transport === 'tls' ? 'optional' : 'off');
}
