import type { AuthorizationHeader, AuthorizedRequest, DigestClient } from './DigestClient.js';

/** The part of a final response that digest retries look at (`SipResponse` fits). */
export interface ChallengeResponse {
  readonly status: number;
  getAll(name: string): readonly string[];
}

/**
 * Sends a request and answers digest challenges (RFC 3261 §22.2/§22.3) until a final response
 * other than a 401/407 we can answer: `send(headers)` must build and send a **new** request each
 * time (same Call-ID and From tag, CSeq + 1, plus `headers`) and resolve with its final response.
 * The first attempt carries the credentials cached by `client` for this request (nc + 1), if any.
 *
 * Resolves with the last final response: a success, a non-auth failure, or the 401/407 that the
 * client could not or would not answer (wrong password, unsupported algorithm, too many rounds).
 * Rejections of `send` (timeout, transport error) propagate.
 *
 * Usable for any method: REGISTER, BYE and other in-dialog requests, and the INVITE of a UAC (each
 * round being a new INVITE client transaction; the transaction layer ACKs the 401/407).
 */
export async function withDigest<R extends ChallengeResponse>(
  client: DigestClient,
  request: AuthorizedRequest,
  send: (headers: readonly AuthorizationHeader[]) => Promise<R>,
  options: { maxRounds?: number } = {},
): Promise<R> {
  const maxRounds = options.maxRounds ?? 4;
  let headers: readonly AuthorizationHeader[] = client.authorize(request);
  for (let round = 1; ; round++) {
    const res = await send(headers);
    if (res.status !== 401 && res.status !== 407) {
      if (res.status >= 200) {
        client.accepted();
      }

      return res;
    }
    if (round >= maxRounds) {
      return res;
    }
    const outcome = client.respond(
      res.status,
      res.getAll(res.status === 401 ? 'WWW-Authenticate' : 'Proxy-Authenticate'),
      request,
    );
    if (outcome.kind !== 'retry') {
      return res;
    }
    headers = outcome.headers;
  }
}
