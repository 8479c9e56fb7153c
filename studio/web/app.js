// nst studio's page: compose a config, watch a run through server-sent
// events, compare run folders. Plain JS, no build step.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { defaults: null, images: null, runId: null, es: null, points: [],
  imgLoading: false, imgWanted: null, imgLast: 0, imgLoads: 0 };

async function api(method, path, body) {
  const opt = { method, headers: {} };
  if (body !== undefined) { opt.body = body; }
  const r = await fetch(path, opt);
  const text = await r.text();
  let data = null;
  try { data = JSON.parse(text); } catch (e) { data = text; }
  if (!r.ok) { throw Object.assign(new Error((data && data.error) || r.statusText), { data, status: r.status }); }
  return data;
}

// Tabs.
function showTab(name) {
  document.querySelectorAll('.tab').forEach((b) => b.classList.toggle('active', b.dataset.tab === name));
  document.querySelectorAll('.panel').forEach((p) => p.classList.toggle('active', p.id === name));
  if (name === 'compare') { loadGallery(); }
  if (name === 'watch') { loadQueue(); }
}
document.querySelectorAll('.tab').forEach((b) => b.addEventListener('click', () => showTab(b.dataset.tab)));

// Compose.
function fillImageSelect(sel, keep) {
  const im = state.images;
  const old = keep || sel.value;
  sel.textContent = '';
  for (const [label, list] of [['Built-in', im.builtin], ['Examples', im.examples], ['Uploads', im.uploads], ['Runs', im.runs]]) {
    if (!list.length) { continue; }
    const g = document.createElement('optgroup');
    g.label = label;
    for (const c of list) {
      const o = document.createElement('option');
      o.value = c.ref; o.textContent = c.label; o.dataset.url = c.url;
      g.appendChild(o);
    }
    sel.appendChild(g);
  }
  if (old) { sel.value = old; }
  if (!sel.value && sel.options.length) { sel.selectedIndex = 0; }
}

function preview(sel, img) {
  const o = sel.selectedOptions[0];
  img.src = o ? o.dataset.url : '';
}

async function loadImages(content, style) {
  state.images = await api('GET', '/api/images');
  fillImageSelect($('content-select'), content);
  fillImageSelect($('style-select'), style);
  preview($('content-select'), $('content-preview'));
  preview($('style-select'), $('style-preview'));
}

function styleWeight() { return Math.round(Math.pow(10, Number($('style-weight').value)) * 100) / 100; }

function composeYAML() {
  const d = state.defaults;
  const q = (s) => JSON.stringify(s);
  const styleLayers = [...document.querySelectorAll('#style-layers input:checked')].map((c) => c.value);
  const lines = [
    'content: ' + q($('content-select').value),
    'style:',
    '  - {path: ' + q($('style-select').value) + ', weight: 1}',
    'size: ' + Number($('size').value),
    'color: ' + $('color').value,
    'weights: {content: ' + d.content_weight + ', style: ' + styleWeight() + ', tv: ' + d.tv_weight + '}',
    'optimizer: {iterations: ' + Number($('iterations').value) + '}',
    'layers:',
    '  content: {' + $('content-layer').value + ': 1}',
    '  style: {' + styleLayers.map((l) => l + ': ' + (Math.round(1000 / Math.max(styleLayers.length, 1)) / 1000)).join(', ') + '}',
  ];
  const scales = $('scales').value.split(',').map((s) => s.trim()).filter(Boolean);
  if (scales.length) {
    lines.push('scales:');
    for (const s of scales) {
      const [size, it] = s.split(':');
      lines.push('  - {size: ' + Number(size) + ', iterations: ' + Number(it) + '}');
    }
  }
  lines.push('output: {dir: ' + q($('name').value || 'studio') + '}');
  let text = lines.join('\n') + '\n';
  if (d.base) { text += d.base.endsWith('\n') ? d.base : d.base + '\n'; }
  return text;
}

function controlsChanged() {
  $('style-weight-value').textContent = styleWeight();
  preview($('content-select'), $('content-preview'));
  preview($('style-select'), $('style-preview'));
  $('yaml').value = composeYAML();
  scheduleCheck();
}

let checkTimer = null;
function scheduleCheck() { clearTimeout(checkTimer); checkTimer = setTimeout(check, 250); }

function showErrors(errs) {
  const ul = $('check-errors');
  ul.textContent = '';
  for (const e of errs) { const li = document.createElement('li'); li.textContent = e; ul.appendChild(li); }
  $('check-ok').hidden = errs.length > 0;
}

async function check() {
  try {
    const r = await api('POST', '/api/check', $('yaml').value);
    showErrors(r.errors);
    return r.ok;
  } catch (e) { showErrors([e.message]); return false; }
}

async function start() {
  try {
    const r = await api('POST', '/api/runs', $('yaml').value);
    showTab('watch');
    watch(r.id);
  } catch (e) { showErrors((e.data && e.data.errors) || [e.message]); }
}

async function upload() {
  const f = $('upload').files[0];
  if (!f) { return; }
  $('upload-status').textContent = 'uploading ' + f.name + '...';
  try {
    const r = await api('POST', '/api/uploads', f);
    await loadImages($('content-select').value, r.ref);
    $('upload-status').textContent = 'uploaded as ' + r.label + ' (chosen as the style)';
    controlsChanged();
  } catch (e) { $('upload-status').textContent = e.message; }
}

async function initCompose() {
  const d = state.defaults = await api('GET', '/api/defaults');
  $('size').value = d.size;
  $('iterations').value = d.iterations;
  $('style-weight').value = Math.log10(d.style_weight);
  $('color').value = d.color;
  const box = $('style-layers');
  for (const l of d.layers) {
    const lab = document.createElement('label');
    const c = document.createElement('input');
    c.type = 'checkbox'; c.value = l; c.className = 'layer-style'; c.checked = d.style_layers.includes(l);
    lab.append(c, ' ' + l);
    box.appendChild(lab);
    const o = document.createElement('option');
    o.value = l; o.textContent = l;
    $('content-layer').appendChild(o);
  }
  $('content-layer').value = d.content_layers[0] || d.layers[0];
  await loadImages();
  for (const id of ['content-select', 'style-select', 'style-weight', 'size', 'iterations', 'color', 'scales', 'content-layer', 'name']) {
    $(id).addEventListener('input', controlsChanged);
  }
  box.addEventListener('change', controlsChanged);
  $('yaml').addEventListener('input', scheduleCheck);
  $('start').addEventListener('click', start);
  $('upload').addEventListener('change', upload);
  controlsChanged();
}

// Watch.
function watch(id) {
  if (state.es) { state.es.close(); }
  state.runId = id;
  state.points = [];
  state.imgLoads = 0;
  $('live-title').textContent = 'Run ' + id;
  $('live-error').textContent = '';
  drawCurve();
  const es = state.es = new EventSource('/api/runs/' + id + '/events');
  es.addEventListener('iteration', (m) => {
    const ev = JSON.parse(m.data);
    state.points.push(ev);
    $('progress').max = Math.max(ev.iterations, 1);
    $('progress').value = ev.iteration;
    $('live-iter').textContent = ev.iteration + ' / ' + ev.iterations;
    $('live-costs').textContent = Object.entries(ev.costs).filter(([k]) => !k.includes(':'))
      .map(([k, v]) => k + ' ' + (v === null ? 'NaN' : v.toPrecision(4))).join('  ');
    wantImage(ev.image);
    drawCurve();
  });
  es.addEventListener('state', (m) => showState(JSON.parse(m.data)));
  loadQueue();
}

// wantImage asks for the image at url, one request at a time and at most
// about three a second: the server computes an image only when asked.
function wantImage(url) {
  state.imgWanted = url;
  if (state.imgLoading) { return; }
  const wait = 300 - (Date.now() - state.imgLast);
  if (wait > 0) { setTimeout(() => { if (state.imgWanted && !state.imgLoading) { wantImage(state.imgWanted); } }, wait); return; }
  state.imgLoading = true;
  state.imgWanted = null;
  state.imgLast = Date.now();
  $('live-image').src = url;
}
$('live-image').addEventListener('load', () => {
  state.imgLoading = false;
  state.imgLoads++;
  $('live-image').dataset.loads = state.imgLoads;
  if (state.imgWanted) { wantImage(state.imgWanted); }
});
$('live-image').addEventListener('error', () => { state.imgLoading = false; });

function showState(st) {
  let s = st.state;
  if (st.state === 'queued' && st.queue >= 0) { s += ' (' + (st.queue === 0 ? 'next' : st.queue + ' ahead') + ')'; }
  $('live-state').textContent = s;
  $('live-state').dataset.state = st.state;
  $('live-iter').textContent = st.iteration + ' / ' + st.iterations;
  $('eta').textContent = st.state === 'running' && st.eta_s > 0 ? 'ETA ' + Math.ceil(st.eta_s) + ' s' : '';
  $('live-error').textContent = st.error || '';
  $('stop').disabled = !['queued', 'running'].includes(st.state);
  $('resume').disabled = st.state !== 'stopped';
  if (['done', 'stopped', 'failed'].includes(st.state)) {
    wantImage(st.image + '&s=' + st.state);
    loadQueue();
  }
}

function drawCurve() {
  const c = $('curve'), g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  const pts = state.points;
  if (!pts.length) { return; }
  const series = [['total', '#222'], ['content', '#2a6fdb'], ['style', '#d2691e']];
  let lo = Infinity, hi = -Infinity;
  const val = (p, k) => (p.costs[k] > 0 ? Math.log10(p.costs[k]) : null);
  for (const p of pts) for (const [k] of series) { const v = val(p, k); if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
  if (!(hi > lo)) { hi = lo + 1; }
  const maxIt = Math.max(pts[pts.length - 1].iterations, pts[pts.length - 1].iteration, 1);
  const x = (i) => 40 + (c.width - 50) * i / maxIt, y = (v) => c.height - 20 - (c.height - 30) * (v - lo) / (hi - lo);
  g.font = '11px sans-serif';
  g.fillStyle = '#777';
  g.fillText('log10 cost', 4, 12);
  g.fillText(hi.toFixed(1), 4, 24);
  g.fillText(lo.toFixed(1), 4, c.height - 20);
  series.forEach(([k, col], n) => {
    g.strokeStyle = col; g.fillStyle = col; g.beginPath();
    let first = true;
    for (const p of pts) { const v = val(p, k); if (v === null) { continue; } if (first) { g.moveTo(x(p.iteration), y(v)); first = false; } else { g.lineTo(x(p.iteration), y(v)); } }
    g.stroke();
    g.fillText(k, 80 + n * 60, 12);
  });
}

async function loadQueue() {
  const runs = await api('GET', '/api/runs');
  const ol = $('queue');
  ol.textContent = '';
  for (const r of runs) {
    const li = document.createElement('li');
    li.dataset.id = r.id;
    li.dataset.state = r.state;
    li.textContent = r.id + ' ' + r.name + ' - ' + r.state + (r.state === 'queued' ? ' #' + (r.queue + 1) : '') + (r.iterations ? ' ' + r.iteration + '/' + r.iterations : '');
    if (r.id === state.runId) { li.className = 'sel'; }
    li.addEventListener('click', () => watch(r.id));
    ol.appendChild(li);
  }
}
setInterval(() => { if ($('watch').classList.contains('active')) { loadQueue(); } }, 2000);

$('stop').addEventListener('click', async () => { if (state.runId) { try { await api('POST', '/api/runs/' + state.runId + '/stop'); } catch (e) { $('live-error').textContent = e.message; } } });
$('resume').addEventListener('click', async () => { if (state.runId) { try { await api('POST', '/api/runs/' + state.runId + '/resume'); } catch (e) { $('live-error').textContent = e.message; } } });

// Compare.
function fmt(v) { return v === null || v === undefined ? '-' : Number(v).toPrecision(4); }

async function loadGallery() {
  const runs = await api('GET', '/api/gallery');
  const box = $('gallery');
  box.textContent = '';
  for (const sel of [$('diff-a'), $('diff-b')]) {
    const old = sel.value;
    sel.textContent = '';
    for (const r of runs) { const o = document.createElement('option'); o.value = r.name; o.textContent = r.name; o.dataset.img = r.image_url; sel.appendChild(o); }
    if (old) { sel.value = old; }
  }
  if (runs.length > 1 && $('diff-a').value === $('diff-b').value) { $('diff-b').selectedIndex = 1; }
  for (const r of runs) {
    const d = document.createElement('div');
    d.className = 'card gallery-item';
    d.dataset.name = r.name;
    const img = document.createElement('img');
    img.loading = 'lazy'; img.alt = r.name;
    if (r.image_url) { img.src = r.image_url; }
    const name = document.createElement('div'); name.className = 'name'; name.textContent = r.name;
    const info = document.createElement('div'); info.className = 'note';
    info.textContent = r.status + ', ' + r.iterations + ' it, J ' + fmt(r.costs.total) + ', ' + (r.seconds ? r.seconds.toFixed(1) + ' s' : '') +
      (r.start ? ', ' + new Date(r.start).toLocaleString() : '');
    const fork = document.createElement('button'); fork.textContent = 'Fork'; fork.className = 'fork';
    fork.addEventListener('click', () => forkRun(r.name));
    d.append(img, name, info, fork);
    if (r.status === 'interrupted') {
      const res = document.createElement('button'); res.textContent = 'Resume'; res.className = 'resume';
      res.addEventListener('click', async () => {
        try { const j = await api('POST', '/api/gallery/' + encodeURIComponent(r.name) + '/resume'); showTab('watch'); watch(j.id); }
        catch (e) { info.textContent = e.message; }
      });
      d.append(res);
    }
    box.appendChild(d);
  }
  diff();
  loadSweeps();
  fillUnitsConfigs(runs);
  loadUnitsLayers();
  loadUnitSheets();
}

async function forkRun(name) {
  const r = await fetch('/api/files/' + encodeURIComponent(name) + '/config.yaml');
  if (!r.ok) { return; }
  $('yaml').value = await r.text();
  showTab('compose');
  scheduleCheck();
}

async function diff() {
  const a = $('diff-a').value, b = $('diff-b').value;
  const out = $('diff');
  out.textContent = '';
  for (const [sel, img] of [[$('diff-a'), $('diff-a-img')], [$('diff-b'), $('diff-b-img')]]) {
    const o = sel.selectedOptions[0];
    img.src = o && o.dataset.img ? o.dataset.img : '';
  }
  if (!a || !b) { return; }
  try {
    const d = await api('GET', '/api/diff?a=' + encodeURIComponent(a) + '&b=' + encodeURIComponent(b));
    for (const l of d.lines) {
      if (l.op === '=' && l.text.startsWith('#')) { continue; }
      const s = document.createElement('div');
      s.className = l.op === '-' ? 'del' : l.op === '+' ? 'add' : '';
      s.textContent = (l.op === '=' ? '  ' : l.op + ' ') + l.text;
      out.appendChild(s);
    }
  } catch (e) { out.textContent = e.message; }
}
$('diff-a').addEventListener('change', diff);
$('diff-b').addEventListener('change', diff);

async function loadSweeps() {
  const sw = await api('GET', '/api/sweeps');
  const box = $('sweeps');
  box.textContent = sw.length ? '' : 'No sweep folders in the runs folder.';
  for (const s of sw) {
    const h = document.createElement('h3'); h.textContent = s.name; box.appendChild(h);
    if (s.error) { const e = document.createElement('div'); e.className = 'error'; e.textContent = s.error; box.appendChild(e); }
    for (const u of s.sheets) { const i = document.createElement('img'); i.src = u; i.alt = s.name; box.appendChild(i); }
  }
}

// Units: contact sheets of the patches where a layer's units fire most,
// drawn by the server in turn with the runs (POST /api/units).
const units = { jobId: null, jobName: '', timer: null, layersFor: null, layersSeq: 0 };

function fillUnitsConfigs(runs) {
  const sel = $('units-config');
  const old = sel.value;
  sel.textContent = '';
  const c = document.createElement('option');
  c.value = ''; c.textContent = "the composer's config";
  sel.appendChild(c);
  for (const r of runs) { const o = document.createElement('option'); o.value = r.name; o.textContent = 'run ' + r.name; sel.appendChild(o); }
  sel.value = old;
  if (sel.selectedIndex < 0) { sel.selectedIndex = 0; }
}

// unitsSource names the config whose backbone a sheet uses.
function unitsSource() {
  const run = $('units-config').value;
  return run ? { run } : { config: $('yaml').value };
}

async function loadUnitsLayers() {
  const key = JSON.stringify(unitsSource());
  if (key === units.layersFor) { return; }
  const sel = $('units-layer');
  const seq = ++units.layersSeq;
  try {
    const r = await api('POST', '/api/units/layers', key);
    if (seq !== units.layersSeq) { return; } // a later choice of config is on its way
    units.layersFor = key;
    const old = sel.value;
    sel.textContent = '';
    for (const l of r.layers) {
      const o = document.createElement('option');
      o.value = l.name; o.dataset.channels = l.channels;
      o.textContent = l.name + ' (' + l.channels + ' units, field ' + l.field[0] + '\u00d7' + l.field[1] + ')';
      sel.appendChild(o);
    }
    if (old) { sel.value = old; }
    if (sel.selectedIndex < 0 && sel.options.length) { sel.selectedIndex = 0; }
    $('units-model').textContent = r.model;
    $('units-size').placeholder = "the config's size (" + r.size + ')';
    $('units-error').textContent = '';
    unitsLayerChanged();
  } catch (e) {
    if (seq !== units.layersSeq) { return; }
    units.layersFor = null;
    sel.textContent = '';
    $('units-model').textContent = '';
    $('units-error').textContent = e.message;
  }
}

// unitsLayerChanged fits the unit range to the layer until the user edits it.
function unitsLayerChanged() {
  const o = $('units-layer').selectedOptions[0];
  const r = $('units-range');
  if (o && !r.dataset.edited) { r.value = '0-' + Math.min(15, Number(o.dataset.channels) - 1); }
}

async function makeSheet() {
  const body = Object.assign(unitsSource(), {
    layer: $('units-layer').value, units: $('units-range').value.trim(),
    top: Number($('units-top').value) || 0, size: Number($('units-size').value) || 0,
    inside: $('units-inside').checked,
    images: [...document.querySelectorAll('.units-src:checked')].map((c) => c.value),
  });
  $('units-error').textContent = '';
  try {
    const r = await api('POST', '/api/units', JSON.stringify(body));
    units.jobId = r.id;
    units.jobName = r.name;
    pollSheet();
  } catch (e) { $('units-error').textContent = e.message; }
}

// pollSheet follows the sheet's job until it ends, then shows the sheet.
async function pollSheet() {
  clearTimeout(units.timer);
  if (!units.jobId) { return; }
  let st;
  try { st = await api('GET', '/api/runs/' + units.jobId); } catch (e) { $('units-error').textContent = e.message; return; }
  let s = st.state;
  if (st.state === 'queued' && st.queue >= 0) { s += ' (' + (st.queue === 0 ? 'next' : st.queue + ' ahead') + '; one job uses the CPU at a time)'; }
  if (st.state === 'stopped') { s = 'cancelled'; }
  $('units-state').textContent = units.jobName + ': ' + s;
  $('units-state').dataset.state = st.state;
  $('units-cancel').hidden = !['queued', 'running'].includes(st.state);
  if (st.state === 'done') {
    showSheet(st.sheet, units.jobName);
    loadUnitSheets();
    return;
  }
  if (st.state === 'failed') { $('units-error').textContent = st.error; return; }
  if (st.state === 'stopped') { return; }
  units.timer = setTimeout(pollSheet, 500);
}

function showSheet(url, name) {
  const img = $('units-sheet');
  img.dataset.name = name;
  img.alt = name;
  img.src = url;
  $('units-title').textContent = name;
  document.querySelectorAll('#units-sheets .card').forEach((c) => c.classList.toggle('sel', c.dataset.name === name));
}

async function loadUnitSheets() {
  const sheets = await api('GET', '/api/units');
  const box = $('units-sheets');
  box.textContent = sheets.length ? '' : 'No sheets in the runs folder\'s units folder yet.';
  for (const u of sheets) {
    const d = document.createElement('div');
    d.className = 'card unit-sheet';
    d.dataset.name = u.name;
    if (u.name === $('units-sheet').dataset.name) { d.classList.add('sel'); }
    const img = document.createElement('img');
    img.loading = 'lazy'; img.alt = u.name; img.src = u.url;
    const name = document.createElement('div'); name.className = 'name'; name.textContent = u.name;
    const info = document.createElement('div'); info.className = 'note';
    info.textContent = u.layer + ', ' + u.units.length + ' units, ' + u.images + ' images, ' + new Date(u.created).toLocaleString();
    const a = document.createElement('a'); a.href = u.listing_url; a.textContent = 'listing'; a.target = '_blank';
    d.append(img, name, info, a);
    d.addEventListener('click', (ev) => { if (ev.target !== a) { showSheet(u.url, u.name); } });
    box.appendChild(d);
  }
}

$('units-config').addEventListener('input', loadUnitsLayers);
$('units-layer').addEventListener('input', unitsLayerChanged);
$('units-range').addEventListener('input', () => { $('units-range').dataset.edited = '1'; });
$('units-make').addEventListener('click', makeSheet);
$('units-cancel').addEventListener('click', async () => {
  if (!units.jobId) { return; }
  try { await api('POST', '/api/runs/' + units.jobId + '/stop'); } catch (e) { $('units-error').textContent = e.message; }
  pollSheet();
});

initCompose().catch((e) => showErrors([e.message]));
