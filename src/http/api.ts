/**
 * The calls API:
 * - `GET /api/calls?limit=50&before=<cursor>`: calls newest first (active ones included), with
 *   `next`, the cursor of the following page (null on the last): calls created in the same
 *   millisecond are neither skipped nor repeated across pages. An ISO time works as a cursor too.
 * - `GET /api/calls/:id`: one call.
 * - `GET /api/calls/:id/transcript?format=json|txt|srt|vtt`: its transcript (default json).
 * - `GET /api/calls/:id/recording`: its audio as WAV (with `storage.recordAudio`, once finished).
 * - `GET /api/calls/:id/links`: short-lived signed links to the transcript in every format and the
 *   recording, which a browser opens without the token (see downloadLinks.ts).
 * Transcripts and recordings are downloads (`Content-Disposition: attachment`): they also take the
 * token as `?access_token=` and open from a signed link.
 * - `DELETE /api/calls/:id`: deletes a finished call, its transcript, JSONL file, recording and
 *   undelivered webhook events (409 while the call is in progress).
 * - `GET /api/refused`: refused call attempts, aggregated per source and reason (RefusedStore).
 */
import { createReadStream, rmSync, statSync } from 'node:fs';
import type { CallRecord } from '../call/CallRecord.js';
import type { CallRegistry } from '../call/CallRegistry.js';
import type { CallRecorder } from '../recording/CallRecorder.js';
import type { Logger } from '../logger.js';
import type { AsyncCallStore } from '../storage/AsyncCallStore.js';
import type { RefusedLog } from '../storage/RefusedStore.js';
import {
  interleave,
  toSrt,
  toTxt,
  toVtt,
  TRANSCRIPT_FORMATS,
  type TranscriptFormat,
} from '../transcripts/formats.js';
import { sendJson, sendText, type HttpServer } from './server.js';

/** A call as the API shows it: its metadata under `call`, as in events. */
function callJson(r: CallRecord): Record<string, unknown> {
  return {
    id: r.id,
    state: r.state,
    call: r.meta,
    createdAt: r.createdAt,
    answeredAt: r.answeredAt,
    endedAt: r.endedAt,
    endReason: r.endReason,
    rejectStatus: r.rejectStatus,
    durationMs: r.durationMs,
  };
}

const MAX_PAGE = 500;

/**
 * A page cursor: `<createdAt>~<n>` (the last call shown and how many calls of that millisecond the
 * pages so far have shown), or a plain ISO time (calls created before it). `undefined`: invalid.
 */
function parseCursor(text: string): { at: string; seen: number } | undefined {
  const m = /^(.+)~(\d{1,6})$/.exec(text);
  const at = m?.[1] ?? text;
  const seen = m?.[2] === undefined ? 0 : Number(m[2]);
  if (Number.isNaN(Date.parse(at))) {
    return undefined;
  }
  return { at: m ? at : new Date(Date.parse(at)).toISOString(), seen };
}

/** Routes a browser opens as plain links (see `RouteOptions.download`). */
const DOWNLOAD = { download: true } as const;

const TEXT_TYPES: Record<Exclude<TranscriptFormat, 'json'>, string> = {
  txt: 'text/plain; charset=utf-8',
  srt: 'application/x-subrip; charset=utf-8',
  vtt: 'text/vtt; charset=utf-8',
};

export function registerApiRoutes(
  http: HttpServer,
  deps: {
    /** The calls active in this process (their latest state). */
    registry: Pick<CallRegistry, 'active'>;
    /** Every call stored (this instance's and, with PostgreSQL, every other instance's). */
    store: AsyncCallStore;
    refused?: RefusedLog;
    recorder?: CallRecorder | null;
    /** The files kept for a call (JSONL, recording), removed with it. */
    filesOf: (callId: string) => readonly string[];
    logger: Logger;
  },
): void {
  const { registry, store, refused, recorder, filesOf, logger } = deps;
  /** An active call as this process knows it, else the stored one. */
  const findCall = async (id: string): Promise<CallRecord | undefined> =>
    registry.active().find((c) => c.id === id) ?? (await store.getCall(id));

  http.route('GET', '/api/refused', async (_req, res) => {
    sendJson(res, 200, { refused: (await refused?.list()) ?? [] });
  });

  http.route('DELETE', '/api/calls/:id', async (_req, res, _url, { id = '' }) => {
    const r = await findCall(id);
    if (!r) {
      sendJson(res, 404, { error: `no call ${id}` });
      return;
    }
    if (!(await store.deleteCall(id))) {
      sendJson(res, 409, { error: `call ${id} is in progress (${r.state}): delete it once it is over` });
      return;
    }
    for (const file of filesOf(id)) {
      rmSync(file, { force: true });
    }
    logger.info({ callId: id }, 'call deleted through the API');
    sendJson(res, 200, { deleted: id });
  });

  http.route(
    'GET',
    '/api/calls/:id/recording',
    async (_req, res, _url, { id = '' }) => {
      const r = await findCall(id);
      let file: string | null = null;
      try {
        file = r && recorder && !recorder.isRecording(id) ? recorder.pathOf(id) : null;
      } catch {
        file = null; // not a usable file name: there is no such recording
      }
      const size = file ? statSync(file, { throwIfNoEntry: false })?.size : undefined;
      if (!file || size === undefined) {
        sendJson(res, 404, { error: `no finished recording for call ${id}` });
        return;
      }
      res.writeHead(200, {
        'content-type': 'audio/wav',
        'content-length': size,
        'content-disposition': `attachment; filename="${id}.wav"`,
      });
      createReadStream(file).pipe(res);
    },
    DOWNLOAD,
  );

  http.route('GET', '/api/calls/:id/links', async (_req, res, _url, { id = '' }) => {
    if (!(await findCall(id))) {
      sendJson(res, 404, { error: `no call ${id}` });
      return;
    }
    const base = `/api/calls/${encodeURIComponent(id)}`;
    const transcript: Record<string, string> = {};
    let expiresMs = 0;
    for (const f of TRANSCRIPT_FORMATS) {
      const link = http.signDownload(`${base}/transcript?format=${f}`);
      transcript[f] = link.url;
      expiresMs = link.expiresMs;
    }
    sendJson(res, 200, {
      expiresAt: new Date(expiresMs).toISOString(),
      transcript,
      recording: recorder ? http.signDownload(`${base}/recording`).url : null,
    });
  });

  http.route('GET', '/api/calls', async (_req, res, url) => {
    const limitText = url.searchParams.get('limit');
    const limit = limitText === null ? 50 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      sendJson(res, 400, { error: `limit must be an integer from 1 to ${MAX_PAGE}` });
      return;
    }
    const beforeText = url.searchParams.get('before');
    const cursor = beforeText === null ? null : parseCursor(beforeText);
    if (cursor === undefined) {
      sendJson(res, 400, { error: 'before must be the next cursor of a page, or an ISO 8601 time' });
      return;
    }
    const recording = url.searchParams.get('recording');
    if (recording !== null && (recording === '' || recording.length > 200)) {
      sendJson(res, 400, { error: 'recording must be 1 to 200 characters' });
      return;
    }
    const filter = recording === null ? {} : { recording };
    let calls: CallRecord[];
    if (cursor === null || cursor.seen === 0) {
      calls = await store.listCalls({ limit, ...filter, ...(cursor === null ? {} : { before: cursor.at }) });
    } else {
      // Calls created in the cursor's millisecond that the earlier pages have not shown come
      // first: list from just after it and leave out the `seen` ones (the same order the store lists them in).
      const after = new Date(Date.parse(cursor.at) + 1).toISOString();
      const rows = await store.listCalls({
        limit: Math.min(MAX_PAGE, limit + cursor.seen),
        before: after,
        ...filter,
      });
      let skip = cursor.seen;
      calls = rows
        .filter((r) => {
          if (skip > 0 && r.createdAt === cursor.at) {
            skip--;
            return false;
          }
          return true;
        })
        .slice(0, limit);
    }
    const last = calls[calls.length - 1];
    let next: string | null = null;
    if (last && calls.length === limit) {
      const sameMs = calls.filter((c) => c.createdAt === last.createdAt).length;
      next = `${last.createdAt}~${sameMs + (cursor && cursor.at === last.createdAt ? cursor.seen : 0)}`;
    }
    sendJson(res, 200, { calls: calls.map(callJson), next });
  });

  http.route('GET', '/api/calls/:id', async (_req, res, _url, { id = '' }) => {
    const r = await findCall(id);
    if (!r) {
      sendJson(res, 404, { error: `no call ${id}` });
      return;
    }
    sendJson(res, 200, callJson(r));
  });

  http.route(
    'GET',
    '/api/calls/:id/transcript',
    async (_req, res, url, { id = '' }) => {
      const format = (url.searchParams.get('format') ?? 'json') as TranscriptFormat;
      if (!TRANSCRIPT_FORMATS.includes(format)) {
        sendJson(res, 400, { error: `format must be one of ${TRANSCRIPT_FORMATS.join(', ')}` });
        return;
      }
      const r = await findCall(id);
      if (!r) {
        sendJson(res, 404, { error: `no call ${id}` });
        return;
      }
      // Both sides of a call in call-time order (a SIP call's one side is already in it).
      const utterances = interleave(await store.utterances(id));
      res.setHeader('content-disposition', `attachment; filename="${id}.${format}"`);
      switch (format) {
        case 'json':
          sendJson(res, 200, {
            callId: id,
            state: r.state,
            call: r.meta,
            utterances,
            text: utterances.map((u) => u.text).join(' '),
          });
          return;
        case 'txt':
          sendText(res, 200, TEXT_TYPES.txt, toTxt(utterances));
          return;
        case 'srt':
          sendText(res, 200, TEXT_TYPES.srt, toSrt(utterances));
          return;
        case 'vtt':
          sendText(res, 200, TEXT_TYPES.vtt, toVtt(utterances));
          return;
      }
    },
    DOWNLOAD,
  );
}
