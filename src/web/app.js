/* global document, window, location, history */
// The live page: active calls from the /api/live WebSocket feed, past calls from /api/calls.
// Plain DOM, no framework. Untrusted text (names, words) only ever goes through textContent.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  // An API token (http.token) can be given once as #token=... in the address; it is kept for the tab.
  const hashToken = new URLSearchParams(location.hash.slice(1)).get('token');
  if (hashToken) {
    sessionStorage.setItem('sipscribe-token', hashToken);
    history.replaceState(null, '', location.pathname + location.search);
  }
  const token = sessionStorage.getItem('sipscribe-token');
  const withToken = (path) =>
    token ? path + (path.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(token) : path;
  const api = (path) =>
    fetch(path, { headers: token ? { Authorization: 'Bearer ' + token } : {} }).then((r) => {
      if (!r.ok) {
        throw new Error(path + ': HTTP ' + r.status);
      }
      return r.json();
    });

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) {
      e.className = cls;
    }
    if (text !== undefined) {
      e.textContent = text;
    }
    return e;
  };
  const pad = (n) => String(n).padStart(2, '0');
  const clock = (ms) => {
    const t = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(t / 3600);
    const mmss = pad(Math.floor((t % 3600) / 60)) + ':' + pad(t % 60);
    return h ? h + ':' + mmss : mmss;
  };
  const callerName = (from) => {
    const m = /^\s*"([^"]*)"/.exec(from) || /^\s*([^<"]+?)\s*</.exec(from) || /sips?:([^@;>]+)@/.exec(from);
    return m ? m[1] : from;
  };

  // ---- live calls -------------------------------------------------------------------------------
  const live = new Map(); // callId -> { card, lines, pending, timer, answeredAt }

  function liveCard(ev) {
    let c = live.get(ev.callId);
    if (c) {
      return c;
    }
    const card = el('article', 'call');
    card.dataset.callId = ev.callId;
    const head = el('div', 'call-head');
    head.append(el('strong', 'caller', callerName(ev.call.from)));
    head.append(el('span', 'route', ev.call.from + ' → ' + ev.call.to));
    const elapsed = el('span', 'elapsed', '00:00');
    head.append(elapsed);
    const meta = el('div', 'call-meta', [ev.call.transport, ev.call.codec].filter(Boolean).join(' · '));
    const lines = el('div', 'words');
    const pending = el('span', 'pending');
    lines.append(pending);
    card.append(head, meta, lines);
    $('live').prepend(card);
    const answeredAt = Date.parse(ev.at) - ev.offsetMs;
    const timer = window.setInterval(() => {
      elapsed.textContent = clock(Date.now() - answeredAt);
    }, 1000);
    c = { card, lines, pending, timer, answeredAt };
    live.set(ev.callId, c);
    updateLiveCount();
    return c;
  }

  function updateLiveCount() {
    $('live-count').textContent = String(live.size);
    $('live-empty').hidden = live.size > 0;
  }

  function handle(ev) {
    if (ev.type === 'call.ended') {
      const c = live.get(ev.callId);
      if (c) {
        window.clearInterval(c.timer);
        c.card.remove();
        live.delete(ev.callId);
        updateLiveCount();
      }
      loadPast();
      return;
    }
    const c = liveCard(ev);
    if (ev.type === 'transcript.word') {
      const w = el('span', 'word', ev.text);
      w.dataset.startMs = String(ev.startMs);
      c.pending.append(w, document.createTextNode(' '));
    } else if (ev.type === 'transcript.utterance') {
      // The utterance replaces the words it covers.
      for (const w of [...c.pending.querySelectorAll('.word')]) {
        if (Number(w.dataset.startMs) <= ev.endMs) {
          if (w.nextSibling && w.nextSibling.nodeType === 3) {
            w.nextSibling.remove();
          }
          w.remove();
        }
      }
      const line = el('p', 'utterance');
      line.append(el('time', 'offset', clock(ev.startMs)), el('span', 'text', ev.text));
      c.lines.insertBefore(line, c.pending);
    } else if (ev.type === 'dtmf') {
      c.lines.insertBefore(el('span', 'dtmf', 'pressed ' + ev.digit), c.pending);
    }
    c.lines.scrollTop = c.lines.scrollHeight;
  }

  let retry = 1000;
  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(proto + '//' + location.host + withToken('/api/live'));
    ws.onopen = () => {
      retry = 1000;
      $('status').textContent = 'live';
      $('status').className = 'status online';
      // The server replays the active calls' events: start from a clean slate.
      for (const c of live.values()) {
        window.clearInterval(c.timer);
        c.card.remove();
      }
      live.clear();
      updateLiveCount();
    };
    ws.onmessage = (m) => handle(JSON.parse(m.data));
    ws.onclose = () => {
      $('status').textContent = 'reconnecting…';
      $('status').className = 'status offline';
      window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  // ---- past calls -------------------------------------------------------------------------------
  let pastLoading = null;
  function loadPast() {
    if (pastLoading) {
      return pastLoading;
    }
    pastLoading = api('/api/calls?limit=50')
      .then(({ calls }) => {
        const body = $('past').tBodies[0];
        body.replaceChildren();
        const done = calls.filter((c) => ['ended', 'rejected', 'cancelled'].includes(c.state));
        for (const c of done) {
          const tr = el('tr');
          tr.dataset.callId = c.id;
          tr.tabIndex = 0;
          tr.append(
            el('td', '', c.createdAt.slice(0, 19).replace('T', ' ')),
            el('td', '', callerName(c.call.from)),
            el('td', '', c.call.to),
            el('td', '', c.durationMs === null ? '' : clock(c.durationMs)),
            el(
              'td',
              '',
              c.state === 'ended'
                ? c.endReason || ''
                : c.state + (c.rejectStatus ? ' ' + c.rejectStatus : ''),
            ),
          );
          tr.onclick = () => showCall(c);
          tr.onkeydown = (e) => {
            if (e.key === 'Enter') {
              showCall(c);
            }
          };
          body.append(tr);
        }
        $('past-empty').hidden = done.length > 0;
      })
      .catch((err) => {
        $('past-empty').hidden = false;
        $('past-empty').textContent = 'Could not load calls: ' + err.message;
      })
      .finally(() => {
        pastLoading = null;
      });
    return pastLoading;
  }

  function showCall(c) {
    const base = '/api/calls/' + encodeURIComponent(c.id) + '/transcript';
    $('detail').hidden = false;
    $('detail').dataset.callId = c.id;
    $('detail-title').textContent =
      callerName(c.call.from) + ' → ' + c.call.to + ', ' + c.createdAt.slice(0, 19).replace('T', ' ');
    for (const f of ['txt', 'srt', 'vtt', 'json']) {
      $('dl-' + f).href = withToken(base + '?format=' + f);
    }
    const list = $('detail-lines');
    list.replaceChildren(el('li', 'empty', 'loading…'));
    api(base)
      .then((t) => {
        list.replaceChildren();
        for (const u of t.utterances) {
          const li = el('li', 'utterance');
          li.append(el('time', 'offset', clock(u.startMs)), el('span', 'text', u.text));
          list.append(li);
        }
        if (t.utterances.length === 0) {
          list.append(el('li', 'empty', 'No words were transcribed in this call.'));
        }
      })
      .catch((err) => list.replaceChildren(el('li', 'empty', 'Could not load: ' + err.message)));
  }

  updateLiveCount();
  connect();
  loadPast();
})();
