// The public surface of the signalling layer: everything src/ uses is exported here by name.

// Digest authentication and registration.
export { DigestVerifier } from './auth/DigestVerifier.js';
export type { DigestRejection } from './auth/DigestVerifier.js';
export type { RegistrationAccount } from './registration/Registration.js';
export { RegistrationManager } from './registration/RegistrationManager.js';
export { createStackRegistrationTransport } from './registration/stackTransport.js';

// The stack (UAS + UAC) and its calls.
export { SipStack } from './ua/SipStack.js';
export type { SipStackDelegate, ScreenSource, ScreenVerdict, RefusalReason } from './ua/SipStack.js';
export { IncomingCall } from './ua/IncomingCall.js';
export type { InviteSummary } from './ua/IncomingCall.js';
export { OutgoingCall, CallRejectedError } from './ua/OutgoingCall.js';
export type { EndReason } from './ua/types.js';
// SIPREC recording sessions (RFC 7866): `IncomingCall.recording`, `answerRecording`, `recordingUpdated`.
export type { RecordingSession, RecordingUpdate } from './ua/recording.js';
export type { OfferedStream, LocalMedia } from './sdp/offerAnswer.js';

// The media description handed to src/ (and rtp/ through it).
export type { MediaDescription } from './sdp/media.js';
export type { SrtpPolicy } from './sdp/crypto.js';

// Transports and messages.
export type { ListenEntry } from './transport/TransportLayer.js';
export type { TransportProtocol } from './transport/types.js';
export { targetFromUri } from './transport/target.js';
export { SipRequest, SipResponse } from './message/SipMessage.js';
export { parseMessage } from './message/parser.js';
