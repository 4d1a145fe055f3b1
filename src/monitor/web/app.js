// triquant dashboard: renders each snapshot the monitor pushes over Server-Sent Events.
// Plain DOM and SVG (no framework, nothing fetched from the internet); text goes in with
// textContent only, so nothing from the wire is ever parsed as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const EXCHANGE_RATE_LIMIT = 300;
const yuan = (units) => (units / 10000).toFixed(2);
const int = (n) => Math.round(n).toLocaleString('en-US');
const fmt = (n) => (n >= 10 || n === 0 ? int(n) : n.toFixed(1));
const EXCHANGE_DAILY_LIMIT = 20000;
// Audit summaries carry prices in 0.0001 CNY; an operator reads yuan.
const auditText = (summary) => summary.replace(/\b(price|avgPrice)=(\d+)\b/g, (_, k, v) => `${k}=${yuan(Number(v))}`);
const time = (us) => (us ? new Date(us / 1000).toLocaleTimeString('en-GB', { hour12: false }) : '');

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k === 'style') node.setAttribute('style', v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function replace(parent, nodes) {
  parent.replaceChildren(...nodes);
}

function row(cells, cls) {
  return el('tr', cls ? { class: cls } : {}, ...cells.map((c) => (c instanceof Node ? el('td', {}, c) : el('td', {}, c))));
}

function svgPath(values, max, w, h) {
  if (values.length < 2) return '';
  const step = w / (values.length - 1);
  return values.map((v, i) => `${i ? 'L' : 'M'}${(i * step).toFixed(1)},${(h - (Math.min(v, max) / max) * (h - 4)).toFixed(1)}`).join(' ');
}

function lineChart(svg, series, options = {}) {
  const w = 600;
  const h = Number(svg.getAttribute('viewBox').split(' ')[3]);
  const limit = options.limit;
  let max = Math.max(1, ...series.flatMap((s) => s.values), limit ? limit * 1.1 : 0);
  max = Math.ceil(max * 1.15);
  const ns = 'http://www.w3.org/2000/svg';
  const nodes = [];
  series.forEach((s, i) => {
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', svgPath(s.values, max, w, h));
    p.setAttribute('class', `l${i + 1}`);
    nodes.push(p);
  });
  if (limit) {
    const y = h - (limit / max) * (h - 4);
    const l = document.createElementNS(ns, 'line');
    Object.entries({ x1: 0, x2: w, y1: y, y2: y, class: 'limit' }).forEach(([k, v]) => l.setAttribute(k, String(v)));
    nodes.push(l);
  }
  // The legend is HTML next to the chart: text inside a non-uniformly scaled SVG is distorted.
  const legend = svg.previousElementSibling;
  if (legend && legend.classList.contains('legend')) {
    replace(legend, [
      ...series.map((s, i) => el('span', { class: `key l${i + 1}` }, `${s.name} ${s.values.length ? fmt(s.values[s.values.length - 1]) : ''}`)),
      ...(limit ? [el('span', { class: 'key limit' }, `limit ${int(limit)}${options.unit || ''}`)] : []),
      el('span', { class: 'muted' }, `scale 0–${int(max)}${options.unit || ''}`),
    ]);
  }
  svg.replaceChildren(...nodes);
}

function render(s) {
  $('clock').textContent = new Date(s.time).toLocaleTimeString('en-GB', { hour12: false });
  const ts = s.tradingState;
  const stateEl = $('trading-state');
  if (ts) {
    stateEl.textContent = `trading ${ts.global}`;
    stateEl.className = `pill ${ts.global === 'ACTIVE' ? 'pill-ok' : ts.global === 'REDUCING' ? 'pill-warn' : 'pill-bad'}`;
    stateEl.title = ts.globalActor ? `${ts.globalActor}: ${ts.globalReason}` : '';
    const accounts = ts.accounts.filter((a) => a.state !== 'ACTIVE').map((a) => `${a.account} ${a.state}`);
    $('ks-current').textContent = `now: ${ts.global}${accounts.length ? ` (${accounts.join(', ')})` : ''}${ts.globalActor ? ` — set by ${ts.globalActor}: ${ts.globalReason}` : ''}`;
  } else {
    $('ks-current').textContent = 'now: unknown (execution unreachable)';
    stateEl.textContent = 'execution unreachable';
    stateEl.className = 'pill pill-bad';
  }

  const md = s.marketData;
  $('ticks-in').textContent = int(md.ticksInPerSec);
  $('ticks-consumed').textContent = int(md.ticksConsumedPerSec);
  $('ticks-total').textContent = int(md.ticksOutTotal || md.ticksInTotal);
  lineChart($('chart-ticks'), [
    { name: 'in', values: s.history.ticksIn },
    { name: 'consumed', values: s.history.ticksConsumed },
  ], { unit: ' ticks/s' });

  // Alerts
  $('alert-count').textContent = String(s.alerts.length);
  replace($('alerts'), s.alerts.length
    ? s.alerts.map((a) => el('li', { class: a.severity }, a.message))
    : [el('li', { class: 'none' }, 'no alerts')]);

  // Order/cancel rates
  const rateNodes = s.accounts.map((a) => {
    const scale = Math.max(EXCHANGE_RATE_LIMIT, a.rateLimit) * 1.1;
    const bar = el('div', { class: 'bar' },
      el('div', { class: a.ratePerSec >= a.rateLimit * 0.8 ? 'hot' : '', style: `width:${Math.min(100, (a.ratePerSec / scale) * 100)}%` }),
      el('span', { class: 'mark', style: `left:${(a.rateLimit / scale) * 100}%`, title: `limit ${a.rateLimit}/s` }),
      el('span', { class: 'mark', style: `left:${(EXCHANGE_RATE_LIMIT / scale) * 100}%;opacity:.5`, title: '300/s' }));
    const dailyScale = Math.max(EXCHANGE_DAILY_LIMIT, a.dailyLimit) * 1.1;
    const daily = el('div', { class: 'bar', title: `${a.dailyCount} of ${a.dailyLimit} today` },
      el('div', { class: a.dailyCount >= a.dailyLimit * 0.8 ? 'hot' : '', style: `width:${Math.min(100, (a.dailyCount / dailyScale) * 100)}%` }),
      el('span', { class: 'mark', style: `left:${(a.dailyLimit / dailyScale) * 100}%`, title: `account limit ${a.dailyLimit}` }),
      el('span', { class: 'mark', style: `left:${(EXCHANGE_DAILY_LIMIT / dailyScale) * 100}%;opacity:.5`, title: '20,000 a day' }));
    return el('div', {},
      el('div', { class: 'rate-row' }, el('strong', {}, `${a.account} `, el('span', { class: 'muted' }, a.state)), bar, el('span', {}, `${a.ratePerSec.toFixed(1)}/s of ${a.rateLimit}/s (300)`)),
      el('div', { class: 'rate-row' }, el('span', { class: 'muted' }, 'daily count'), daily, el('span', {}, `${int(a.dailyCount)} / ${int(a.dailyLimit)} (20,000)`)));
  });
  replace($('rates'), rateNodes.length ? rateNodes : [el('p', { class: 'muted' }, 'no accounts trading yet')]);
  lineChart($('chart-orders'), [
    { name: 'orders/s', values: s.history.orders },
    { name: 'cancels/s', values: s.history.cancels },
  ], { limit: Math.min(...s.accounts.map((a) => a.rateLimit), EXCHANGE_RATE_LIMIT), unit: '/s' });

  // Consumer groups
  replace($('groups'), s.groups.map((g) => row([g.group, int(g.lag), int(g.pending), g.consumers, g.streams])));
  lineChart($('chart-lag'), [{ name: 'total lag', values: s.history.lag }], { unit: ' entries' });

  // Redis
  const r = s.redis;
  const cap = r.maxMemory || Math.max(r.usedMemory * 2, 64 * 2 ** 20);
  $('redis-mem-bar').style.width = `${Math.min(100, (r.usedMemory / cap) * 100)}%`;
  $('redis-mem').textContent = r.up
    ? `${(r.usedMemory / 2 ** 20).toFixed(1)} MiB used${r.maxMemory ? ` of ${(r.maxMemory / 2 ** 20).toFixed(0)} MiB` : ' (no maxmemory)'} · ${r.streams} streams · ${int(r.entries)} entries`
    : 'Redis unreachable';
  replace($('streams'), r.topStreams.map((x) => row([x.key, int(x.length)])));

  // Sessions and services
  const sessionItems = [];
  const seen = new Set();
  for (const x of s.sessions) {
    seen.add(`${x.strategy}.${x.instance}`);
    sessionItems.push(el('li', {}, el('span', { class: `dot ${x.connected ? 'up' : ''}` }), `${x.strategy}.${x.instance} `, el('span', { class: 'muted' }, x.connected ? 'gRPC connected' : 'gRPC disconnected')));
  }
  for (const x of s.strategies) {
    if (seen.has(`${x.strategy}.${x.instance}`)) continue;
    sessionItems.push(el('li', {}, el('span', { class: `dot ${x.up ? 'up' : ''}` }), `${x.strategy}.${x.instance} `, el('span', { class: 'muted' }, x.crashLoop ? 'crash loop: stopped' : x.up ? 'process up' : 'process down')));
  }
  replace($('sessions'), sessionItems.length ? sessionItems : [el('li', { class: 'muted' }, 'no strategy sessions')]);
  replace($('services'), s.services.map((x) => el('li', { title: x.error }, el('span', { class: `dot ${x.up ? 'up' : ''}` }), x.name, x.up ? '' : el('span', { class: 'muted' }, ` — ${x.error}`))));

  // Blotter
  $('order-totals').textContent = `${int(s.totals.orders)} orders · ${int(s.totals.fills)} fills · ${int(s.totals.cancels)} cancels · ${int(s.totals.denials)} denied`;
  replace($('blotter'), s.orders.map((o) => row([
    time(o.updatedUs), o.clientOrderId, o.strategy, o.account, o.symbol,
    el('span', { class: o.side }, o.side), o.type, yuan(o.price), int(o.quantity), int(o.cumQty), o.avgPrice ? yuan(o.avgPrice) : '',
    el('span', { class: `st-${o.status}` }, o.status), o.text,
  ])));

  // Positions
  const pnl = s.totals.realizedPnl;
  $('pnl').textContent = `realized ${pnl >= 0 ? '+' : ''}${yuan(pnl)} CNY`;
  $('pnl').style.color = pnl >= 0 ? 'var(--ok)' : 'var(--bad)';
  replace($('positions'), s.positions.map((p) => row([p.account, p.symbol, int(p.quantity), int(p.sellable), yuan(p.avgCost), yuan(p.realizedPnl)])));

  // Denials
  $('denial-count').textContent = String(s.totals.denials);
  const maxDenial = Math.max(1, ...s.denials.map((d) => d.count));
  replace($('denials'), s.denials.length
    ? s.denials.map((d) => el('li', {}, el('div', {}, el('div', { class: 'muted' }, d.reason), el('div', { class: 'bar' }, el('div', { style: `width:${(d.count / maxDenial) * 100}%` }))), el('strong', {}, int(d.count))))
    : [el('li', { class: 'muted' }, 'none')]);

  // Audit tail
  const auditRow = (a) => row([a.seq, time(a.ts), a.kind, a.account, a.clientOrderId, a.actor, auditText(a.summary)], a.kind === 'TRADING_STATE' || a.kind === 'LIMIT_CHANGE' ? 'change' : '');
  replace($('audit'), s.audit.map(auditRow));
  replace($('audit-changes'), (s.auditChanges || []).length
    ? s.auditChanges.map(auditRow)
    : [el('tr', {}, el('td', { colspan: '7', class: 'muted' }, 'no kill-switch or limit change since the monitor started'))]);
}

function connect() {
  const events = new EventSource('/events');
  events.addEventListener('state', (e) => {
    $('conn').textContent = 'live';
    $('conn').className = 'pill pill-ok';
    render(JSON.parse(e.data));
  });
  events.onerror = () => {
    $('conn').textContent = 'reconnecting…';
    $('conn').className = 'pill pill-warn';
  };
}

$('ks-scope').addEventListener('change', () => {
  $('ks-account').disabled = $('ks-scope').value !== 'ACCOUNT';
});
for (const button of document.querySelectorAll('#kill-form button')) {
  button.addEventListener('click', async () => {
    const result = $('ks-result');
    const scope = $('ks-scope').value;
    const body = {
      scope,
      account: scope === 'ACCOUNT' ? $('ks-account').value.trim() : '',
      state: button.dataset.state,
      actor: $('ks-actor').value.trim(),
      reason: $('ks-reason').value.trim(),
    };
    const token = $('ks-token').value.trim();
    result.className = 'result';
    result.textContent = 'sending…';
    try {
      const response = await fetch('/api/kill-switch', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      result.className = `result ${response.ok ? 'ok' : 'err'}`;
      result.textContent = response.ok ? `trading state is now ${answer.state}` : `refused (${response.status}): ${answer.error}`;
    } catch (error) {
      result.className = 'result err';
      result.textContent = `failed: ${error}`;
    }
  });
}
connect();
