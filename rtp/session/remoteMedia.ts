import { codecByName, type AudioCodec } from '../codec/table.js';
import { RtpConfigError } from '../errors.js';
import { srtpSuite } from '../srtp/suites.js';
import type { RemoteMedia } from './types.js';

/**
 * What a session cannot apply, found before it is applied (by the session, and by a session on a
 * media thread before the description crosses to it): the codec, the ptime, an SRTP suite we do
 * not implement or a key and salt of the wrong length.
 * @returns the codec
 * @throws {RtpConfigError}
 */
export function checkRemoteMedia(remote: RemoteMedia): AudioCodec {
  const codec = codecByName(remote.codec);
  if (!codec) {
    throw new RtpConfigError(`unsupported codec ${String(remote.codec)}`);
  }
  if (!(remote.ptime > 0 && remote.ptime <= 120)) {
    throw new RtpConfigError(`unsupported ptime ${remote.ptime}`);
  }
  const keys = remote.srtp;
  if (keys) {
    const suite = srtpSuite(keys.suite);
    if (!suite) {
      throw new RtpConfigError(`unsupported SRTP suite ${keys.suite}`);
    }
    const bytes = suite.keyLength + suite.saltLength;
    if (keys.remoteKey.length !== bytes || keys.localKey.length !== bytes) {
      throw new RtpConfigError(`SRTP keys refused: ${suite.name} needs ${bytes} bytes of key and salt`);
    }
  }
  return codec;
}
