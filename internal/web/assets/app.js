// bluejay dashboard. Polls the admin API each second while the tab is
// visible and redraws; every call carries the session cookie (HttpOnly:
// this script never sees it) and the X-Bluejay-UI header.
'use strict';

const POLL_MS = 1000;
const CHART_SPAN_MS = 180 * 1000;
const MAX_POINTS = 240;

const state = {
  selected: decodeURIComponent(location.hash.slice(1)) || null,
  services: [],
  events: [],
  rollouts: [],
  rolloutsAt: 0,
  rolloutsKey: '',
  templates: null,
  windows: true,          // false once /ui/api/window says 404
  series: new Map(),      // rollout id → {canary: [], baseline: [], limits: {}}
  verdicts: new Map(),    // rollout id → [{time, kind, template, interval, verdict, metrics}]
  seenIntervals: new Map(),
  timer: null,
  busy: false,
};

// ── helpers ─────────────────────────────────────────────────────────

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return e;
}

function replace(id, ...children) {
  const node = document.getElementById(id);
  node.replaceChildren(...children.flat().filter(c => c !== null && c !== undefined && c !== false));
  return node;
}

class APIError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

async function api(method, path, body) {
  const opts = {method, credentials: 'same-origin', headers: {'X-Bluejay-UI': '1', 'Accept': 'application/json'}};
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (resp.status === 401) {
    // The session ended (logout elsewhere, serve restarted): the page
    // serves the login form again.
    location.replace('/ui/');
    throw new APIError(401, data);
  }
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

const enc = encodeURIComponent;
const pct = v => (v * 100).toFixed(v < 0.01 && v > 0 ? 2 : 1) + '%';
const ms = v => (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' ms';
const fmtTime = t => new Date(t).toLocaleTimeString([], {hour12: false});
const zero = t => !t || t.startsWith('0001-');

function duration(fromIso, toIso) {
  if (zero(fromIso)) return '-';
  const end = zero(toIso) ? Date.now() : Date.parse(toIso);
  let s = Math.max(0, Math.round((end - Date.parse(fromIso)) / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  s %= 60;
  return (h ? h + 'h' : '') + (h || m ? m + 'm' : '') + s + 's';
}

function num(v) {
  if (!isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

function terminal(phase) { return ['Completed', 'RolledBack', 'Failed', 'Aborted'].includes(phase); }

function phaseSymbol(phase) {
  switch (phase) {
    case 'Completed': return '✔';
    case 'RolledBack': case 'Failed': case 'Aborted': return '✖';
    case 'Paused': return '‖';
  }
  return '◌';
}

function phaseBadge(phase, id) {
  return el('span', {class: 'phase phase-' + (phase || 'none'), id}, `${phaseSymbol(phase)} ${phase || 'no rollout'}`);
}

function verdictBadge(v) {
  return el('span', {class: 'verdict verdict-' + (v || 'none')}, v || '—');
}

// stepText is a canary's "step k/n: description", as status -w prints it.
function stepText(r) {
  const steps = (r.params && r.params.steps) || [];
  if (r.strategy !== 'canary' || !steps.length || !['Progressing', 'Paused'].includes(r.phase)) return '';
  if (r.step >= steps.length) return `steps done, ${steps.length}/${steps.length}`;
  return `step ${r.step + 1}/${steps.length}: ${describeStep(steps[r.step])}`;
}

function describeStep(s) {
  const d = s.duration ? ' ' + goDuration(s.duration) : '';
  switch (s.kind) {
    case 'setWeight': return `setWeight ${s.weight || 0}`;
    case 'pause': return s.duration ? `pause${d}` : 'pause until promote';
    case 'analysis': return `analysis ${s.analysis ? s.analysis.template : ''}${d}`;
    case 'checks': return `checks (${s.checks})`;
    case 'setHeaderRoute': return 'setHeaderRoute ' + JSON.stringify(s.route || {});
    case 'setMirrorRoute': return `setMirrorRoute ${s.mirrorPercent}%`;
  }
  return s.kind;
}

// goDuration formats nanoseconds as Go does, roughly: 1m30s, 5s, 250ms.
function goDuration(ns) {
  const s = ns / 1e9;
  if (s < 1) return Math.round(ns / 1e6) + 'ms';
  const m = Math.floor(s / 60);
  return (m ? m + 'm' : '') + (s % 60 ? num(s % 60) + 's' : (m ? '' : '0s'));
}

function baselineLabel(r) {
  if (!r.from || !r.from.label) return '';
  return r.params && r.params.dedicatedBaseline ? r.from.label + '-baseline' : r.from.label;
}

// versionsOf lists the rollout's versions newest first, then any other in
// the live split, with role, weight and readiness.
function versionsOf(st) {
  const r = st.rollout, labels = [];
  for (const l of [r.to && r.to.label, r.params && r.params.dedicatedBaseline ? baselineLabel(r) : '', r.from && r.from.label]) {
    if (l && !labels.includes(l)) labels.push(l);
  }
  for (const l of Object.keys(st.weights || {}).sort()) if (!labels.includes(l)) labels.push(l);
  return labels.map(label => {
    const ins = (st.instances || []).filter(i => i.version === label);
    let role = 'old';
    if (label === st.stable) role = 'stable';
    else if (r.to && label === r.to.label) role = 'new';
    else if (label === baselineLabel(r)) role = 'baseline';
    return {label, role, weight: (st.weights || {})[label] || 0, ready: ins.filter(i => i.ready).length, total: ins.length};
  });
}

function blastText(e, to) {
  e = e || {};
  return `${e.requests || 0} requests (${e.errors || 0} failed), ${e.users || 0} users (${e.failedUsers || 0} failed) on ${to || '-'}`;
}

// ── services view ───────────────────────────────────────────────────

function trafficBar(vs, small) {
  const bar = el('div', {class: 'bar' + (small ? ' small' : ''), role: 'img',
    'aria-label': 'traffic split: ' + vs.filter(v => v.weight > 0).map(v => `${v.label} ${v.weight}%`).join(', ')});
  vs.forEach((v, i) => {
    if (v.weight <= 0) return;
    const seg = el('span', {class: `seg seg-${i % 4} role-${v.role}`, title: `${v.label} ${v.weight}%`},
      v.weight >= 8 ? `${v.label} ${v.weight}%` : '');
    seg.style.width = v.weight + '%';
    bar.appendChild(seg);
  });
  return bar;
}

// edgeText says when the service is in maintenance or its traffic paused.
function edgeText(st) {
  const rt = st.route || {};
  if (rt.maintenance) return el('div', {class: 'edge warn'}, `maintenance since ${new Date(rt.maintenance.since).toLocaleTimeString()}: answering 503`);
  if (rt.hold && new Date(rt.hold.until) > new Date()) return el('div', {class: 'edge warn'}, `traffic paused until ${new Date(rt.hold.until).toLocaleTimeString()}`);
  return null;
}

function renderServices() {
  const rows = state.services.map(st => {
    const r = st.rollout, vs = versionsOf(st);
    const active = r.phase && !terminal(r.phase);
    const health = vs.filter(v => v.total > 0).map(v => `${v.label}: ${v.ready}/${v.total} ready`).join(', ') || 'no instances';
    const unhealthy = (st.instances || []).some(i => !i.ready);
    const rolloutText = r.id ? `#${r.id} ${r.from && r.from.label ? r.from.label + ' → ' : ''}${r.to.label}, ${r.strategy}` : 'none';
    return el('tr', {class: 'service-row' + (st.service === state.selected ? ' selected' : ''), 'data-service': st.service,
      tabindex: 0, onclick: () => select(st.service), onkeydown: e => { if (e.key === 'Enter') select(st.service); }},
      el('th', {scope: 'row'}, el('a', {href: '#' + enc(st.service)}, st.service)),
      el('td', {class: 'stable'}, st.stable || '—'),
      el('td', {class: 'instances' + (unhealthy ? ' warn' : '')}, (unhealthy ? '⚠ ' : '') + health),
      el('td', {class: 'split'}, trafficBar(vs, true), el('span', {class: 'split-text'},
        vs.filter(v => (st.weights || {})[v.label] !== undefined).map(v => `${v.label} ${v.weight}%`).join(' · '))),
      el('td', {class: 'rollout'}, rolloutText),
      el('td', {class: 'state'}, phaseBadge(r.phase), active && stepText(r) ? el('div', {class: 'step'}, stepText(r)) : null, edgeText(st)));
  });
  replace('services', el('table', {class: 'services'},
    el('thead', {}, el('tr', {}, ['Service', 'Stable', 'Instances', 'Traffic split', 'Latest rollout', 'Phase / step'].map(h => el('th', {scope: 'col'}, h)))),
    el('tbody', {}, rows)));
}

function select(name) {
  if (state.selected === name) return;
  state.selected = name;
  state.events = [];
  state.rollouts = [];
  state.rolloutsKey = '';
  history.replaceState(null, '', '#' + enc(name));
  document.getElementById('action-result').textContent = '';
  tick();
}

// ── rollout view ────────────────────────────────────────────────────

function renderRollout(st) {
  const r = st.rollout;
  document.getElementById('rollout-view').hidden = false;
  replace('rollout-title', r.id ? `${st.service}: rollout #${r.id} ${r.from && r.from.label ? r.from.label + ' → ' : ''}${r.to.label} (${r.strategy})` : `${st.service}: no rollout yet`);
  replace('rollout-phase-cell', phaseBadge(r.phase, 'rollout-phase'), ' ', el('span', {id: 'rollout-step'}, stepText(r)));
  replace('rollout-reason', r.reason || '');
  replace('rollout-elapsed', r.id ? `${duration(r.started, r.ended)}${terminal(r.phase) ? ' (ended ' + fmtTime(r.ended) + ')' : ' (in phase ' + duration(r.phaseSince) + ')'}` : '-');
  const e = st.exposure || {};
  replace('blast', ...[['requests', e.requests], ['failed requests', e.errors], ['users', e.users], ['failed users', e.failedUsers]]
    .map(([k, v]) => el('div', {class: 'stat'}, el('span', {class: 'stat-value', 'data-stat': k}, String(v || 0)), el('span', {class: 'stat-label'}, k))),
  el('p', {class: 'note'}, `on ${r.to ? r.to.label : '-'} since the rollout began${r.phase && !terminal(r.phase) ? ' (live)' : ''}`));
  renderActions(st);
  renderSteps(r);
  renderTraffic(st);
  renderAnalyses(st);
  renderCharts(st);
  renderVerdicts(r);
  renderEvents(r);
  renderHistory();
}

const ACTIONS = [
  {name: 'promote', label: 'Promote', what: 'move the rollout past its current step or pause', when: r => r.phase && !terminal(r.phase)},
  {name: 'pause', label: 'Pause', what: 'hold the rollout where it is until resumed', when: r => r.phase && !terminal(r.phase) && r.phase !== 'Paused'},
  {name: 'resume', label: 'Resume', what: 'continue the paused rollout', when: r => r.phase === 'Paused'},
  {name: 'abort', label: 'Abort', what: 'stop the rollout and send all traffic back to the stable version', when: r => r.phase && !terminal(r.phase), danger: true},
  {name: 'rollback', label: 'Rollback', what: 'return the service to the previous version', when: r => !!r.id, danger: true},
];

function renderActions(st) {
  const r = st.rollout;
  replace('actions', ACTIONS.map(a => el('button', {
    id: 'action-' + a.name, type: 'button', class: a.danger ? 'danger' : '', disabled: !a.when(r) || state.busy,
    onclick: () => confirmAction(st.service, r, a),
  }, a.label)));
}

function confirmAction(service, r, a) {
  const dlg = document.getElementById('confirm');
  replace('confirm-text', `${a.label} ${service}${r.id ? ' (rollout #' + r.id + ', ' + r.phase + ')' : ''}? This will ${a.what}.`);
  dlg.returnValue = '';
  dlg.onclose = () => { if (dlg.returnValue === 'ok') runAction(service, a); };
  dlg.showModal();
}

async function runAction(service, a) {
  const out = document.getElementById('action-result');
  state.busy = true;
  out.className = 'result';
  out.textContent = `${a.label}: sending…`;
  try {
    const ro = await api('POST', `/v1/services/${enc(service)}/${a.name}`);
    out.className = 'result ok';
    out.textContent = `${a.label} done: rollout #${ro.id} is ${ro.phase}: ${ro.reason}`;
  } catch (e) {
    out.className = 'result error';
    out.textContent = `${a.label} refused${e.status ? ' (HTTP ' + e.status + ')' : ''}: ${e.message}`;
  } finally {
    state.busy = false;
    tick();
  }
}

function renderSteps(r) {
  const items = [];
  const steps = (r.params && r.params.steps) || [];
  if (r.strategy === 'canary' && steps.length) {
    steps.forEach((s, i) => {
      let mark = '·', cls = 'todo', word = 'to do';
      if (i < r.step || r.phase === 'Completed') { mark = '✔'; cls = 'done'; word = 'done'; }
      else if (i === r.step && r.phase && !terminal(r.phase)) { mark = '▶'; cls = 'current'; word = 'now'; }
      else if (i === r.step && terminal(r.phase)) { mark = '✖'; cls = 'stopped'; word = 'stopped here'; }
      items.push(el('li', {class: 'step ' + cls}, el('span', {class: 'mark', 'aria-hidden': 'true'}, mark),
        `${i + 1}. ${describeStep(s)}`, el('span', {class: 'sr'}, ` (${word})`)));
    });
  } else if (r.strategy === 'blue-green') {
    const way = ['Deploying'];
    if (r.params.smoke) way.push('Smoke');
    if (r.params.previewWeight > 0) way.push('Preview');
    if (!r.params.autoPromote || r.phase === 'Paused') way.push('Paused');
    way.push('Watching', 'Completed');
    const at = way.indexOf(r.phase);
    way.forEach((p, i) => items.push(el('li', {class: 'step ' + (i < at ? 'done' : i === at ? 'current' : 'todo')},
      el('span', {class: 'mark', 'aria-hidden': 'true'}, i < at ? '✔' : i === at ? '▶' : '·'), p)));
    if (at < 0 && r.phase) items.push(el('li', {class: 'step stopped'}, el('span', {class: 'mark'}, '✖'), r.phase));
  } else if (r.strategy === 'rolling') {
    items.push(el('li', {class: 'step current'}, `new ${r.to.label}: ${r.newCount || 0} of ${r.params.replicas}, old ${r.from.label || '-'}: ${r.oldCount || 0}`));
  }
  if (!items.length) items.push(el('li', {class: 'note'}, 'no steps'));
  replace('steps', items);
}

function renderTraffic(st) {
  const vs = versionsOf(st);
  replace('traffic', trafficBar(vs, false),
    el('table', {class: 'versions'}, el('tbody', {}, vs.map(v => el('tr', {},
      el('th', {scope: 'row'}, v.label), el('td', {}, v.role), el('td', {class: 'num'}, v.weight + '%'),
      el('td', {}, v.total ? `${v.ready}/${v.total} ready` : 'no instances'))))));
  replace('instances', el('thead', {}, el('tr', {}, ['Instance', 'Version', 'Address', 'State', 'Health'].map(h => el('th', {scope: 'col'}, h)))),
    el('tbody', {}, (st.instances || []).map(i => el('tr', {},
      el('td', {}, i.id), el('td', {}, i.version), el('td', {}, i.addr), el('td', {}, i.state + (i.restarts ? ` (${i.restarts} restarts)` : '')),
      el('td', {class: i.ready ? 'ok' : 'warn'}, i.ready ? '✔ ready' : '⚠ not ready' + (i.lastError ? ': ' + i.lastError : ''))))));
}

// keyNumbers are a metric's numbers worth a glance, in a stable order.
function numbersText(nums) {
  if (!nums) return '';
  const order = ['canary.requests', 'canary.errors', 'baseline.requests', 'baseline.errors'];
  const keys = Object.keys(nums).sort((a, b) => {
    const ia = order.indexOf(a), ib = order.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  return keys.map(k => `${k}=${num(nums[k])}`).join('  ');
}

function renderAnalyses(st) {
  const as = st.analyses || [];
  if (!as.length) {
    replace('analyses', el('p', {class: 'note'}, st.rollout.phase && !terminal(st.rollout.phase) ? 'No analysis under way at this step.' : 'No analysis under way.'));
    return;
  }
  replace('analyses', as.map(a => el('div', {class: 'analysis', 'data-kind': a.kind},
    el('h4', {}, `${a.kind} analysis ${a.template}: ${a.canary} (canary) vs ${a.baseline} (baseline) — `, verdictBadge(a.verdict),
      ` after ${a.intervals} verdict${a.intervals === 1 ? '' : 's'}`),
    a.limits ? el('p', {class: 'note'}, `failures ${a.failures || 0} of limit ${a.limits.failureLimit}; errors in a row ${a.consecutiveErrors || 0} of limit ${a.limits.consecutiveErrorLimit}; interval ${goDuration(a.limits.interval)}`) : null,
    el('table', {class: 'metrics'},
      el('thead', {}, el('tr', {}, ['Metric', 'Verdict', 'Numbers', 'Reason'].map(h => el('th', {scope: 'col'}, h)))),
      el('tbody', {}, (a.metrics || []).map(m => el('tr', {},
        el('th', {scope: 'row'}, m.metric), el('td', {}, verdictBadge(m.verdict)),
        el('td', {class: 'numbers'}, numbersText(m.numbers)), el('td', {class: 'reason'}, m.reason))))))));
}

// recordVerdicts keeps, per rollout, each analysis verdict as it is
// taken (when an analysis' interval count grows): the API has only the
// latest.
function recordVerdicts(st) {
  const r = st.rollout;
  for (const a of st.analyses || []) {
    const key = `${r.id}/${a.kind}/${a.template}/${a.since}`;
    const seen = state.seenIntervals.get(key) || 0;
    if (a.intervals > seen && a.verdict) {
      state.seenIntervals.set(key, a.intervals);
      const list = state.verdicts.get(r.id) || [];
      list.push({time: Date.now(), kind: a.kind, template: a.template, interval: a.intervals, verdict: a.verdict,
        metrics: (a.metrics || []).map(m => ({metric: m.metric, verdict: m.verdict, numbers: m.numbers}))});
      state.verdicts.set(r.id, list.slice(-100));
    }
  }
}

function renderVerdicts(r) {
  const list = (state.verdicts.get(r.id) || []).slice().reverse();
  if (!list.length) {
    replace('verdicts', el('caption', {class: 'note'}, 'Verdicts appear here as analyses take them while this page is open.'));
    return;
  }
  replace('verdicts', el('thead', {}, el('tr', {}, ['Time', 'Analysis', 'Interval', 'Verdict', 'Per metric, with numbers'].map(h => el('th', {scope: 'col'}, h)))),
    el('tbody', {}, list.map(v => el('tr', {},
      el('td', {}, fmtTime(v.time)), el('td', {}, `${v.kind} ${v.template}`), el('td', {class: 'num'}, String(v.interval)),
      el('td', {}, verdictBadge(v.verdict)),
      el('td', {class: 'numbers'}, v.metrics.map(m => el('div', {}, `${m.metric}: ${m.verdict}  ${numbersText(m.numbers)}`)))))));
}

function renderEvents(r) {
  const evs = state.events.filter(e => e.rolloutId === r.id).reverse();
  replace('events', el('thead', {}, el('tr', {}, ['Time', 'Transition', 'Reason', 'Weights', 'Numbers'].map(h => el('th', {scope: 'col'}, h)))),
    el('tbody', {}, evs.map(e => el('tr', {class: 'event', 'data-phase': e.phase},
      el('td', {}, fmtTime(e.time)),
      el('td', {}, e.from && e.from !== e.phase ? `${e.from} → ` : '', phaseBadge(e.phase), e.hook ? ` (hook ${e.hook})` : ''),
      el('td', {class: 'reason'}, e.reason),
      el('td', {}, Object.entries(e.weights || {}).map(([k, v]) => `${k}=${v}`).join(' ')),
      el('td', {class: 'numbers'}, numbersText(e.numbers))))));
}

function renderHistory() {
  replace('history', el('thead', {}, el('tr', {}, ['#', 'Versions', 'Strategy', 'Outcome', 'Started', 'Duration', 'Blast radius', 'Why'].map(h => el('th', {scope: 'col'}, h)))),
    el('tbody', {}, state.rollouts.map(r => el('tr', {class: 'history-row', 'data-id': r.id, 'data-phase': r.phase},
      el('td', {class: 'num'}, String(r.id)),
      el('td', {}, `${r.from && r.from.label ? r.from.label + ' → ' : ''}${r.to.label}`),
      el('td', {}, r.strategy), el('td', {}, phaseBadge(r.phase)),
      el('td', {}, zero(r.started) ? '-' : new Date(r.started).toLocaleString([], {hour12: false})),
      el('td', {}, duration(r.started, r.ended) + (terminal(r.phase) ? '' : ' so far')),
      el('td', {}, blastText(r.exposure, r.to.label)),
      el('td', {class: 'reason'}, r.reason)))));
}

// ── charts ──────────────────────────────────────────────────────────

function seriesFor(id) {
  if (!state.series.has(id)) state.series.set(id, {canary: [], baseline: [], limits: {}});
  return state.series.get(id);
}

// conditionLimits returns, for errorRate and p99, the limits the
// rollout's templates' conditions put on the canary, as functions of the
// baseline's numbers.
function conditionLimits(r) {
  const out = {errorRate: [], p99: []};
  if (!state.templates) return out;
  const names = new Set();
  for (const s of (r.params && r.params.steps) || []) if (s.analysis) names.add(s.analysis.template);
  if (r.params && r.params.background) names.add(r.params.background.template);
  for (const t of state.templates) {
    if (!names.has(t.name)) continue;
    for (const m of t.metrics) {
      const lim = parseLimit(m.condition);
      if (lim && out[lim.field]) out[lim.field].push({metric: m.metric || m.name, template: t.name, lim});
    }
  }
  return out;
}

async function sampleWindows(st) {
  const r = st.rollout;
  // Measure while the rollout runs and for a few seconds after it ended,
  // so that the windows around its last decision are drawn.
  const over = terminal(r.phase) && Date.now() - Date.parse(r.ended) > 6000;
  if (!state.windows || !r.id || over || r.strategy === 'rolling') return;
  const canary = r.to.label, baseline = baselineLabel(r);
  if (!canary || !baseline) return;
  const q = v => `/ui/api/window?service=${enc(st.service)}&version=${enc(v)}&seconds=5`;
  try {
    const [c, b] = await Promise.all([api('GET', q(canary)), api('GET', q(baseline))]);
    const s = seriesFor(r.id), t = Date.parse(c.end);
    s.canary.push({t, errorRate: c.errorRate, p99: c.p99, requests: c.requests});
    s.baseline.push({t, errorRate: b.errorRate, p99: b.p99, requests: b.requests});
    const lims = conditionLimits(r);
    for (const field of ['errorRate', 'p99']) {
      for (const l of lims[field]) {
        // One limit per metric and condition: the step's and the background
        // analysis often share a template's metric.
        const key = `${field}/${l.metric}/${l.lim.op} ${l.lim.rhs}`;
        (s.limits[key] ||= {field, label: `limit: ${l.metric} (${l.lim.op} ${l.lim.rhs})`, points: []})
          .points.push({t, v: b.requests > 0 ? l.lim.eval(b) : NaN});
      }
    }
    for (const arr of [s.canary, s.baseline, ...Object.values(s.limits).map(x => x.points)]) arr.splice(0, Math.max(0, arr.length - MAX_POINTS));
  } catch (e) {
    if (e.status === 404) state.windows = false;
  }
}

function renderCharts(st) {
  const r = st.rollout;
  const s = state.series.get(r.id);
  const canary = r.to ? r.to.label : '', baseline = baselineLabel(r);
  if (!state.windows) {
    replace('charts', el('p', {class: 'note'}, 'This metrics source cannot measure windows: no charts.'));
    return;
  }
  if (!s || !s.canary.length) {
    replace('charts', el('p', {class: 'note'}, terminal(r.phase) || !r.id
      ? 'The charts fill while a rollout is under way and this page is open.'
      : 'Waiting for the first measurements…'));
    return;
  }
  const first = s.canary[0].t;
  const now = terminal(r.phase) ? s.canary[s.canary.length - 1].t : Date.now();
  // The span grows with the rollout, from 30 s to CHART_SPAN_MS.
  const span = Math.min(CHART_SPAN_MS, Math.max(30000, now - first + 2000));
  const figs = [['errorRate', 'Error rate', pct, 0.01], ['p99', 'p99 latency', ms, 1]].map(([field, title, fmt, minMax]) => {
    const series = [
      {name: 'canary', cls: 'canary', label: `canary ${canary}`, points: s.canary.map(p => ({t: p.t, v: p[field]}))},
      {name: 'baseline', cls: 'baseline', label: `baseline ${baseline}`, points: s.baseline.map(p => ({t: p.t, v: p[field]}))},
      ...Object.values(s.limits).filter(l => l.field === field).map(l => ({name: 'limit', cls: 'limit', label: l.label, points: l.points})),
    ];
    const legend = el('ul', {class: 'legend'}, series.map(x => {
      const last = x.points.length ? x.points[x.points.length - 1].v : NaN;
      return el('li', {class: 'key-' + x.cls}, el('span', {class: 'swatch', 'aria-hidden': 'true'}),
        `${x.label}: ${isFinite(last) ? fmt(last) : '—'}`);
    }));
    return el('figure', {id: 'chart-' + field},
      el('figcaption', {}, `${title}, canary vs baseline (last 5 s, each second)`),
      lineChart(series, {title: `${title} of ${canary} and ${baseline}`, now, spanMs: span, format: fmt, minMax}),
      legend);
  });
  replace('charts', figs, el('p', {class: 'note'},
    'Lines: canary solid, baseline dashed, limit dotted. A limit is the right side of a template condition such as ' +
    '"canary.errorRate <= baseline.errorRate * 1.5 + 0.001", evaluated on the baseline\'s window; conditions of other shapes draw none.'));
}

// ── loop ────────────────────────────────────────────────────────────

function setLive(text, bad) {
  const live = document.getElementById('live');
  live.textContent = text;
  live.className = bad ? 'live bad' : 'live';
}

async function tick() {
  clearTimeout(state.timer);
  try {
    state.services = await api('GET', '/v1/services');
    if (!state.services.some(s => s.service === state.selected)) state.selected = state.services.length ? state.services[0].service : null;
    const st = state.services.find(s => s.service === state.selected);
    if (st) {
      const r = st.rollout;
      if (state.templates === null) state.templates = await api('GET', '/ui/api/templates').catch(() => []);
      recordVerdicts(st);
      const jobs = [sampleWindows(st), api('GET', `/v1/services/${enc(st.service)}/events?limit=200`).then(e => { state.events = e; })];
      const key = `${st.service}/${r.id}/${r.phase}`;
      if (key !== state.rolloutsKey || Date.now() - state.rolloutsAt > 5000) {
        jobs.push(api('GET', `/v1/services/${enc(st.service)}/rollouts?limit=50`).then(rs => {
          state.rollouts = rs; state.rolloutsKey = key; state.rolloutsAt = Date.now();
        }));
      }
      await Promise.all(jobs);
    }
    renderServices();
    if (st) renderRollout(st);
    setLive(`live · updated ${fmtTime(Date.now())}`);
  } catch (e) {
    setLive(`update failed: ${e.message} (retrying)`, true);
  }
  schedule();
}

function schedule() {
  clearTimeout(state.timer);
  if (!document.hidden) state.timer = setTimeout(tick, POLL_MS);
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) {
    clearTimeout(state.timer);
    setLive('paused while the tab is hidden');
  } else {
    tick();
  }
});

window.addEventListener('hashchange', () => {
  const name = decodeURIComponent(location.hash.slice(1));
  if (name) select(name);
});

document.getElementById('logout').addEventListener('click', async () => {
  await fetch('/ui/logout', {method: 'POST', credentials: 'same-origin', headers: {'X-Bluejay-UI': '1'}});
  location.replace('/ui/');
});

tick();
