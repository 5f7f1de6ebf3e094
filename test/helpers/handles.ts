/**
 * TCP sockets of this process connected to a port, read from Node's active handles (what keeps
 * the process alive; outside the code under test).
 */
export function socketsTo(port: number): string[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles
    .filter(
      (h): h is { remotePort?: number; localPort?: number } =>
        typeof h === 'object' && h !== null && (h as { remotePort?: unknown }).remotePort === port,
    )
    .map((h) => `127.0.0.1:${String(h.localPort)} -> ${port}`);
}
