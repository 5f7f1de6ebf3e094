// The public surface of the STT client for the rest of src/ (call orchestration, endpoint, CLI).
export { SttPool } from './SttPool.js';
export { SttLinkThreads } from './SttLinkThreads.js';
export type { SttAdmission } from './SttPool.js';
export { SttStream } from './SttStream.js';
export type { SttStreamDelegate } from './streamTypes.js';
export { SttError, STT_ERR } from './errors.js';
export type { FinalTranscript, SttUtterance, SttWord } from './types.js';
export type { SttServerConfig } from './SttConnection.js';
export { framesOf } from './audioSource.js';
export type { AudioSource } from './audioSource.js';
export { MemoryRecording, transcribeRecording } from './DeferredTranscriber.js';
export type { RecordedAudio } from './DeferredTranscriber.js';
export { FRAME_SAMPLES, FRAME_MS, SAMPLE_RATE } from './protocol.js';
