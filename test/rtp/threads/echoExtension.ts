// A media-thread extension for the tests: answers each message with it, the thread's log level and
// whether the thread's own sessions run beside it (the module is loaded in the media thread).
import { isMainThread, type MessagePort } from 'node:worker_threads';

export function serve(port: MessagePort, logLevel: string): void {
  port.on('message', (msg: unknown) => port.postMessage({ echo: msg, logLevel, isMainThread }));
}
