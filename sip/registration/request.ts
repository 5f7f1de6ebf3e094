import type { AuthorizationHeader } from '../auth/DigestClient.js';
import type { RegistrationAccount } from './options.js';
import type { OutgoingRegister } from './types.js';
import type { TransportProtocol } from '../transport/types.js';

/** Everything one REGISTER is made of. */
interface RegisterParts {
  readonly account: RegistrationAccount;
  /** `sip:user@domain`. */
  readonly aor: string;
  readonly fromTag: string;
  readonly callId: string;
  readonly cseq: number;
  /** Our Contact URI. */
  readonly contact: string;
  /** Requested expiry; 0 unregisters (then `;expires=0` on the Contact too). */
  readonly expires: number;
  readonly auth: readonly AuthorizationHeader[];
  readonly target: string;
  readonly transport: TransportProtocol;
  /** RFC 5626: `+sip.instance`, `reg-id=1`, `Supported: outbound`. */
  readonly outbound: boolean;
  readonly instanceId: string;
  readonly allow: string;
  readonly userAgent?: string;
}

/**
 * A REGISTER as data (RFC 3261 §10.2): Route (outbound proxy, `;lr`), From with tag, To, Call-ID,
 * CSeq, Contact, Expires, Allow, optional Supported/User-Agent, then the credentials. The sender
 * adds Via, Max-Forwards and Content-Length.
 */
export function buildRegister(p: RegisterParts): OutgoingRegister {
  const { account } = p;
  const name = account.displayName !== undefined ? `"${account.displayName.replace(/["\\]/g, '')}" ` : '';
  const contactParams = [
    ...(p.outbound ? [`+sip.instance="<${p.instanceId}>"`, 'reg-id=1'] : []),
    ...(p.expires === 0 ? ['expires=0'] : []),
  ];
  const headers: (readonly [string, string])[] = [
    ...(account.outboundProxy !== undefined ? [['Route', `<${account.outboundProxy};lr>`] as const] : []),
    ['From', `${name}<${p.aor}>;tag=${p.fromTag}`],
    ['To', `${name}<${p.aor}>`],
    ['Call-ID', p.callId],
    ['CSeq', `${p.cseq} REGISTER`],
    ['Contact', `<${p.contact}>${contactParams.map((c) => `;${c}`).join('')}`],
    ['Expires', String(p.expires)],
    ['Allow', p.allow],
    ...(p.outbound ? [['Supported', 'outbound'] as const] : []),
    ...(p.userAgent !== undefined ? [['User-Agent', p.userAgent] as const] : []),
    ...p.auth.map((h) => [h.name, h.value] as const),
  ];

  return { uri: account.registrar, target: p.target, transport: p.transport, headers };
}
