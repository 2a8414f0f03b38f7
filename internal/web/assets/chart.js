// bluejay dashboard: a hand-drawn SVG line chart and the small arithmetic
// evaluator that turns an analysis condition into the limit it puts on
// the canary. No dependencies.
'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

// lineChart draws series ({name, cls, points: [{t, v}]}) over the last
// spanMs milliseconds up to now into an <svg>. format renders an axis or
// legend value. Lines differ by dash pattern as well as colour.
function lineChart(series, opts) {
  const W = 560, H = 200, L = 58, R = 12, T = 12, B = 26;
  const svg = svgEl('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.title, class: 'chart'});
  const end = opts.now, start = end - opts.spanMs;
  let vmax = opts.minMax || 0;
  for (const s of series) for (const p of s.points) if (p.t >= start && isFinite(p.v)) vmax = Math.max(vmax, p.v);
  vmax = vmax > 0 ? vmax * 1.1 : 1;
  const x = t => L + (W - L - R) * (t - start) / (end - start);
  const y = v => T + (H - T - B) * (1 - Math.min(v, vmax) / vmax);
  // Axes and grid: 4 horizontal lines with their values.
  for (let i = 0; i <= 4; i++) {
    const v = vmax * i / 4, yy = y(v);
    svg.appendChild(svgEl('line', {x1: L, x2: W - R, y1: yy, y2: yy, class: 'grid'}));
    const label = svgEl('text', {x: L - 6, y: yy + 4, class: 'axis', 'text-anchor': 'end'});
    label.textContent = opts.format(v);
    svg.appendChild(label);
  }
  for (const [t, text] of [[start, `-${Math.round(opts.spanMs / 1000)}s`], [end, 'now']]) {
    const label = svgEl('text', {x: x(t), y: H - 6, class: 'axis', 'text-anchor': t === end ? 'end' : 'start'});
    label.textContent = text;
    svg.appendChild(label);
  }
  for (const s of series) {
    const pts = s.points.filter(p => p.t >= start && isFinite(p.v));
    if (pts.length === 0) continue;
    const d = pts.map(p => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    svg.appendChild(svgEl('polyline', {points: d, class: 'line ' + s.cls, 'data-series': s.name, 'data-count': pts.length,
      'data-max': Math.max(...pts.map(p => p.v))}));
  }
  return svg;
}

// parseLimit reads a condition such as "canary.errorRate <= baseline.errorRate * 1.5 + 0.001"
// as {field: 'errorRate', op: '<=', rhs} when its left side is one canary
// field and its right side arithmetic over baseline fields and numbers;
// null for anything else (&&, functions, canary on the right).
function parseLimit(cond) {
  if (!cond || /&&|\|\||\band\b|\bor\b|\bnot\b|[?!]|==/.test(cond)) return null;
  const m = cond.match(/^\s*canary\.([A-Za-z0-9]+)\s*(<=|>=|<|>)\s*(.+)$/);
  if (!m || /canary\./.test(m[3])) return null;
  const tokens = tokenize(m[3]);
  if (!tokens) return null;
  try {
    const ast = parseExpr(tokens);
    if (tokens.length) return null;
    return {field: m[1], op: m[2], rhs: m[3].trim(), eval: env => evalExpr(ast, env)};
  } catch (e) {
    return null;
  }
}

function tokenize(s) {
  const out = [];
  const re = /\s*(\d+(?:\.\d+)?(?:e[+-]?\d+)?|baseline\.[A-Za-z0-9]+|[-+*/()])/y;
  let i = 0;
  while (i < s.length) {
    if (/^\s*$/.test(s.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(s);
    if (!m) return null;
    out.push(m[1]);
    i = re.lastIndex;
  }
  return out;
}

// parseExpr: sum := product (('+'|'-') product)*; product := unary (('*'|'/') unary)*
function parseExpr(ts) {
  let left = parseProduct(ts);
  while (ts[0] === '+' || ts[0] === '-') left = {op: ts.shift(), a: left, b: parseProduct(ts)};
  return left;
}
function parseProduct(ts) {
  let left = parseUnary(ts);
  while (ts[0] === '*' || ts[0] === '/') left = {op: ts.shift(), a: left, b: parseUnary(ts)};
  return left;
}
function parseUnary(ts) {
  const t = ts.shift();
  if (t === '-') return {op: 'neg', a: parseUnary(ts)};
  if (t === '(') {
    const e = parseExpr(ts);
    if (ts.shift() !== ')') throw new Error('missing )');
    return e;
  }
  if (t === undefined || /^[-+*/)]$/.test(t)) throw new Error('unexpected ' + t);
  if (t.startsWith('baseline.')) return {field: t.slice(9)};
  return {num: parseFloat(t)};
}
function evalExpr(n, env) {
  if ('num' in n) return n.num;
  if ('field' in n) return n.field in env ? env[n.field] : NaN;
  const a = evalExpr(n.a, env);
  switch (n.op) {
    case 'neg': return -a;
    case '+': return a + evalExpr(n.b, env);
    case '-': return a - evalExpr(n.b, env);
    case '*': return a * evalExpr(n.b, env);
    case '/': return a / evalExpr(n.b, env);
  }
  return NaN;
}
