/** Codes of the registration client (listed in sip/registration/README.md). */
type RegistrationErrorCode =
  /** A state transition that the registration state machine does not allow. */
  | 'SIP_ERR_REG_STATE'
  /** An account is invalid (bad registrar URI, empty username...). */
  | 'SIP_ERR_REG_ACCOUNT';

/** An error of the registration client, with a stable `code`. */
export class RegistrationError extends Error {
  override readonly name = 'RegistrationError';
  readonly code: RegistrationErrorCode;

  constructor(code: RegistrationErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
