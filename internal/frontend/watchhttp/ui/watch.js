'use strict';
// The watch page: follows /v1/watch as Server-Sent Events read through
// fetch (so HTTP errors can be shown), keeps a table of the watched keys,
// and writes keys with PUT and DELETE on the HTTP API.
(() => {
  const $ = (id) => document.getElementById(id);
  const MAX_EVENTS = 500, MAX_KEYS = 200, LIST_LIMIT = 200, MAX_SHOWN = 300;

  const state = {
    gen: 0,            // bumped by every new watch; stale streams stop
    ctrl: null,        // AbortController of the current stream
    ns: 'default', prefix: '', exact: false,
    lastVersion: 0,    // last version seen (resumes a single-key watch)
    keys: new Map(),   // key -> {value, encoding, version, deleted}
    backoff: 500,
    count: 0,          // events shown since the last clear
    renderTimer: 0,    // batches key-table renders
  };

  // Keys go in one path segment; dots too, so "." and ".." stay keys.
  const seg = (s) => encodeURIComponent(s).replace(/\./g, '%2E');
  const kvURL = (ns, key) => '/v1/ns/' + seg(ns) + '/kv' + (key === undefined ? '' : '/' + seg(key));

  function setStatus(st, text) {
    $('status').dataset.state = st;
    $('status-text').textContent = text;
  }

  function notice(text) {
    $('notice').textContent = text;
    $('notice').hidden = !text;
  }

  async function errorText(res) {
    try {
      const b = await res.json();
      if (b && b.error && b.error.message) return b.error.message;
    } catch (_) { /* not JSON */ }
    return res.status + ' ' + res.statusText;
  }

  // ---- watching ----

  // startWatch follows what the toolbar names, starting a fresh feed.
  function startWatch() {
    state.ns = $('ns').value.trim() || 'default';
    state.prefix = $('prefix').value;
    state.exact = $('exact').checked;
    $('prefix-label').textContent = state.exact ? 'Key' : 'Key prefix';
    $('prefix').placeholder = state.exact ? 'the key to watch' : 'every key';
    clearEvents();
    state.lastVersion = 0;
    state.keys.clear();
    state.backoff = 500;
    if (state.ctrl) state.ctrl.abort();
    notice('');
    renderKeys();
    const q = new URLSearchParams();
    if (state.ns !== 'default') q.set('ns', state.ns);
    if (state.prefix) q.set('prefix', state.prefix);
    if (state.exact) q.set('exact', '1');
    const qs = q.toString();
    history.replaceState(null, '', location.pathname + (qs ? '?' + qs : ''));
    connect(++state.gen, true);
  }

  async function connect(gen, first) {
    if (gen !== state.gen) return;
    if (state.exact && !state.prefix) {
      setStatus('error', 'type the key to watch');
      return;
    }
    const q = new URLSearchParams({ ns: state.ns, values: 'true' });
    if (state.exact) {
      q.set('key', state.prefix);
      if (state.lastVersion) q.set('from', String(state.lastVersion));
    } else {
      q.set('prefix', state.prefix);
    }
    const ctrl = new AbortController();
    state.ctrl = ctrl;
    setStatus('connecting', first ? 'connecting…' : 'reconnecting…');
    let res;
    try {
      res = await fetch('/v1/watch?' + q, { headers: { Accept: 'text/event-stream' }, signal: ctrl.signal, cache: 'no-store' });
    } catch (_) {
      return retry(gen, 'offline, retrying…');
    }
    if (gen !== state.gen) return;
    if (res.status === 410) { // history no longer reaches our version
      state.lastVersion = 0;
      notice('Some changes were missed while disconnected; the key table was reloaded.');
      return connect(gen, true);
    }
    if (!res.ok) {
      const msg = await errorText(res);
      if (res.status >= 500) return retry(gen, msg);
      setStatus('error', msg);
      return;
    }
    setStatus('live', 'live');
    state.backoff = 500;
    if (!first && state.exact) {
      notice(''); // resumed from the last version seen: nothing was missed
    } else if (!first) {
      // A prefix watch cannot resume exactly (versions are per shard):
      // events may be missing from the feed, so the table is reloaded.
      notice('Reconnected: changes made while disconnected may be missing from the feed; the key table was reloaded.');
    }
    if (first || !state.exact) loadKeys(gen);
    try {
      await readEvents(res.body, gen);
    } catch (_) { /* aborted or dropped */ }
    retry(gen, 'disconnected, reconnecting…');
  }

  function retry(gen, text) {
    if (gen !== state.gen) return;
    setStatus('connecting', text);
    const wait = state.backoff;
    state.backoff = Math.min(state.backoff * 2, 5000);
    setTimeout(() => connect(gen, false), wait);
  }

  async function readEvents(body, gen) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done || gen !== state.gen) return;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(l[5] === ' ' ? 6 : 5)).join('\n');
        if (data) onEvent(JSON.parse(data));
      }
    }
  }

  function onEvent(ev) {
    if (ev.op === 'lagged') {
      notice('This page fell behind the feed and is reconnecting…');
    } else {
      if (state.exact) state.lastVersion = Math.max(state.lastVersion, ev.version);
      applyKey(ev.key, ev.op === 'delete', ev.value, ev.encoding, ev.version);
    }
    addEventRow(ev);
  }

  // ---- the key table: a listing, then kept current by events ----

  async function loadKeys(gen) {
    let entries = [], more = false;
    try {
      if (state.exact) {
        const res = await fetch(kvURL(state.ns, state.prefix) + '?format=json', { cache: 'no-store' });
        if (res.ok) entries = [await res.json()];
      } else {
        const q = new URLSearchParams({ prefix: state.prefix, values: 'true', limit: String(LIST_LIMIT) });
        const res = await fetch(kvURL(state.ns) + '?' + q, { cache: 'no-store' });
        if (!res.ok) throw new Error(await errorText(res));
        const body = await res.json();
        entries = body.keys || [];
        more = !!body.next;
      }
    } catch (e) {
      if (gen === state.gen) $('keys-note').textContent = 'Could not list keys: ' + e.message;
      return;
    }
    if (gen !== state.gen) return;
    for (const e of entries) applyKey(e.key, false, e.value, e.encoding, e.version);
    $('keys-note').textContent = more ? 'Showing the first ' + LIST_LIMIT + ' keys; events add more.' : '';
  }

  // applyKey records a key's state unless what is known is newer; the
  // version orders a listing against events that raced it.
  function applyKey(key, deleted, value, encoding, version) {
    const cur = state.keys.get(key);
    if (cur && cur.version >= version) return;
    state.keys.set(key, { deleted, value, encoding, version });
    if (!state.renderTimer) state.renderTimer = setTimeout(renderKeys, 50);
  }

  function renderKeys() {
    clearTimeout(state.renderTimer);
    state.renderTimer = 0;
    if (state.keys.size > 5 * MAX_KEYS) { // forget deletions once the table is large
      for (const [k, v] of state.keys) if (v.deleted) state.keys.delete(k);
    }
    const live = [...state.keys].filter(([, v]) => !v.deleted).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const rows = live.slice(0, MAX_KEYS).map(([key, v]) => {
      const tr = document.createElement('tr');
      tr.dataset.key = key;
      tr.append(cell(key), valueCell(v.value, v.encoding, 'td'), cell(String(v.version), 'num'));
      tr.addEventListener('click', () => {
        $('put-key').value = key;
        $('put-value').value = v.encoding ? '' : (v.value ?? '');
        $('put-value').focus();
      });
      return tr;
    });
    document.querySelector('#keys tbody').replaceChildren(...rows);
    $('key-count').textContent = live.length ? String(live.length) : '';
  }

  function cell(text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    td.title = text;
    if (cls) td.className = cls;
    return td;
  }

  function valueCell(value, encoding, tag) {
    const el = document.createElement(tag);
    el.className = 'value';
    if (value === undefined || value === null) {
      el.classList.add('none');
      el.textContent = tag === 'td' ? '' : '(no value)';
      return el;
    }
    if (encoding) {
      const t = document.createElement('span');
      t.className = 'tag';
      t.textContent = encoding;
      el.append(t);
    }
    const short = value.length > MAX_SHOWN ? value.slice(0, MAX_SHOWN) + '…' : value;
    el.append(value === '' ? '""' : short);
    el.title = value.length > 4 * MAX_SHOWN ? value.slice(0, 4 * MAX_SHOWN) + '…' : value;
    return el;
  }

  // ---- the event feed, newest first ----

  function pad(n, w) { return String(n).padStart(w, '0'); }

  function clock(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return '';
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
  }

  function addEventRow(ev) {
    const li = document.createElement('li');
    li.className = 'event';
    li.dataset.key = ev.key;
    li.dataset.op = ev.op;
    li.dataset.version = String(ev.version || 0);
    const op = document.createElement('span');
    op.className = 'op';
    op.textContent = ev.op;
    const key = document.createElement('span');
    key.className = 'key';
    key.textContent = ev.op === 'lagged' ? 'fell behind' : ev.key;
    const value = ev.op === 'put' ? valueCell(ev.value, ev.encoding, 'span') : document.createElement('span');
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = [ev.version ? 'v' + ev.version : '', ev.node, clock(ev.time), ev.op === 'lagged' ? '' : 'shard ' + ev.shard]
      .filter(Boolean).join(' · ');
    li.append(op, key, value, meta);
    const list = $('events');
    list.prepend(li);
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
    state.count++;
    $('event-count').textContent = String(state.count);
    $('empty').hidden = true;
  }

  function clearEvents() {
    $('events').replaceChildren();
    state.count = 0;
    $('event-count').textContent = '';
    $('empty').hidden = false;
  }

  // ---- writing ----

  async function write(method) {
    const key = $('put-key').value;
    const out = $('put-result');
    if (!key) {
      out.className = 'result error';
      out.textContent = 'Enter a key.';
      $('put-key').focus();
      return;
    }
    const ns = $('ns').value.trim() || 'default';
    const init = { method };
    if (method === 'PUT') init.body = $('put-value').value;
    try {
      const res = await fetch(kvURL(ns, key), init);
      if (!res.ok) throw new Error(await errorText(res));
      const body = await res.json();
      out.className = 'result ok';
      out.textContent = (method === 'PUT' ? 'Put ' : 'Deleted ') + key + ' at version ' + body.version + '.';
    } catch (e) {
      out.className = 'result error';
      out.textContent = (method === 'PUT' ? 'Put' : 'Delete') + ' failed: ' + e.message;
    }
  }

  async function loadNamespaces() {
    try {
      const res = await fetch('/v1/ns', { cache: 'no-store' });
      if (!res.ok) return;
      const body = await res.json();
      $('ns-list').replaceChildren(...(body.namespaces || []).map((n) => {
        const o = document.createElement('option');
        o.value = n.name;
        return o;
      }));
    } catch (_) { /* suggestions only */ }
  }

  // ---- wiring ----

  const params = new URLSearchParams(location.search);
  if (params.get('ns')) $('ns').value = params.get('ns');
  if (params.get('prefix')) $('prefix').value = params.get('prefix');
  $('exact').checked = params.get('exact') === '1';

  let debounce;
  const soon = () => { clearTimeout(debounce); debounce = setTimeout(startWatch, 400); };
  $('ns').addEventListener('input', soon);
  $('prefix').addEventListener('input', soon);
  $('exact').addEventListener('change', startWatch);
  $('watch-form').addEventListener('submit', (e) => { e.preventDefault(); clearTimeout(debounce); startWatch(); });
  $('put-form').addEventListener('submit', (e) => { e.preventDefault(); write('PUT'); });
  $('del-button').addEventListener('click', () => write('DELETE'));
  $('put-value').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); write('PUT'); }
  });
  $('clear-button').addEventListener('click', clearEvents);

  loadNamespaces();
  startWatch();
})();
