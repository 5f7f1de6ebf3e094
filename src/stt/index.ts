// The public surface of the STT client for the rest of src/ (call orchestration, endpoint, CLI).
export { SttPool } from './SttPool.js';
export { SttReservation } from './SttReservation.js';
export type { SttAdmission } from './SttPool.js';
export type { SttBackoff, SttPoolOptions, SttPoolStats, SttServerStatus } from './poolTypes.js';
export { SttStream } from './SttStream.js';
export type {
  SttLink,
  SttStreamHost,
  SttReconnectInfo,
  SttStreamDelegate,
  SttStreamOptions,
  SttStreamSettings,
  SttStreamState,
  SttStreamStats,
} from './streamTypes.js';
export type { SttServerConfig } from './SttConnection.js';
export { SttError, STT_ERR } from './errors.js';
export type { SttErrorCode } from './errors.js';
export type { FinalTranscript, SttUtterance, SttWord } from './types.js';
export type { TurnDetectorOptions } from './TurnDetector.js';
export { MemoryRecording, transcribeRecording } from './DeferredTranscriber.js';
export type { DeferredOptions, RecordedAudio } from './DeferredTranscriber.js';
export { FRAME_SAMPLES, FRAME_MS, SAMPLE_RATE } from './protocol.js';
export type { AudioSource } from './audioSource.js';
export { runTranscribe, transcribeFromCli } from './transcribeCommand.js';
