// The public surface of this layer: everything src/ may use is exported here by name.
export { systemClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
