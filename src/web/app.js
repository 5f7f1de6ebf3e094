/* global document, window, location, history */
// The live page: active calls from the /api/live WebSocket feed, past calls from /api/calls.
// Plain DOM, no framework. Untrusted text (names, words) only ever goes through textContent.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  // An API token (http.token) can be given once as #token=... in the address, or in the form the
  // page shows when the API answers 401; either way it is kept for the tab (sessionStorage).
  const TOKEN_KEY = 'sipscribe-token';
  const hashToken = new URLSearchParams(location.hash.slice(1)).get('token');
  if (hashToken) {
    sessionStorage.setItem(TOKEN_KEY, hashToken);
    history.replaceState(null, '', location.pathname + location.search);
  }
  let token = sessionStorage.getItem(TOKEN_KEY);
  // Only the WebSocket upgrade takes the token in its URL (a browser cannot send a header there).
  const withToken = (path) =>
    token ? path + (path.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(token) : path;
  const api = (path) =>
    fetch(path, { headers: token ? { Authorization: 'Bearer ' + token } : {} }).then((r) => {
      if (!r.ok) {
        const err = new Error(path + ': HTTP ' + r.status);
        err.status = r.status;
        throw err;
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
    const elapsed = el('span', 'elapsed', '00:00');
    head.append(elapsed);
    head.append(el('span', 'route', ev.call.from + ' → ' + ev.call.to));
    const meta = el('div', 'call-meta', callDetails(ev.call));
    const lines = el('div', 'words');
    const pending = el('span', 'pending');
    lines.append(pending);
    card.append(head, meta, lines);
    $('live').prepend(card);
    const answeredAt = Date.parse(ev.at) - ev.offsetMs;
    const timer = window.setInterval(() => {
      elapsed.textContent = clock(Date.now() - answeredAt);
    }, 1000);
    c = { card, lines, pending, timer, answeredAt, both: false };
    live.set(ev.callId, c);
    if (ev.call.recording && ev.call.recording.participants.length > 1) {
      labelSides(c);
    }
    updateLiveCount();
    return c;
  }

  /** Where the call came from (SIP transport, or Twilio / FreeSWITCH / AudioSocket) and its codec. */
  function callDetails(call) {
    const via = call.ingress && call.ingress !== 'sip' ? call.ingress : call.transport;
    return [via, call.codec].filter(Boolean).join(' · ');
  }

  function updateLiveCount() {
    $('live-count').textContent = String(live.size);
    $('live-empty').hidden = live.size > 0;
  }

  const channelLabel = (channel) => el('span', 'channel channel-' + channel, channel);

  /**
   * Both sides of the call are transcribed (a word or line of another channel than the caller's, or
   * a recording session of two streams): from now on every line says who spoke, those shown too.
   */
  function labelSides(c) {
    if (c.both) {
      return;
    }
    c.both = true;
    for (const line of c.lines.querySelectorAll('.utterance[data-channel], .pending-line[data-channel]')) {
      const at = line.classList.contains('utterance') ? line.querySelector('.text') : line.firstChild;
      line.insertBefore(channelLabel(line.dataset.channel), at);
    }
  }

  /** The words of `channel` not yet in an utterance: one labelled line per side, by their start. */
  function pendingOf(c, channel, startMs) {
    let group = c.pending.querySelector('.pending-line[data-channel="' + channel + '"]');
    if (!group) {
      group = el('span', 'pending-line');
      group.dataset.channel = channel;
      group.dataset.startMs = String(startMs);
      if (c.both) {
        group.append(channelLabel(channel));
      }
      const after = [...c.pending.children].find((g) => Number(g.dataset.startMs) > startMs);
      c.pending.insertBefore(group, after || null);
    }
    return group;
  }

  /**
   * Puts a finished line where its start falls among the lines shown: the two sides' utterances
   * arrive each in their own time, and read as one conversation in the order they were spoken.
   */
  function placeByTime(c, line, startMs) {
    line.dataset.startMs = String(startMs);
    const after = [...c.lines.children].find(
      (e) => e !== c.pending && e.dataset.startMs !== undefined && Number(e.dataset.startMs) > startMs,
    );
    c.lines.insertBefore(line, after || c.pending);
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
      loadPast().catch(pastFailed);
      return;
    }
    const c = liveCard(ev);
    if (ev.type === 'call.started' && ev.deferred && !c.waiting) {
      // No speech server had a slot (full or down): the audio is kept and transcribed later.
      c.waiting = el(
        'p',
        'waiting',
        'waiting for the speech server: the audio is kept and transcribed later',
      );
      c.lines.insertBefore(c.waiting, c.pending);
    } else if (c.waiting && (ev.type === 'transcript.word' || ev.type === 'transcript.utterance')) {
      c.waiting.remove();
      c.waiting = null;
    }
    if (ev.channel && ev.channel !== 'caller') {
      labelSides(c);
    }
    if (ev.type === 'transcript.word') {
      const w = el('span', 'word', ev.text);
      w.dataset.startMs = String(ev.startMs);
      pendingOf(c, ev.channel, ev.startMs).append(w, document.createTextNode(' '));
    } else if (ev.type === 'transcript.utterance') {
      // The utterance replaces the words of its channel it covers.
      const group = c.pending.querySelector('.pending-line[data-channel="' + ev.channel + '"]');
      for (const w of group ? [...group.querySelectorAll('.word')] : []) {
        if (Number(w.dataset.startMs) <= ev.endMs) {
          if (w.nextSibling && w.nextSibling.nodeType === 3) {
            w.nextSibling.remove();
          }
          w.remove();
        }
      }
      if (group && !group.querySelector('.word')) {
        group.remove();
      }
      const line = el('p', 'utterance');
      line.dataset.channel = ev.channel;
      line.append(el('time', 'offset', clock(ev.startMs)), el('span', 'text', ev.text));
      if (c.both) {
        line.insertBefore(channelLabel(ev.channel), line.lastChild);
      }
      placeByTime(c, line, ev.startMs);
    } else if (ev.type === 'dtmf') {
      placeByTime(c, el('span', 'dtmf', 'pressed ' + ev.digit), ev.offsetMs);
    }
    c.lines.scrollTop = c.lines.scrollHeight;
  }

  let retry = 1000;
  let socket = null;
  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(proto + '//' + location.host + withToken('/api/live'));
    socket = ws;
    ws.onopen = () => {
      retry = 1000;
      setStatus('live', true);
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
      if (socket !== ws) {
        return;
      }
      socket = null;
      setStatus('reconnecting…', false);
      // A browser does not tell why an upgrade failed: ask the API whether the token is the reason.
      api('/api/calls?limit=1').then(
        () => reconnectLater(),
        (err) => (err.status === 401 ? askForToken(true) : reconnectLater()),
      );
    };
  }
  function reconnectLater() {
    window.setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  }
  function setStatus(text, online) {
    $('status').textContent = text;
    $('status').className = 'status ' + (online ? 'online' : 'offline');
  }

  // ---- the token form ---------------------------------------------------------------------------
  function askForToken(refused) {
    setStatus('token needed', false);
    $('content').hidden = true;
    $('login').hidden = false;
    $('login-example').textContent = location.origin + location.pathname + '#token=<token>';
    const error = $('login-error');
    error.hidden = !(refused && token);
    error.textContent = 'That token was refused: check http.token in the configuration.';
    $('login-token').focus();
  }
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    token = $('login-token').value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    $('login-token').value = '';
    start();
  });

  // ---- past calls -------------------------------------------------------------------------------
  const PAGE = 50;
  const FINISHED = ['ended', 'rejected', 'cancelled'];
  const past = new Map(); // callId -> call, every call loaded so far
  let pastNext; // cursor of the next older page: undefined before the first load, null at the end
  let refreshing = null; // the newest page being loaded
  let refreshAgain = false; // a call ended meanwhile: load the newest page once more
  let loadingMore = false;

  /** Loads the newest page (again) and merges it into what is shown; older pages stay. */
  function loadPast() {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = api('/api/calls?limit=' + PAGE)
      .then(({ calls, next }) => {
        if (pastNext === undefined) {
          pastNext = next;
        }
        addPast(calls);
      })
      .finally(() => {
        refreshing = null;
        if (refreshAgain) {
          refreshAgain = false;
          loadPast().catch(pastFailed);
        }
      });
    return refreshing;
  }

  function loadMore() {
    if (!pastNext || loadingMore) {
      return;
    }
    loadingMore = true;
    $('past-more').disabled = true;
    api('/api/calls?limit=' + PAGE + '&before=' + encodeURIComponent(pastNext))
      .then(({ calls, next }) => {
        pastNext = next;
        addPast(calls);
      })
      .catch(pastFailed)
      .finally(() => {
        loadingMore = false;
        $('past-more').disabled = false;
      });
  }
  $('past-more').addEventListener('click', loadMore);

  function pastFailed(err) {
    if (err.status === 401) {
      askForToken(true);
      return;
    }
    $('past-empty').hidden = false;
    $('past-empty').textContent = 'Could not load calls: ' + err.message;
  }

  function addPast(calls) {
    for (const c of calls) {
      past.set(c.id, c);
    }
    const body = $('past').tBodies[0];
    body.replaceChildren();
    // Newest first; calls of the same millisecond keep the API's order (a stable sort).
    const done = [...past.values()].filter((c) => FINISHED.includes(c.state));
    done.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
    for (const c of done) {
      body.append(pastRow(c));
    }
    $('past-empty').hidden = done.length > 0;
    $('past-more').hidden = !pastNext;
  }

  function pastRow(c) {
    const tr = el('tr');
    tr.dataset.callId = c.id;
    tr.tabIndex = 0;
    const started = c.createdAt.slice(0, 19).replace('T', ' ');
    const when = el('td', 'when');
    when.append(el('span', 'date', started.slice(0, 11)), el('span', 'time', started.slice(11)));
    const to = el('td', 'to', c.call.to);
    if (c.call.ingress && c.call.ingress !== 'sip') {
      to.append(' ', el('span', 'via', 'via ' + c.call.ingress));
    }
    tr.append(
      when,
      el('td', 'from', callerName(c.call.from)),
      to,
      el('td', 'duration', c.durationMs === null ? '' : clock(c.durationMs)),
      el(
        'td',
        'outcome',
        c.state === 'ended' ? c.endReason || '' : c.state + (c.rejectStatus ? ' ' + c.rejectStatus : ''),
      ),
    );
    tr.title = c.call.from + ' → ' + c.call.to;
    tr.onclick = () => showCall(c);
    tr.onkeydown = (e) => {
      if (e.key === 'Enter') {
        showCall(c);
      }
    };
    return tr;
  }

  function showCall(c) {
    const base = '/api/calls/' + encodeURIComponent(c.id) + '/transcript';
    $('detail').hidden = false;
    $('detail').dataset.callId = c.id;
    $('detail-title').textContent =
      callerName(c.call.from) + ' → ' + c.call.to + ', ' + c.createdAt.slice(0, 19).replace('T', ' ');
    for (const f of ['txt', 'srt', 'vtt', 'json']) {
      $('dl-' + f).href = base + '?format=' + f;
    }
    const list = $('detail-lines');
    list.replaceChildren(el('li', 'empty', 'loading…'));
    api(base)
      .then((t) => {
        list.replaceChildren();
        // Both sides of a call read as a conversation: by start time, each line labelled.
        const utterances = [...t.utterances].sort((a, b) => a.startMs - b.startMs);
        const both = utterances.some((u) => u.channel !== 'caller');
        for (const u of utterances) {
          const li = el('li', 'utterance');
          li.append(el('time', 'offset', clock(u.startMs)));
          if (both) {
            li.append(el('span', 'channel channel-' + u.channel, u.channel));
          }
          li.append(el('span', 'text', u.text));
          list.append(li);
        }
        if (t.utterances.length === 0) {
          list.append(el('li', 'empty', 'No words were transcribed in this call.'));
        }
      })
      .catch((err) => list.replaceChildren(el('li', 'empty', 'Could not load: ' + err.message)));
  }

  // With a token, a download starts from a short-lived signed link fetched at the click, so the
  // token itself never sits in a link, the history or a log.
  for (const a of document.querySelectorAll('.downloads a')) {
    a.addEventListener('click', (e) => {
      if (!token) {
        return;
      }
      e.preventDefault();
      api('/api/calls/' + encodeURIComponent($('detail').dataset.callId) + '/links').then(
        (links) => {
          const link = el('a');
          link.href = links.transcript[a.dataset.format];
          link.download = '';
          document.body.append(link);
          link.click();
          link.remove();
        },
        (err) => (err.status === 401 ? askForToken(true) : window.alert('Download failed: ' + err.message)),
      );
    });
  }

  /** Loads the past calls, then opens the live feed; asks for the token first when the API wants one. */
  function start() {
    loadPast().then(
      () => {
        $('login').hidden = true;
        $('content').hidden = false;
        if (!socket) {
          connect();
        }
      },
      (err) => {
        if (err.status === 401) {
          askForToken(true);
          return;
        }
        pastFailed(err);
        if (!socket) {
          connect();
        }
      },
    );
  }

  updateLiveCount();
  start();
})();
