// The public surface of this layer: everything src/ may use is exported here by name.
export { systemClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';

// ---- Digest authentication and registration (owned by SIP-reg; sip/auth/, sip/registration/) ----
export { DigestClient } from './auth/DigestClient.js';
export type {
  AuthorizationHeader,
  AuthorizedRequest,
  ChallengeOutcome,
  DigestAccount,
  DigestClientOptions,
} from './auth/DigestClient.js';
export { withDigest } from './auth/withDigest.js';
export type { ChallengeResponse } from './auth/withDigest.js';
export { DigestVerifier, digestHa1 } from './auth/DigestVerifier.js';
export type {
  DigestRejection,
  DigestSecret,
  DigestVerdict,
  DigestVerifierOptions,
  VerifiedRequest,
} from './auth/DigestVerifier.js';
export { computeDigestResponse, DIGEST_ALGORITHMS } from './auth/digest.js';
export type { DigestAlgorithm, DigestInputs, DigestQop } from './auth/digest.js';
export { parseChallenge } from './auth/challenge.js';
export type { DigestChallenge } from './auth/challenge.js';
export { DigestError } from './auth/errors.js';
export type { DigestErrorCode } from './auth/errors.js';
export { Registration } from './registration/Registration.js';
export type {
  RegistrationAccount,
  RegistrationDelegate,
  RegistrationOptions,
  RegistrationStatus,
} from './registration/Registration.js';
export { RegistrationManager } from './registration/RegistrationManager.js';
export { createStackRegistrationTransport } from './registration/stackTransport.js';
export type { RegistrationState } from './registration/state.js';
export { RegistrationError } from './registration/errors.js';
export type { RegistrationErrorCode } from './registration/errors.js';
export type {
  LocalContact,
  OutgoingRegister,
  RegisterResponse,
  RegistrationLogger,
  RegistrationTransport,
  SipTransportName,
} from './registration/types.js';
// ---- end of SIP-reg block ----

// ---- SIP core (owned by SIP-core): stack, calls, media description, lower layers ----
export type { Logger } from './logger.js';
export type { SipCounters } from './counters.js';
export {
  SipError,
  SipParseError,
  SipTransactionTimeoutError,
  SipTransportError,
  SipStateError,
  SdpError,
} from './errors.js';

// The stack (UAS + UAC) and its calls.
export { SipStack, ALLOWED_METHODS } from './ua/SipStack.js';
export type {
  SipStackOptions,
  SipStackDelegate,
  ScreenSource,
  ScreenVerdict,
  RefusalReason,
} from './ua/SipStack.js';
export { IncomingCall } from './ua/IncomingCall.js';
export type { IncomingCallState, InviteSummary, RejectOptions, ChallengeOptions } from './ua/IncomingCall.js';
export { OutgoingCall, CallRejectedError } from './ua/OutgoingCall.js';
export type { DialOptions, OutgoingCallState } from './ua/OutgoingCall.js';
export type { EndReason, DtmfEvent, CallEventMap, SessionTimerOptions } from './ua/types.js';

// Media description handed to src/ (and rtp/ through it).
export type { MediaDescription, Codec, Direction } from './sdp/media.js';
export type { LocalMedia } from './sdp/offerAnswer.js';

// Lower layers, for registration and tools.
export { TransportLayer } from './transport/TransportLayer.js';
export type { ListenEntry, TlsClientOptions, TlsServerCredentials } from './transport/TransportLayer.js';
export type { Flow, Target, TransportProtocol, HostPort } from './transport/types.js';
export { targetFromUri } from './transport/target.js';
export { TransactionLayer } from './transaction/TransactionLayer.js';
export type { TimerConfig } from './transaction/timers.js';
export { DEFAULT_TIMERS } from './transaction/timers.js';
export { SipRequest, SipResponse, serialize, setBody } from './message/SipMessage.js';
export type { SipMessage, HeaderField } from './message/SipMessage.js';
export { parseMessage } from './message/parser.js';
export { createRequest, createResponse, newBranch, newCallId, newTag } from './message/build.js';
// ---- end of SIP-core block ----
