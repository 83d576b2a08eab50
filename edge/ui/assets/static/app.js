// The operator's screen: renders the state the server pushes by
// server-sent events, and sends the operator's actions. No framework.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  let view = null;
  let afterSignIn = null; // the action the sign-in was asked for
  let pin = '';
  let lastTouch = 0;

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const fmt = (n) => Number(n).toLocaleString('en-US');

  let toastTimer = 0;
  function toast(msg, isError) {
    const t = $('toast');
    t.textContent = msg;
    t.className = 'toast' + (isError ? ' error' : '');
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 6000 : 3000);
  }

  function setOperator(name) {
    document.body.dataset.operator = name || '';
    $('operator').textContent = name || 'not signed in';
    $('signin').hidden = !!name;
    $('signout').hidden = !name;
  }

  function render(v) {
    view = v;
    $('line').textContent = v.line;
    const st = $('state');
    st.textContent = v.state;
    st.className = 'pill state-' + v.state;
    setOperator(v.operator);

    const link = $('link');
    link.className = 'link ' + (v.link.connected ? 'up' : 'down');
    $('link-text').textContent = v.link.connected ? 'Central connected' : 'Central offline';
    $('backlog').textContent = fmt(v.link.backlog);

    const o = v.order;
    $('order').hidden = !o;
    $('no-order').hidden = !!o || v.orders.length === 0;
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
    }
    const orders = $('orders');
    orders.replaceChildren(...v.orders.map((x) => {
      const b = el('button', 'btn order-start');
      b.type = 'button';
      b.dataset.order = x.id;
      b.append('Start ', el('b', '', x.id), ' · ' + x.product + ' · lot ' + x.lot);
      return b;
    }));
    const running = v.state === 'running';
    $('btn-start').disabled = !o || running;
    $('btn-pause').disabled = !running;
    $('btn-stop').disabled = !o || v.state === 'stopped' || v.state === 'offline';
    $('btn-close').disabled = !o || running;

    $('good').textContent = fmt(v.counts.good);
    $('rejected').textContent = fmt(v.counts.rejected);
    $('reasons').replaceChildren(...v.counts.by_reason.map((r) => {
      const li = el('li');
      li.append(el('span', '', r.reason), el('b', '', fmt(r.count)));
      return li;
    }));
    $('rate').textContent = v.counts.units_per_min;

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
    $('alarms').replaceChildren(...v.alarms.map((a) => {
      const li = el('li', 'alarm' + (a.needs_ack ? ' needs-ack' : ''));
      li.dataset.device = a.device;
      li.append(el('b', '', a.device + ': '), a.fault,
        el('span', 'since', 'since ' + new Date(a.since).toLocaleTimeString() + (a.active ? '' : ' · cleared') +
          (a.needs_ack ? ' · needs acknowledgement' : '')));
      return li;
    }));
    $('no-alarms').hidden = v.alarms.length > 0;
    $('btn-ack').disabled = !v.alarms.some((a) => a.needs_ack);
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
        el('span', 'since', new Date(r.at).toLocaleTimeString()));
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

  // act sends an operator action; when the session is gone it asks for
  // the PIN and then sends the action again. A refusal goes to onError
  // (with the JSON body: error, field, reason), which shows it in place,
  // else to a toast.
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
      openKeypad(() => act(path, body, onError));
      return null;
    }
    if (!r.ok) {
      const msg = (r.body.reason ? r.body.reason + ': ' : '') + (r.body.error || ('Refused (' + r.status + ')'));
      if (onError) onError(r.body); else toast(msg, true);
      return null;
    }
    lastTouch = Date.now();
    if (r.body && r.body.line !== undefined) render(r.body);
    return r.body;
  }

  function showPIN() { $('pin-dots').textContent = '●'.repeat(pin.length); }

  function openKeypad(then) {
    afterSignIn = then || null;
    pin = '';
    showPIN();
    $('pin-error').textContent = '';
    $('keypad').hidden = false;
  }

  async function submitPIN() {
    if (pin.length < 4) { $('pin-error').textContent = 'PIN has at least 4 digits'; return; }
    let r;
    try { r = await post('/ui/signin', { pin }); } catch (e) { $('pin-error').textContent = 'No connection'; return; }
    pin = '';
    showPIN();
    if (!r.ok) { $('pin-error').textContent = (r.body.error || 'Refused').replace(/^pin: /, ''); return; }
    $('keypad').hidden = true;
    setOperator(r.body.operator);
    stream();
    lastTouch = Date.now();
    toast('Signed in: ' + r.body.operator);
    const next = afterSignIn;
    afterSignIn = null;
    if (next) next();
  }

  function needOperator(fn) {
    if (document.body.dataset.operator) fn(); else openKeypad(fn);
  }

  function wire() {
    document.querySelectorAll('.key').forEach((k) => k.addEventListener('click', () => {
      const key = k.dataset.key;
      $('pin-error').textContent = '';
      if (key === 'back') pin = pin.slice(0, -1);
      else if (key === 'ok') { submitPIN(); return; } else if (pin.length < 8) pin += key;
      showPIN();
    }));
    $('keypad-cancel').addEventListener('click', () => { $('keypad').hidden = true; afterSignIn = null; pin = ''; });
    $('signin').addEventListener('click', () => openKeypad(null));
    $('signout').addEventListener('click', async () => {
      await post('/ui/signout');
      setOperator('');
      stream();
    });
    $('orders').addEventListener('click', (e) => {
      const b = e.target.closest('button[data-order]');
      if (b) needOperator(() => act('/ui/start', { order: b.dataset.order }));
    });
    $('btn-start').addEventListener('click', () => {
      if (view && view.order) needOperator(() => act('/ui/start', { order: view.order.id }));
    });
    $('btn-pause').addEventListener('click', () => needOperator(() => act('/ui/pause')));
    $('btn-stop').addEventListener('click', () => needOperator(() => act('/ui/stop')));
    $('btn-ack').addEventListener('click', () => needOperator(() => act('/ui/ack')));
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
      if (!document.body.dataset.operator || Date.now() - lastTouch < 30000) return;
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

  // The stream carries the operator of the session it was opened with, so
  // it is reopened at every sign-in and sign-out.
  let es = null;
  function stream() {
    if (es) es.close();
    es = new EventSource('/ui/events');
    es.addEventListener('state', (e) => { $('stream').hidden = true; render(JSON.parse(e.data)); });
    es.addEventListener('heartbeat', (e) => {
      $('stream').hidden = true;
      const h = JSON.parse(e.data);
      if ((h.operator || '') !== (document.body.dataset.operator || '')) setOperator(h.operator);
    });
    // EventSource reconnects by itself; show that it is trying.
    es.addEventListener('error', () => { $('stream').hidden = false; });
  }

  if (document.body.dataset.packing) $('tabs').hidden = false;
  const bar = $('progress-bar');
  bar.style.width = (bar.dataset.progress || 0) + '%';
  wire();
  stream();
})();
