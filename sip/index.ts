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
