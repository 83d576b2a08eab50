// The operator's screen: renders the state the server pushes by
// server-sent events, and sends the operator's actions. No framework.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  let view = null;
  let pin = '';
  let keypadSubmit = null; // async (pin) => '' when done, else the error to show
  let lastTouch = 0;

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const fmt = (n) => Number(n).toLocaleString('en-US');
  const pad = (n) => String(n).padStart(2, '0');
  // One date format on the screen: ISO, YYYY-MM-DD HH:MM:SS in the line
  // PC's time.
  const fmtTime = (iso) => {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return '';
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  };

  // Roles, lowest first: a higher one may do what a lower one may.
  const rank = { operator: 1, supervisor: 2, qa: 3 };
  const may = (role, need) => (rank[role] || 0) >= rank[need];
  const roleName = { operator: 'operator', supervisor: 'supervisor', qa: 'QA' };
  const rolePIN = { operator: 'your PIN', supervisor: "a supervisor's or QA PIN", qa: 'a QA PIN' };
  const highest = (roles) => roles.reduce((a, r) => (rank[r] > rank[a] ? r : a), 'operator');

  let toastTimer = 0;
  function toast(msg, isError) {
    const t = $('toast');
    t.textContent = msg;
    t.className = 'toast' + (isError ? ' error' : '');
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 6000 : 3000);
  }

  const signedIn = () => !!document.body.dataset.operator;
  const myRole = () => document.body.dataset.role || '';

  function setOperator(name, role) {
    document.body.dataset.operator = name || '';
    document.body.dataset.role = (name && role) || '';
    $('operator').textContent = name || 'not signed in';
    $('role').textContent = name ? roleName[role] || role : '';
    $('role').hidden = !name;
    $('signin').hidden = !!name;
    $('signout').hidden = !name;
  }

  function alarmItem(a) {
    const kind = a.needs_ack ? 'needs-ack' : a.acked ? 'acked' : 'info';
    const li = el('li', 'alarm ' + kind);
    li.dataset.code = a.code;
    li.dataset.device = a.device;
    const cause = el('div', 'cause');
    cause.append(el('span', 'code', a.code), a.message);
    let m = 'since ' + fmtTime(a.since);
    if (a.acked) m += ' · acknowledged, waiting for the cause to clear';
    else if (!a.active) m += ' · cause cleared';
    if (!a.acked && !a.may_ack && a.ack_role !== 'operator') m += ' · acknowledged with ' + rolePIN[a.ack_role];
    if (a.detail) m += ' · ' + a.device + ': ' + a.detail;
    const meta = el('div', 'meta', m);
    meta.title = a.detail;
    li.append(cause, el('div', 'what', a.action), meta);
    return li;
  }

  function renderAlarms(v) {
    $('alarm-strip').hidden = v.alarms.length === 0;
    $('alarms').replaceChildren(...v.alarms.map(alarmItem));
    const pending = v.alarms.filter((a) => !a.acked);
    const beyond = pending.filter((a) => !a.may_ack);
    const ack = $('btn-ack');
    ack.disabled = pending.length === 0;
    let hint = '';
    if (pending.length === 0 && v.alarms.length > 0) hint = 'Waiting for the cause to clear';
    else if (beyond.length > 0 && (signedIn() || highest(beyond.map((a) => a.ack_role)) !== 'operator')) {
      const need = highest(beyond.map((a) => a.ack_role));
      hint = 'Needs ' + rolePIN[need];
    } else if (pending.length > 0 && !signedIn()) hint = 'Sign in to acknowledge';
    $('ack-hint').textContent = hint;
    $('history-count').textContent = v.alarm_history.length;
    if (!$('history').hidden) renderHistory();
  }

  function renderHistory() {
    const rows = ((view && view.alarm_history) || []).map((h) => {
      const tr = el('tr');
      const what = el('td');
      what.append(el('span', 'code', h.code), ' ' + h.message);
      const acked = h.acked ? fmtTime(h.acked) + (h.acked_by ? ' by ' + h.acked_by : '') : (h.stopped_line ? 'not yet' : '–');
      tr.append(el('td', 'when', fmtTime(h.raised)), what, el('td', 'when', h.cleared ? fmtTime(h.cleared) : 'still there'), el('td', 'when', acked));
      return tr;
    });
    $('history-rows').replaceChildren(...rows);
  }

  function render(v) {
    view = v;
    $('line').textContent = v.line;
    const st = $('state');
    st.textContent = v.state;
    st.className = 'pill state-' + v.state;
    setOperator(v.operator, v.role);

    const link = $('link');
    link.className = 'link ' + (v.link.connected ? 'up' : 'down');
    $('link-text').textContent = v.link.connected ? 'Central connected' : 'Central offline';
    $('backlog').textContent = fmt(v.link.backlog);

    const o = v.order;
    $('order').hidden = !o;
    $('order-state').textContent = o ? o.state : '';
    $('allowance-line').hidden = !o || !o.allowance;
    if (o) {
      $('product').textContent = o.product;
      $('order-id').textContent = o.id;
      $('lot').textContent = o.lot;
      $('expiry').textContent = o.expiry;
      $('gtin').textContent = o.gtin;
      $('done').textContent = fmt(o.done);
      $('quantity').textContent = fmt(o.quantity);
      $('progress').textContent = o.progress;
      $('progress-bar').style.width = o.progress + '%';
      $('allowance').textContent = fmt(o.allowance);
    }
    const notice = $('order-notice');
    notice.hidden = !(o && o.notice);
    notice.textContent = o && o.notice ? o.notice : '';
    notice.className = 'notice' + (o && o.state === 'closed' ? ' closed' : '');
    const noOrder = $('no-order');
    const live = o && o.state !== 'closed';
    noOrder.textContent = v.no_orders || (!v.orders.length ? '' : live ? 'Other orders released to this line:' : 'Choose the order to start:');
    noOrder.hidden = !noOrder.textContent;
    $('orders').replaceChildren(...v.orders.map((x) => {
      const b = el('button', 'btn order-start');
      b.type = 'button';
      b.dataset.order = x.id;
      b.disabled = !!v.start_blocked;
      b.append('Start ', el('b', '', x.id), ' · ' + x.product + ' · lot ' + x.lot + ' · exp ' + x.expiry);
      return b;
    }));
    $('start-blocked').hidden = !v.start_blocked;
    $('start-blocked').textContent = v.start_blocked || '';
    $('btn-start').disabled = !live || !o.can_start;
    $('btn-pause').disabled = v.want !== 'running' && v.state !== 'running';
    $('btn-stop').disabled = v.state === 'offline' || (v.want === 'stopped' && v.state !== 'running');
    const close = $('btn-close');
    close.disabled = !live || !o.can_close;
    close.className = 'btn' + (live && o.state === 'complete' ? ' go' : '');
    close.textContent = live && o.state === 'complete' ? 'Close order (complete)…' : 'Close order…';
    $('btn-extend').hidden = !(live && o.extend);

    $('good').textContent = fmt(v.counts.good);
    $('rejected').textContent = fmt(v.counts.rejected);
    $('reasons').replaceChildren(...v.counts.by_reason.map((r) => {
      const li = el('li');
      li.append(el('span', '', r.reason), el('b', '', fmt(r.count)));
      return li;
    }));
    $('rate').textContent = fmt(v.counts.units_per_min);

    const p = v.pool;
    $('pool').className = 'pool level-' + (p ? p.level : 'none');
    $('pool-available').textContent = p ? fmt(p.available) : '–';
    let left = 'no order';
    if (p) {
      if (p.level === 'empty') left = 'EMPTY: no serials left';
      else if (p.minutes_left !== undefined) left = p.minutes_left + ' min to empty';
      else left = 'line idle';
      if (p.pending) left += ' · refill requested';
      if (p.refused) left += ' · central refused: ' + p.refused;
    }
    $('pool-left').textContent = left;

    renderPacking(v.packing);

    $('devices').replaceChildren(...v.devices.map((d) => {
      const li = el('li', 'dev dev-' + d.state);
      li.dataset.device = d.name;
      li.append(el('span', 'dev-name', d.name), el('span', 'dev-state', d.state));
      if (d.detail) li.append(el('span', 'dev-detail', d.detail));
      return li;
    }));
    renderAlarms(v);
  }

  // The packing view (edge/packing), when the line packs.
  let tab = 'line';
  function showTab(name) {
    tab = name;
    const pack = name === 'pack' && !!(view && view.packing);
    $('line-view').hidden = pack;
    $('pack-view').hidden = !pack;
    $('tab-line').setAttribute('aria-pressed', String(!pack));
    $('tab-pack').setAttribute('aria-pressed', String(pack));
    if (pack && document.activeElement !== $('pack-input') && $('rework').hidden) $('pack-input').focus();
  }

  function renderPacking(k) {
    document.body.dataset.packing = k ? 'on' : '';
    $('tabs').hidden = !k;
    if (!k) { if (tab === 'pack') showTab('line'); return; }
    const c = k.case;
    $('tab-pack').textContent = 'Packing ' + (c ? c.count : 0) + '/' + k.case_size;
    $('pack-order').textContent = k.order || 'none';
    $('pack-case').textContent = c ? c.sscc : '–';
    $('pack-count').textContent = c ? fmt(c.count) : '0';
    $('pack-size').textContent = k.case_size;
    $('pack-bar').style.width = (c ? Math.min(100, 100 * c.count / k.case_size) : 0) + '%';
    const pl = k.pallet;
    $('pack-pallet').textContent = k.pallet_size > 0
      ? 'Pallet: ' + (pl ? pl.cases.length : 0) + ' / ' + k.pallet_size + ' cases' + (pl ? ', ' + fmt(pl.units) + ' units' : '')
      : 'No pallets';
    $('pack-sscc-stock').textContent = (k.sscc || []).map((s) => 'SSCCs ' + s.prefix + ': ' + fmt(s.available) + ' left' +
      (s.requested ? ' (more requested)' : '') + (s.error ? ' · central refused: ' + s.error : '')).join(' · ');
    $('pack-error').textContent = k.error || '';
    $('pack-refused').textContent = fmt(k.refused);
    $('pack-refusals').replaceChildren(...(k.refusals || []).map((r) => {
      const li = el('li');
      li.append(el('b', 'reason', r.reason), ' ', el('span', 'detail', r.detail),
        el('span', 'since', fmtTime(r.at)));
      return li;
    }));
    $('pack-closed').replaceChildren(...(k.last_closed || []).map((x) => {
      const li = el('li');
      li.dataset.sscc = x.sscc;
      li.append(el('b', '', x.level + ' '), x.sscc + ' · ' + x.children + (x.level === 'pallet' ? ' cases' : ' units'));
      return li;
    }));
    $('btn-close-case').disabled = !c || c.count === 0;
    $('btn-close-pallet').disabled = !pl || pl.cases.length === 0;
    $('btn-close-pallet').hidden = k.pallet_size === 0;
    if (tab === 'pack') showTab('pack');
  }

  // packLast says what the last packing action did, in the panel.
  function packLast(msg, bad) {
    const p = $('pack-last');
    p.textContent = msg;
    p.className = 'pack-last ' + (bad ? 'bad' : 'ok');
  }

  function closedText(c) {
    let t = (c.level === 'pallet' ? 'Pallet ' : 'Case ') + c.sscc + ' closed: ' + c.children + (c.level === 'pallet' ? ' cases' : ' units');
    if (c.pallet) t += '; pallet ' + c.pallet.sscc + ' closed: ' + c.pallet.children + ' cases';
    return t;
  }

  async function packScan() {
    const data = $('pack-input').value.trim();
    if (!data) { packLast('Scan or type the code on the pack first', true); return; }
    const r = await act('/ui/pack/scan', { data }, (b) => {
      packLast((b.reason ? 'REFUSED ' + b.reason + ': ' : '') + (b.error || 'refused'), true);
    });
    $('pack-input').value = '';
    if (r && r.outcome) {
      const o = r.outcome;
      packLast(r.closed ? 'Packed ' + o.unit + '. ' + closedText(r.closed) : 'Packed ' + o.unit + ' into case ' + o.case + ' (' + o.count + ')', false);
    }
    if (tab === 'pack') $('pack-input').focus();
  }

  let reworkMode = '';
  const reworkText = {
    remove: ['Remove a unit from a closed case', 'The unit leaves the case; its label is reprinted with the new count.', '/ui/pack/remove'],
    replace: ['Replace a unit in a closed case', 'The replacement is checked like a scan; the count stays.', '/ui/pack/replace'],
    unpack: ['Empty a case or pallet', 'Everything inside is taken out of it. This cannot be undone.', '/ui/pack/unpack'],
  };
  function openRework(mode) {
    reworkMode = mode;
    const [title, help] = reworkText[mode];
    $('rework-title').textContent = title;
    $('rework-help').textContent = help;
    $('rework-unit-row').hidden = mode === 'unpack';
    $('rework-with-row').hidden = mode !== 'replace';
    const last = view && view.packing && (view.packing.last_closed || []).find((c) => mode === 'unpack' || c.level === 'case');
    $('rework-sscc').value = last ? last.sscc : '';
    $('rework-unit').value = '';
    $('rework-with').value = '';
    $('rework-error').textContent = '';
    $('rework-ok').className = 'btn big ' + (mode === 'unpack' ? 'stop' : 'go');
    $('rework').hidden = false;
    (mode === 'unpack' ? $('rework-sscc') : $('rework-unit')).focus();
  }

  async function submitRework() {
    const [, , path] = reworkText[reworkMode];
    const body = { sscc: $('rework-sscc').value };
    if (reworkMode !== 'unpack') body.unit = $('rework-unit').value;
    if (reworkMode === 'replace') body.with = $('rework-with').value;
    if (reworkMode === 'unpack') body.confirm = true;
    const mode = reworkMode;
    const r = await act(path, body, (b) => {
      $('rework-error').textContent = (b.reason ? b.reason + ': ' : '') + (b.error || 'refused');
    });
    if (!r) return;
    $('rework').hidden = true;
    const done = {
      remove: 'Removed from ' + body.sscc.trim() + '; label reprinted',
      replace: 'Replaced in ' + body.sscc.trim(),
      unpack: 'Emptied ' + body.sscc.trim() + ': ' + r.removed + ' taken out',
    }[mode];
    packLast(done, false);
  }

  async function post(path, body) {
    const r = await fetch(path, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
    });
    let j = {};
    try { j = await r.json(); } catch (e) { /* no body */ }
    return { ok: r.ok, status: r.status, body: j };
  }

  const errText = (b, status) => (b.reason ? b.reason + ': ' : '') + (b.error || ('Refused (' + status + ')'));

  // act sends an action. Without a session it asks for the PIN and sends
  // it again; when the action needs a higher role it asks for a PIN of that
  // role and sends it with the action. Other refusals go to onError (with
  // the JSON body: error, field, reason), else to a toast.
  async function act(path, body, onError) {
    let r;
    try {
      r = await post(path, body);
    } catch (e) {
      toast('No connection to the edge agent', true);
      return null;
    }
    if (r.status === 403 && r.body.sign_in) {
      setOperator('');
      stream();
      signInThen(() => act(path, body, onError));
      return null;
    }
    if (r.status === 403 && r.body.role) {
      actWithPIN(path, body || {}, r.body.role, r.body.error);
      return null;
    }
    if (!r.ok) {
      if (onError) onError(r.body); else toast(errText(r.body, r.status), true);
      return null;
    }
    lastTouch = Date.now();
    if (r.body && r.body.line !== undefined) render(r.body);
    return r.body;
  }

  // actWithPIN asks for a PIN of role (or higher) and sends it with the
  // action: a supervisor or QA acts at the operator's screen without
  // signing the operator out. The keypad stays open on a refusal.
  function actWithPIN(path, body, role, why) {
    const title = role === 'qa' ? 'QA PIN needed' : role === 'supervisor' ? 'Supervisor PIN needed' : 'Enter your PIN';
    openKeypad(title, why, async (p) => {
      let r;
      try { r = await post(path, Object.assign({}, body, { pin: p })); } catch (e) { return 'No connection'; }
      if (!r.ok) return errText(r.body, r.status).replace(/^pin: /, '');
      if (r.body && r.body.line !== undefined) render(r.body);
      toast('Done');
      return '';
    });
  }

  function showPIN() { $('pin-dots').textContent = '●'.repeat(pin.length); }

  function openKeypad(title, why, submit) {
    keypadSubmit = submit;
    pin = '';
    showPIN();
    $('keypad-title').textContent = title;
    $('keypad-why').textContent = why || '';
    $('keypad-why').hidden = !why;
    $('pin-error').textContent = '';
    $('keypad').hidden = false;
  }

  function signInThen(then) {
    openKeypad('Sign in: enter your PIN', '', async (p) => {
      let r;
      try { r = await post('/ui/signin', { pin: p }); } catch (e) { return 'No connection'; }
      if (!r.ok) return errText(r.body, r.status).replace(/^pin: /, '');
      setOperator(r.body.operator, r.body.role);
      stream();
      lastTouch = Date.now();
      toast('Signed in: ' + r.body.operator);
      if (then) setTimeout(then, 0);
      return '';
    });
  }

  async function submitPIN() {
    if (pin.length < 4) { $('pin-error').textContent = 'PIN has at least 4 digits'; return; }
    const p = pin;
    pin = '';
    showPIN();
    const err = keypadSubmit ? await keypadSubmit(p) : '';
    if (err) { $('pin-error').textContent = err; return; }
    $('keypad').hidden = true;
    keypadSubmit = null;
  }

  function needOperator(fn) {
    if (signedIn()) fn(); else signInThen(fn);
  }

  // acknowledge: alarms the signed-in person may acknowledge go at once;
  // those needing a higher role take that role's PIN.
  function acknowledge() {
    if (!view) return;
    const pending = view.alarms.filter((a) => !a.acked);
    if (!pending.length) return;
    const beyond = pending.filter((a) => !a.may_ack);
    if (!beyond.length) { act('/ui/ack', {}); return; }
    const need = highest(beyond.map((a) => a.ack_role));
    if (!signedIn() && need === 'operator') { signInThen(acknowledge); return; }
    const codes = beyond.filter((a) => a.ack_role === need).map((a) => a.code).join(', ');
    actWithPIN('/ui/ack', {}, need, codes + ' is acknowledged with ' + rolePIN[need] + '.');
  }

  function openExtend() {
    const o = view && view.order;
    if (!o) return;
    $('extend-order').textContent = o.id;
    $('extend-now').textContent = 'Rejects so far ' + fmt(o.rejected) + ' of ' + fmt(o.allowance) + ' allowed.';
    $('extend-error').textContent = '';
    $('extend').hidden = false;
  }

  function submitExtend() {
    const units = Number($('extend-units').value);
    const reason = $('extend-reason').value.trim();
    if (!Number.isInteger(units) || units < 1 || units > 1000000) { $('extend-error').textContent = 'Extra rejects: 1 to 1,000,000'; return; }
    if (!reason) { $('extend-error').textContent = 'Say why the line needs more rejects'; return; }
    const body = { units, reason };
    $('extend').hidden = true;
    if (signedIn() && may(myRole(), 'supervisor')) {
      act('/ui/extend', body, (b) => { $('extend').hidden = false; $('extend-error').textContent = b.error || 'Refused'; });
    } else {
      actWithPIN('/ui/extend', body, 'supervisor', 'Extend the allowance by ' + fmt(units) + ': ' + reason);
    }
  }

  // stop never asks for a PIN.
  async function stopLine(onDone) {
    const r = await act('/ui/stop', {}, (b) => toast(errText(b, 409), true));
    if (onDone) onDone(!!r);
  }

  function wire() {
    document.querySelectorAll('.key').forEach((k) => k.addEventListener('click', () => {
      const key = k.dataset.key;
      $('pin-error').textContent = '';
      if (key === 'back') pin = pin.slice(0, -1);
      else if (key === 'ok') { submitPIN(); return; } else if (pin.length < 8) pin += key;
      showPIN();
    }));
    $('keypad-cancel').addEventListener('click', () => { $('keypad').hidden = true; keypadSubmit = null; pin = ''; });
    $('signin').addEventListener('click', () => signInThen(null));
    $('signout').addEventListener('click', async () => {
      await post('/ui/signout');
      setOperator('');
      stream();
    });
    $('orders').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-order]');
      if (b && !b.disabled) needOperator(() => act('/ui/start', { order: b.dataset.order }));
    });
    $('btn-start').addEventListener('click', () => {
      if (view && view.order) needOperator(() => act('/ui/start', { order: view.order.id }));
    });
    $('btn-pause').addEventListener('click', () => act('/ui/pause', {}));
    $('btn-stop').addEventListener('click', () => stopLine());
    $('btn-ack').addEventListener('click', acknowledge);
    $('btn-close').addEventListener('click', () => needOperator(() => {
      $('confirm-order').textContent = view && view.order ? view.order.id : '';
      $('confirm').hidden = false;
    }));
    $('confirm-no').addEventListener('click', () => { $('confirm').hidden = true; });
    $('confirm-yes').addEventListener('click', async () => {
      $('confirm').hidden = true;
      const r = await act('/ui/close', { confirm: true });
      if (r && r.granted !== undefined) showRecon(r);
    });
    $('recon-ok').addEventListener('click', () => { $('recon').hidden = true; });
    $('btn-extend').addEventListener('click', openExtend);
    $('extend-cancel').addEventListener('click', () => { $('extend').hidden = true; });
    $('extend-form').addEventListener('submit', (e) => { e.preventDefault(); submitExtend(); });
    $('btn-history').addEventListener('click', () => { renderHistory(); $('history').hidden = false; });
    $('history-ok').addEventListener('click', () => { $('history').hidden = true; });
    $('lost-stop').addEventListener('click', async () => {
      $('lost-result').textContent = 'Sending stop…';
      try {
        const r = await post('/ui/stop', {});
        $('lost-result').textContent = r.ok ? 'The line took the stop.' : 'The line refused: ' + errText(r.body, r.status);
      } catch (e) {
        $('lost-result').textContent = 'No answer: use the machine\'s stop button.';
      }
    });

    $('tab-line').addEventListener('click', () => showTab('line'));
    $('tab-pack').addEventListener('click', () => showTab('pack'));
    $('pack-entry').addEventListener('submit', (e) => { e.preventDefault(); needOperator(packScan); });
    $('btn-close-case').addEventListener('click', () => needOperator(async () => {
      const r = await act('/ui/pack/close-case', {}, (b) => packLast(b.error || 'refused', true));
      if (r && r.closed) packLast(closedText(r.closed), false);
    }));
    $('btn-close-pallet').addEventListener('click', () => needOperator(async () => {
      const r = await act('/ui/pack/close-pallet', {}, (b) => packLast(b.error || 'refused', true));
      if (r && r.closed) packLast(closedText(r.closed), false);
    }));
    $('btn-remove').addEventListener('click', () => needOperator(() => openRework('remove')));
    $('btn-replace').addEventListener('click', () => needOperator(() => openRework('replace')));
    $('btn-unpack').addEventListener('click', () => needOperator(() => openRework('unpack')));
    $('rework-cancel').addEventListener('click', () => { $('rework').hidden = true; });
    $('rework-form').addEventListener('submit', (e) => { e.preventDefault(); needOperator(submitRework); });

    // Keep the session alive while the operator uses the screen.
    document.addEventListener('pointerdown', () => {
      if (!signedIn() || Date.now() - lastTouch < 30000) return;
      lastTouch = Date.now();
      post('/ui/touch').then((r) => { if (r.status === 403) { setOperator(''); stream(); } }).catch(() => {});
    }, { passive: true });
  }

  function showRecon(r) {
    $('recon-order').textContent = r.order;
    $('recon-granted').textContent = fmt(r.granted);
    $('recon-commissioned').textContent = fmt(r.commissioned);
    const d = r.decommissioned.map((x) => x.reason + ' ' + fmt(x.count)).join(', ');
    $('recon-decommissioned').textContent = d || '0';
    $('recon-voided').textContent = fmt(r.voided);
    $('recon-returned').textContent = fmt(r.returned_unused);
    const b = $('recon-balance');
    b.className = 'balance ' + (r.balanced ? 'ok' : 'bad');
    b.textContent = r.balanced ? 'Balanced: every serial accounted for'
      : 'NOT balanced: difference ' + r.difference + ' (call QA)';
    $('recon').hidden = false;
  }

  // The event stream. While it is down a full-screen overlay hides every
  // number (they would be stale); it goes with the first state after the
  // stream is back. EventSource retries by itself after a network error,
  // but gives up on an HTTP error (an agent that is starting answers 503),
  // so the page retries then; a stream silent for twice the heartbeat is
  // taken as dead too.
  let es = null;
  let retry = 0;
  let lastMsg = Date.now();
  let lostSince = 0;
  const heartbeat = Number(document.body.dataset.heartbeat) || 15000;

  function setLost(on) {
    if (on && !lostSince) {
      lostSince = Date.now();
      $('lost-since').textContent = 'Since ' + fmtTime(new Date(lostSince).toISOString());
      $('lost-result').textContent = '';
    }
    if (!on) lostSince = 0;
    $('lost').hidden = !on;
    document.body.dataset.stale = on ? 'yes' : '';
  }

  // The stream carries the operator of the session it was opened with, so
  // it is reopened at every sign-in and sign-out.
  function stream() {
    clearTimeout(retry);
    if (es) es.close();
    es = new EventSource('/ui/events');
    lastMsg = Date.now();
    es.addEventListener('state', (e) => {
      lastMsg = Date.now();
      render(JSON.parse(e.data));
      setLost(false);
    });
    es.addEventListener('heartbeat', (e) => {
      lastMsg = Date.now();
      const h = JSON.parse(e.data);
      if ((h.operator || '') !== (document.body.dataset.operator || '')) setOperator(h.operator, h.role);
    });
    es.addEventListener('error', () => {
      setLost(true);
      if (es.readyState === EventSource.CLOSED) {
        clearTimeout(retry);
        retry = setTimeout(stream, 2000);
      }
    });
  }
  setInterval(() => {
    if (!lostSince && Date.now() - lastMsg > 2 * heartbeat + 5000) {
      setLost(true);
      stream();
    }
  }, 1000);

  if (document.body.dataset.packing) $('tabs').hidden = false;
  const bar = $('progress-bar');
  bar.style.width = (bar.dataset.progress || 0) + '%';
  wire();
  stream();
})();
