// vnet serve's page: the picture the server draws (the one SVG renderer of
// `vnet graph`), kept current from server-sent events, with the matrix,
// a ping's walk and the doctor's verdict drawn on it. Plain ES module, no
// build step, no dependencies.

const $ = (s) => document.querySelector(s);
const NS = 'http://www.w3.org/2000/svg';
const q = (v) => CSS.escape(v);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let state = null;      // GET /api/state
let svg = null;        // the <svg> on the page
let full = null;       // its whole viewBox
let view = null;       // the viewBox shown
let boxes = [];        // nodes and edges with their extents, for culling
let picks = [];        // nodes clicked for a trace
let counters = {};     // NODE:IFACE -> last counters
let reverse = {};      // NODE:IFACE -> kernel NS:IFACE

// ---- talking to the server -------------------------------------------------

async function api(path, body) {
  const opts = { headers: {} };
  if (body !== undefined) {
    opts.method = 'POST';
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
    const t = $('#token').value.trim();
    if (t) opts.headers['X-Vnet-Token'] = t;
  }
  const r = await fetch(path, opts);
  const kind = r.headers.get('content-type') || '';
  const data = kind.includes('json') ? await r.json() : await r.text();
  if (!r.ok) {
    const e = new Error((data && data.error) || `${r.status} ${r.statusText}`);
    e.status = r.status;
    throw e;
  }
  return data;
}

// ---- the picture -----------------------------------------------------------

async function load() {
  const [st, text] = await Promise.all([
    api('/api/state'),
    fetch('/api/graph.svg', { cache: 'no-store' }).then((r) => r.text()),
  ]);
  state = st;
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const el = document.importNode(doc.documentElement, true);
  el.removeAttribute('width');
  el.removeAttribute('height');
  const vb = el.viewBox.baseVal;
  full = { x: vb.x, y: vb.y, w: vb.width, h: vb.height };
  $('#canvas').replaceChildren(el);
  svg = el;
  reverse = {};
  for (const [k, p] of Object.entries(state.places)) reverse[`${p.node}:${p.iface}`] = k;
  document.title = `${state.title} — vnet serve`;
  $('#title').textContent = state.title;
  $('#token-box').hidden = !state.allow_changes;
  index();
  if (!view) view = initialView();
  show();
  notes();
  for (const [k, c] of Object.entries(counters)) paintCounters(k, c);
  document.body.dataset.version = String(state.version);
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
}

// Extents of every node and edge, read from attributes once (no layout).
function index() {
  boxes = [];
  for (const g of svg.querySelectorAll('g.node')) {
    const r = g.querySelector('rect.box');
    if (!r) continue;
    const x = +r.getAttribute('x'), y = +r.getAttribute('y');
    boxes.push({ el: g, x, y, w: +r.getAttribute('width'), h: +r.getAttribute('height') });
  }
  for (const p of svg.querySelectorAll('path.edge')) {
    const n = (p.getAttribute('d') || '').match(/-?\d+(\.\d+)?/g) || [];
    const xs = n.filter((_, i) => i % 2 === 0).map(Number);
    const ys = n.filter((_, i) => i % 2 === 1).map(Number);
    if (!xs.length) continue;
    const x = Math.min(...xs), y = Math.min(...ys);
    boxes.push({ el: p, x, y, w: Math.max(...xs) - x, h: Math.max(...ys) - y });
  }
}

// Show the viewBox; far out, text goes; with many nodes, what is off
// screen is not drawn at all.
let pending = false;
function show() {
  if (pending || !svg) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    svg.setAttribute('viewBox', `${view.x} ${view.y} ${view.w} ${view.h}`);
    const c = $('#canvas');
    const scale = Math.min(c.clientWidth / view.w, c.clientHeight / view.h);
    svg.classList.toggle('far', scale < 0.45);
    if (boxes.length > 400) {
      const m = 40 / scale;
      for (const b of boxes) {
        const on = b.x + b.w >= view.x - m && b.x <= view.x + view.w + m &&
                   b.y + b.h >= view.y - m && b.y <= view.y + view.h + m;
        b.el.style.display = on ? '' : 'none';
      }
    }
  });
}

// The whole network when it is readable so; else (a thousand nodes) its
// top left corner at a readable size: "Fit" shows all.
function initialView() {
  const c = $('#canvas');
  const W = c.clientWidth || 1000, H = c.clientHeight || 700;
  if (Math.min(W / full.w, H / full.h) >= 0.45) return { ...full };
  return { x: full.x, y: full.y, w: W / 0.8, h: H / 0.8 };
}

function toSvg(ev) {
  const p = new DOMPoint(ev.clientX, ev.clientY);
  return p.matrixTransform(svg.getScreenCTM().inverse());
}

function panZoom() {
  const c = $('#canvas');
  let drag = null;
  c.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, y: ev.clientY, moved: false };
  });
  window.addEventListener('pointermove', (ev) => {
    if (!drag || !svg) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    c.classList.add('dragging');
    const s = view.w / c.clientWidth;
    view.x -= dx * s;
    view.y -= dy * s;
    drag.x = ev.clientX;
    drag.y = ev.clientY;
    show();
  });
  window.addEventListener('pointerup', () => {
    if (drag && drag.moved) {
      // The click that ends a drag picks nothing.
      window.addEventListener('click', (e) => e.stopPropagation(), { capture: true, once: true });
    }
    drag = null;
    c.classList.remove('dragging');
  });
  c.addEventListener('wheel', (ev) => {
    if (!svg) return;
    ev.preventDefault();
    const p = toSvg(ev);
    const k = Math.exp(ev.deltaY * 0.0015);
    const w = Math.min(Math.max(view.w * k, 80), full.w * 4);
    const f = w / view.w;
    view = { x: p.x - (p.x - view.x) * f, y: p.y - (p.y - view.y) * f, w, h: view.h * f };
    show();
  }, { passive: false });
  $('#fit').addEventListener('click', () => { view = { ...full }; show(); });
}

// ---- live state ------------------------------------------------------------

function setLink(key, s) {
  if (state) state.links[key] = s;
  const p = svg && svg.querySelector(`path[data-link="${q(key)}"]`);
  if (!p) return;
  p.setAttribute('data-state', s);
  p.classList.remove('up', 'down', 'peer-missing');
  p.classList.add(s);
  const color = { up: '#2a9d3a', down: '#d62728', 'peer-missing': '#e08a00' }[s];
  const [a, b] = key.split('--');
  for (const end of [a, b]) {
    const dot = svg.querySelector(`circle.port[data-end="${q(end)}"]`);
    if (dot && color) dot.setAttribute('fill', color);
  }
}

// Packets per second on a link, at its middle: A→B and B→A, and drops.
function paintCounters(key, c) {
  counters[key] = c;
  const place = state && state.places[reverse[key]];
  if (!place || !place.link || !svg) return;
  const p = svg.querySelector(`path[data-link="${q(place.link)}"]`);
  if (!p) return;
  let label = svg.querySelector(`text.rate[data-for="${q(place.link)}"]`);
  if (!label) {
    if (p.style.display === 'none') return;
    const len = p.getTotalLength();
    const mid = p.getPointAtLength(len / 2);
    label = document.createElementNS(NS, 'text');
    label.setAttribute('class', 'rate');
    label.setAttribute('data-for', place.link);
    label.setAttribute('x', mid.x.toFixed(1));
    label.setAttribute('y', (mid.y - 5).toFixed(1));
    label.setAttribute('text-anchor', 'middle');
    p.parentNode.appendChild(label);
  }
  const [a, b] = place.link.split('--');
  const ca = counters[a] || {}, cb = counters[b] || {};
  const pps = (x) => (x === undefined ? '·' : x >= 100 ? Math.round(x) : x);
  const drops = (ca.rx_dropped || 0) + (ca.tx_dropped || 0) + (cb.rx_dropped || 0) + (cb.tx_dropped || 0);
  const busy = (ca.tx_pps || 0) + (cb.tx_pps || 0) > 0;
  label.textContent = busy || drops ? `${pps(ca.tx_pps)}→ ←${pps(cb.tx_pps)} pkt/s${drops ? ` · ${drops} dropped` : ''}` : '';
  label.classList.toggle('drops', drops > 0);
}

function connect() {
  const es = new EventSource('/api/events');
  const conn = (s, t) => { const e = $('#conn'); e.dataset.conn = s; e.textContent = t; };
  es.onopen = () => conn('live', 'live');
  es.onerror = () => conn('lost', 'reconnecting…');
  let reloading = null;
  const reload = () => {
    if (!reloading) reloading = sleep(50).then(load).finally(() => { reloading = null; });
  };
  es.onmessage = (e) => {
    const m = JSON.parse(e.data);
    document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
    if (m.type === 'hello') {
      if (state && m.version !== state.version) reload();
    } else if (m.type === 'link') {
      setLink(m.link, m.state);
    } else if (m.type === 'topology') {
      reload();
    } else if (m.type === 'counters') {
      for (const [k, c] of Object.entries(m.ifaces)) paintCounters(k, c);
      const open = $('#iface-out').dataset.key;
      if (open && m.ifaces[open]) ifacePanel(open);
    } else if (m.type === 'error') {
      conn('lost', m.error);
    }
  };
}

function notes() {
  const n = $('#notes-out');
  n.replaceChildren();
  if (!state.notes.length) return;
  const h = document.createElement('h2');
  h.textContent = 'Drift from the lab file';
  const pre = document.createElement('pre');
  pre.textContent = state.notes.join('\n');
  n.append(h, pre);
}

// ---- one interface ---------------------------------------------------------

function ifacePanel(key) {
  const out = $('#iface-out');
  out.dataset.key = key;
  const kernel = reverse[key] || key;
  const place = state.places[kernel] || {};
  const c = counters[key];
  const h = document.createElement('h2');
  h.textContent = `${kernel}`;
  const lines = [];
  if (place.link) lines.push(`link ${place.link}: ${state.links[place.link] || '?'}`);
  if (c) {
    lines.push(`rx ${c.rx_pps} pkt/s, tx ${c.tx_pps} pkt/s`);
    lines.push(`dropped rx ${c.rx_dropped}, tx ${c.tx_dropped}; errors rx ${c.rx_errors}, tx ${c.tx_errors}`);
  } else {
    lines.push('counters: waiting for the first reading');
  }
  const pre = document.createElement('pre');
  pre.textContent = lines.join('\n');
  out.replaceChildren(h, pre);
  if (state.allow_changes && kernel.includes(':')) {
    const i = kernel.indexOf(':');
    const node = kernel.slice(0, i), iface = kernel.slice(i + 1);
    for (const up of [false, true]) {
      const b = document.createElement('button');
      b.textContent = up ? 'set up' : 'set down';
      b.addEventListener('click', async () => {
        try {
          await api('/api/link', { node, iface, up });
        } catch (e) {
          pre.textContent += `\n${e.message}`;
        }
      });
      out.append(b, ' ');
    }
  }
}

// ---- the matrix ------------------------------------------------------------

async function runMatrix() {
  const out = $('#matrix-out');
  document.body.dataset.matrix = 'running';
  out.textContent = 'ping matrix: running…';
  svg.querySelectorAll('line.fail-pair').forEach((l) => l.remove());
  svg.querySelectorAll('g.node.unreached').forEach((g) => g.classList.remove('unreached'));
  let m;
  try {
    m = await api('/api/matrix', {});
  } catch (e) {
    out.textContent = `ping matrix: ${e.message}`;
    document.body.dataset.matrix = 'error';
    return;
  }
  // A pair fails when an address of the destination did not answer.
  const fails = new Map();
  for (const p of m.pairs) {
    const k = `${p.from}→${p.to}`;
    if (!p.reachable) fails.set(k, p.error || 'no reply');
    else if (!fails.has(k)) fails.set(k, null);
  }
  const table = document.createElement('table');
  table.className = 'grid';
  const head = table.insertRow();
  head.insertCell().textContent = 'from \\ to';
  for (const n of m.nodes) head.insertCell().textContent = n;
  for (const a of m.nodes) {
    const row = table.insertRow();
    row.insertCell().textContent = a;
    for (const b of m.nodes) {
      const td = row.insertCell();
      if (a === b) { td.textContent = '—'; continue; }
      const k = `${a}→${b}`;
      if (!fails.has(k)) { td.textContent = '·'; continue; }
      const why = fails.get(k);
      td.dataset.pair = k;
      td.className = why ? 'fail' : 'ok';
      td.textContent = why ? '✗' : '✓';
      td.title = why || 'answered';
    }
  }
  const h = document.createElement('h2');
  h.textContent = `Ping matrix: ${m.reachable_pairs} of ${m.node_pairs} pairs answered`;
  out.replaceChildren(h, table);
  const center = (n) => {
    const b = boxes.find((x) => x.el.dataset && x.el.dataset.node === n);
    return b && { x: b.x + b.w / 2, y: b.y + b.h / 2 };
  };
  const layer = svg.querySelector('g.edges');
  for (const [k, why] of fails) {
    if (!why) continue;
    const [a, b] = k.split('→');
    for (const n of [a, b]) svg.querySelector(`g.node[data-node="${q(n)}"]`)?.classList.add('unreached');
    const ca = center(a), cb = center(b);
    if (!ca || !cb) continue;
    const l = document.createElementNS(NS, 'line');
    l.setAttribute('class', 'fail-pair');
    l.setAttribute('data-pair', k);
    l.setAttribute('x1', ca.x); l.setAttribute('y1', ca.y);
    l.setAttribute('x2', cb.x); l.setAttribute('y2', cb.y);
    const t = document.createElementNS(NS, 'title');
    t.textContent = `${k}: ${why}`;
    l.appendChild(t);
    layer.appendChild(l);
  }
  document.body.dataset.matrix = 'done';
}

// ---- a ping's walk ---------------------------------------------------------

function pick(node) {
  const g = svg.querySelector(`g.node[data-node="${q(node)}"]`);
  if (!g || g.classList.contains('bridge') || g.classList.contains('unknown')) return;
  picks.push(node);
  g.classList.add('picked');
  if (picks.length === 2) {
    const [a, b] = picks;
    picks = [];
    runTrace(a, b).finally(() => {
      svg.querySelectorAll('g.node.picked').forEach((x) => x.classList.remove('picked'));
    });
  } else {
    $('#hint').textContent = `from ${node}: now click the node to ping`;
  }
}

function frameTip(f) {
  const lines = [`${f.t_ms.toFixed(3)} ms  ${f.ns}:${f.iface} ${f.dir}`, f.summary,
    `${f.frame.src_mac} → ${f.frame.dst_mac}`];
  if (f.bridge) lines.push(`bridge ${f.bridge.bridge}: ${f.bridge.action}${f.bridge.to.length ? ' to ' + f.bridge.to.join(', ') : ''}`);
  return lines.join('\n');
}

async function runTrace(src, dst) {
  const out = $('#trace-out');
  $('#doctor-out').replaceChildren();
  document.body.dataset.trace = 'running';
  svg.querySelectorAll('.pkt, g.verdict-mark').forEach((e) => e.remove());
  svg.querySelectorAll('.hop').forEach((e) => e.classList.remove('hop'));
  out.textContent = `trace ${src} → ${dst}: sending one ping…`;
  $('#hint').textContent = 'Click a node, then another: trace a ping between them.';
  let r;
  try {
    r = await api('/api/trace', { src, dst });
  } catch (e) {
    out.textContent = `trace ${src} → ${dst}: ${e.message}`;
    document.body.dataset.trace = 'error';
    return;
  }
  const h = document.createElement('h2');
  h.textContent = `trace ${src} → ${r.dst}${r.dst_node ? ` (${r.dst_node})` : ''}`;
  const ol = document.createElement('ol');
  out.replaceChildren(h, ol);
  const layer = svg.querySelector('g.edges').parentNode;
  let last = null;
  for (const [i, f] of r.frames.entries()) {
    const place = state.places[`${f.ns}:${f.iface}`];
    const li = document.createElement('li');
    li.textContent = `${f.t_ms.toFixed(3)} ms ${f.ns}:${f.iface} ${f.dir} ${f.summary}`;
    li.title = frameTip(f);
    ol.appendChild(li);
    ol.querySelectorAll('li.now').forEach((x) => x.classList.remove('now'));
    li.classList.add('now');
    if (place) {
      last = place;
      const row = svg.querySelector(`g.iface[data-iface="${q(place.node)}:${q(place.iface)}"]`);
      row?.classList.add('hop');
      if (place.link) svg.querySelector(`path[data-link="${q(place.link)}"]`)?.classList.add('hop');
      const dot = svg.querySelector(`circle.port[data-end="${q(place.node)}:${q(place.iface)}"]`);
      const at = dot ? { x: +dot.getAttribute('cx'), y: +dot.getAttribute('cy') } : row && rowPoint(row);
      if (at) {
        svg.querySelectorAll('.pkt.current').forEach((x) => x.classList.remove('current'));
        const c = document.createElementNS(NS, 'circle');
        c.setAttribute('class', 'pkt current');
        c.setAttribute('data-step', String(i));
        c.setAttribute('data-kind', f.kind);
        c.setAttribute('cx', at.x);
        c.setAttribute('cy', at.y + (f.dir === 'in' ? 5 : -5));
        c.setAttribute('r', '6');
        const t = document.createElementNS(NS, 'title');
        t.textContent = frameTip(f);
        c.appendChild(t);
        layer.appendChild(c);
      }
    }
    await sleep(r.frames.length > 40 ? 120 : 380);
  }
  const end = document.createElement('p');
  end.textContent = r.answered
    ? `reply after ${r.rtt_ms ? r.rtt_ms.toFixed(3) + ' ms' : '?'}; ${r.frames.length} frames seen`
    : `no reply${r.error ? ': ' + r.error : ''}${r.loss ? ' — ' + r.loss.text : ''}`;
  out.appendChild(end);
  document.body.dataset.trace = r.answered ? 'answered' : 'failed';
  if (!r.answered) await runDoctor(src, dst, last);
}

function rowPoint(row) {
  const t = row.querySelector('text');
  return t && { x: +t.getAttribute('x'), y: +t.getAttribute('y') - 4 };
}

// ---- the doctor's verdict, at the hop where the probe stopped ---------------

async function runDoctor(src, dst, place) {
  const out = $('#doctor-out');
  out.textContent = `doctor ${src} → ${dst}: looking…`;
  document.body.dataset.doctor = 'running';
  let v;
  try {
    v = await api('/api/doctor', { src, dst });
  } catch (e) {
    out.textContent = `doctor: ${e.message}`;
    document.body.dataset.doctor = 'error';
    return;
  }
  const box = document.createElement('div');
  box.className = `verdict ${v.status === 'works' ? 'works' : ''}`;
  box.dataset.code = v.code;
  const h = document.createElement('h2');
  h.textContent = `doctor: ${v.code}`;
  box.appendChild(h);
  for (const c of v.causes) {
    const p = document.createElement('p');
    p.textContent = c.cause;
    box.appendChild(p);
    for (const f of c.fixes) {
      const w = document.createElement('div');
      w.textContent = `fix: ${f.what}`;
      const code = document.createElement('code');
      code.textContent = f.commands.join('\n');
      box.append(w, code);
    }
  }
  if (!v.causes.length) {
    const p = document.createElement('p');
    p.textContent = v.status === 'works' ? 'the ping works now' : 'no cause found';
    box.appendChild(p);
  }
  out.replaceChildren(box);
  // On the picture: a mark at the last interface the probe was seen on,
  // else at the sender.
  const g = place
    ? svg.querySelector(`g.iface[data-iface="${q(place.node)}:${q(place.iface)}"]`)
    : svg.querySelector(`g.node[data-node="${q(src)}"]`);
  const at = g && (g.querySelector('rect.box') ? { x: +g.querySelector('rect.box').getAttribute('x'), y: +g.querySelector('rect.box').getAttribute('y') } : rowPoint(g));
  if (at) {
    const text = `${v.code}${v.causes[0] ? ': ' + v.causes[0].cause : ''}`.slice(0, 90);
    const mark = document.createElementNS(NS, 'g');
    mark.setAttribute('class', 'verdict-mark');
    mark.setAttribute('data-code', v.code);
    const r = document.createElementNS(NS, 'rect');
    const w = text.length * 6.8 + 16;
    r.setAttribute('x', at.x); r.setAttribute('y', at.y - 34);
    r.setAttribute('width', w); r.setAttribute('height', 22); r.setAttribute('rx', 4);
    const t = document.createElementNS(NS, 'text');
    t.setAttribute('x', at.x + 8); t.setAttribute('y', at.y - 19);
    t.textContent = text;
    const tip = document.createElementNS(NS, 'title');
    tip.textContent = v.causes.flatMap((c) => [c.cause, ...c.fixes.flatMap((f) => [f.what, ...f.commands])]).join('\n');
    mark.append(r, t, tip);
    svg.appendChild(mark);
  }
  document.body.dataset.doctor = 'done';
}

// ---- wiring ----------------------------------------------------------------

function wire() {
  panZoom();
  $('#run-matrix').addEventListener('click', () => runMatrix());
  $('#canvas').addEventListener('click', (ev) => {
    const row = ev.target.closest && ev.target.closest('g.iface');
    if (row && row.dataset.iface) { ifacePanel(row.dataset.iface); return; }
    const g = ev.target.closest && ev.target.closest('g.node[data-node]');
    if (g) pick(g.dataset.node);
  });
  // The page's own calls, for scripts and tests driving the real page.
  window.vnet = { pick, runMatrix, runTrace, load };
}

wire();
load().then(connect).catch((e) => {
  $('#conn').textContent = `cannot load: ${e.message}`;
  $('#conn').dataset.conn = 'lost';
});
