/**
 * The connection address our SDP advertises for our RTP (RFC 4566 §5.7 `c=`): never a wildcard,
 * because the peer sends its media there; and the local address that reaches a peer (`routeAddress`,
 * also the host `sipscribe dial` names in From, Contact and Via).
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { Config } from '../config.js';

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/**
 * The address to write in our SDP: `rtp.publicAddress`, else `rtp.host` when it is a concrete
 * address, else the local address the OS routes towards the caller (never a wildcard).
 */
export async function sdpAddress(config: Config, peer: string): Promise<string> {
  if (config.rtp.publicAddress) {
    return config.rtp.publicAddress;
  }
  if (!WILDCARDS.has(config.rtp.host)) {
    return config.rtp.host;
  }
  return await routeAddress(peer);
}

/**
 * The local address the OS sends from towards `peer` (an IP address): the source of a connected
 * UDP socket; loopback when there is no route.
 */
export async function routeAddress(peer: string): Promise<string> {
  const family = isIP(peer) === 6 ? 'udp6' : 'udp4';
  const sock = createSocket(family);
  try {
    // A connected UDP socket sends nothing; it only makes the OS choose the route and source.
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.connect(9, peer, () => resolve());
    });
    return sock.address().address;
  } catch {
    return family === 'udp6' ? '::1' : '127.0.0.1';
  } finally {
    sock.close();
  }
}
