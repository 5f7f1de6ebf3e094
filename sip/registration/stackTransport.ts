import { SipTransportError } from '../errors.js';
import { setContentLength, SipRequest } from '../message/SipMessage.js';
import type { TransactionLayer } from '../transaction/TransactionLayer.js';
import { targetFromUri } from '../transport/target.js';
import type { LocalContact, OutgoingRegister, RegisterResponse, RegistrationTransport } from './types.js';
import type { Target, TransportProtocol } from '../transport/types.js';

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/**
 * The target of a registrar/outbound-proxy URI over the account's transport (`sips:` is always
 * TLS, RFC 3261 §26.2.2).
 *
 * @throws SipTransportError (`SIP_ERR_TRANSPORT`) when the URI cannot be used as a target.
 */
function targetOf(uri: string, transport: TransportProtocol): Target {
  const t = targetFromUri(uri, transport);
  if (t === undefined) {
    throw new SipTransportError(`cannot send to "${uri}"`);
  }

  return t.protocol === transport || /^sips:/i.test(uri) ? t : { ...t, protocol: transport };
}

/**
 * The registration client's transport over the SIP stack: each REGISTER is a non-INVITE client
 * transaction of `transactions` (Via with `;rport`, Timer E/F over UDP), the Contact comes from
 * the transport layer's `localContact()` (listening address, so calls come back to a listener),
 * and on TCP/TLS the connection to the registrar is kept open with CRLF keep-alives (RFC 5626
 * §4.4.1) and watched for closure. Calls that the registrar sends over that connection reach the
 * stack's UAS like any inbound request.
 */
export function createStackRegistrationTransport(transactions: TransactionLayer): RegistrationTransport {
  const transport = transactions.transport;

  return {
    async sendRegister(req: OutgoingRegister): Promise<RegisterResponse> {
      const sip = new SipRequest('REGISTER', req.uri);
      sip.add('Max-Forwards', '70');
      for (const [name, value] of req.headers) {
        sip.add(name, value);
      }
      setContentLength(sip);

      return await transactions.request(sip, targetOf(req.target, req.transport));
    },

    async localContact(target: string, t: TransportProtocol): Promise<LocalContact> {
      const c = await transport.localContact(targetOf(target, t));

      return { host: c.host, port: c.port, transport: c.transport };
    },

    async keepAlive(target: string, t: TransportProtocol): Promise<void> {
      const conn = transport.connectionTo(targetOf(target, t));
      if (conn === undefined) {
        throw new SipTransportError(`no open ${t} connection to ${target}`);
      }
      conn.send(CRLFCRLF);
      await Promise.resolve();
    },

    onFlowClosed(target: string, t: TransportProtocol, listener: () => void): () => void {
      const conn = transport.connectionTo(targetOf(target, t));
      if (conn === undefined) {
        // NOTE: already gone: report it asynchronously, as a close would be.
        let active = true;
        queueMicrotask(() => {
          if (active) {
            listener();
          }
        });

        return () => {
          active = false;
        };
      }

      return conn.onClose(listener);
    },
  };
}
