import { headerKey } from '../message/headers.js';
import type { SipRequest } from '../message/SipMessage.js';
import { parseVia } from '../message/via.js';
import type { Flow } from './types.js';

/**
 * RFC 3261 §18.2.1 and RFC 3581 §4: add `received` when the sent-by host differs from the source
 * address, and fill an empty `rport` with the source port (then `received` is always added).
 */
export function stampVia(req: SipRequest, flow: Flow): void {
  const idx = req.headers.findIndex((h) => headerKey(h.name) === 'via');
  const field = req.headers[idx];
  if (!field) {
    return;
  }
  const comma = field.value.indexOf(',');
  const first = comma < 0 ? field.value : field.value.slice(0, comma);
  const via = parseVia(first);
  if (!via) {
    return;
  }
  let added = '';
  const wantsRport = via.params.has('rport') && via.params.get('rport') === null;
  if (via.host !== flow.remote.address || wantsRport) {
    if (!via.params.has('received')) {
      added += `;received=${flow.remote.address}`;
    }
  }
  let value = first.trimEnd();
  if (wantsRport) {
    value = value.replace(/;rport(?=;|$)/i, `;rport=${flow.remote.port}`);
  }
  if (added === '' && value === first.trimEnd()) {
    return;
  }
  const rest = field.value.slice(first.length);
  req.headers[idx] = { name: field.name, value: value + added + rest };
}
