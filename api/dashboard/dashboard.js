// needcast planners' dashboard: plain JavaScript, no build step, no third-party code.
// Every piece of data goes into the page through textContent or SVG attributes, never innerHTML:
// feedback texts are citizens' words and must not be able to inject markup.
"use strict";

const KEY_STORE = "needcast.key";
const LANG_STORE = "needcast.lang";
const FILTERS_STORE = "needcast.filters";
const SVG_NS = "http://www.w3.org/2000/svg";
const STAFFING_DAYS = 14;

const I18N = {
  ru: {
    pageTitle: "needcast — панель планировщика",
    skip: "Перейти к содержимому",
    title: "Панель планировщика",
    langButton: "EN",
    langAria: "Switch to English",
    signOut: "Выйти",
    signInTitle: "Вход по API-ключу",
    signInHelp: "Ключ хранится только в этой вкладке браузера и отправляется лишь этому серверу.",
    keyLabel: "API-ключ",
    signIn: "Войти",
    checkingKey: "Проверяем ключ…",
    emptyKey: "Введите API-ключ.",
    badKeyChars: "В ключе могут быть только латинские буквы, цифры и знаки препинания, без пробелов.",
    badKey: "Ключ не принят сервером (401): проверьте его и войдите снова.",
    filters: "Фильтры",
    segment: "Сегмент",
    region: "Регион",
    service: "Услуга",
    allServices: "Все услуги",
    forecastTitle: "Прогноз спроса",
    csv: "Скачать CSV",
    csvFailed: "Не удалось скачать CSV: {reason}",
    modelTitle: "Модель",
    needsTitle: "Новые потребности",
    suggestionsTitle: "Что предложить жителям",
    staffingTitle: "Окна обслуживания",
    footer: "needcast · прогнозы с интервалами p10–p90 · данные не покидают этот сервер",
    loading: "Загрузка…",
    noSeries: "Сервер не отдал ни одного ряда прогноза.",
    noPlannerRole: "Ключ принят, но у него нет роли «планировщик»: список сегментов и панели ниже недоступны (403).",
    forbidden: "Для этой панели нужна роль «{role}» (или admin), а у ключа её нет (403).",
    notTrained: "Модель ещё не обучена или загружается (503). Обучите модель и обновите страницу.",
    offline: "Сервер недоступен: проверьте соединение.",
    notFound: "Не найдено (404): {detail}",
    conflict: "Недоступно (409): {detail}",
    serverError: "Ошибка сервера ({status}): {detail}",
    rolePlanner: "планировщик",
    rolePortal: "портал",
    forecastSummary: "Прогноз на {n} {unit} ({from} – {to}) · данные по {until} · модель v{version}",
    unitD: "дн.",
    unitW: "нед.",
    unitM: "мес.",
    legendP50: "медиана (p50)",
    legendBand: "интервал p10–p90",
    legendOff: "выходной",
    legendHoliday: "праздник",
    total: "всего за период (p50): {p50}",
    chartAria: "{service}: прогноз от {from} до {to}, медиана в день от {min} до {max}",
    point: "{date}: p50 {p50} (p10 {p10} – p90 {p90})",
    noForecast: "Нет прогноза для этого выбора.",
    liveVersion: "Версия в работе",
    trainedAt: "Обучена",
    dataUntil: "Данные по",
    wape: "Ошибка WAPE (бэктест)",
    wapeModel: "модель",
    wapeNaive: "сезонный наивный",
    wapeBetter: "на {pct} точнее сезонного наивного прогноза",
    wapeWorse: "на {pct} хуже сезонного наивного прогноза",
    coverage: "Покрытие интервала p10–p90",
    coverageTarget: "цель 80 %",
    challengers: "Претенденты",
    noChampion: "Модель-чемпион ещё не зарегистрирована.",
    noNeedsRoute: "Поиск новых потребностей на этом сервере пока не включён.",
    noNeeds: "Новых потребностей в отзывах этого сегмента не найдено.",
    noFeedback: "Нет отзывов от этого сегмента.",
    growth: "рост ×{g}",
    rating: "оценка {r} из 5",
    noRating: "без оценок",
    volume: "{recent} отзывов недавно, {baseline} в базовом периоде",
    firstSeen: "впервые {date}",
    keywords: "Ключевые слова",
    examples: "Примеры отзывов",
    noSuggestions: "Для этого сегмента предложений нет.",
    suggestionsUnavailable: "Предложения ещё не рассчитаны (503).",
    score: "оценка {s}",
    staffingCaption: "Окон в день, чтобы ожидание не превышало {wait} мин: по p90 спроса всех сегментов, рабочий день {hours} ч, регион {region}; услуги сегмента {segment}, первые {days} дн.",
    staffingCell: "{date}: p90 {p90} обращений, ожидание ≈ {w} мин",
    noStaffing: "Нет данных о загрузке для этого выбора.",
  },
  en: {
    pageTitle: "needcast — planners' dashboard",
    skip: "Skip to content",
    title: "Planners' dashboard",
    langButton: "RU",
    langAria: "Переключить на русский",
    signOut: "Sign out",
    signInTitle: "Sign in with an API key",
    signInHelp: "The key stays in this browser tab only and is sent to this server only.",
    keyLabel: "API key",
    signIn: "Sign in",
    checkingKey: "Checking the key…",
    emptyKey: "Enter an API key.",
    badKeyChars: "A key has only Latin letters, digits and punctuation, without spaces.",
    badKey: "The server did not accept this key (401): check it and sign in again.",
    filters: "Filters",
    segment: "Segment",
    region: "Region",
    service: "Service",
    allServices: "All services",
    forecastTitle: "Demand forecast",
    csv: "Download CSV",
    csvFailed: "Could not download the CSV: {reason}",
    modelTitle: "Model",
    needsTitle: "Emerging needs",
    suggestionsTitle: "What to offer citizens",
    staffingTitle: "Service windows",
    footer: "needcast · forecasts with p10–p90 intervals · the data never leaves this server",
    loading: "Loading…",
    noSeries: "The server returned no forecast series.",
    noPlannerRole: "The key is valid but lacks the “planner” role: the segment list and the panels below are unavailable (403).",
    forbidden: "This panel needs the “{role}” role (or admin); this key does not have it (403).",
    notTrained: "The model is not trained or is still loading (503). Train it, then reload the page.",
    offline: "The server cannot be reached: check the connection.",
    notFound: "Not found (404): {detail}",
    conflict: "Unavailable (409): {detail}",
    serverError: "Server error ({status}): {detail}",
    rolePlanner: "planner",
    rolePortal: "portal",
    forecastSummary: "Forecast for {n} {unit} ({from} – {to}) · data until {until} · model v{version}",
    unitD: "days",
    unitW: "weeks",
    unitM: "months",
    legendP50: "median (p50)",
    legendBand: "p10–p90 interval",
    legendOff: "weekend",
    legendHoliday: "public holiday",
    total: "period total (p50): {p50}",
    chartAria: "{service}: forecast from {from} to {to}, daily median between {min} and {max}",
    point: "{date}: p50 {p50} (p10 {p10} – p90 {p90})",
    noForecast: "No forecast for this choice.",
    liveVersion: "Live version",
    trainedAt: "Trained",
    dataUntil: "Data until",
    wape: "WAPE error (backtest)",
    wapeModel: "model",
    wapeNaive: "seasonal naive",
    wapeBetter: "{pct} more accurate than the seasonal naive forecast",
    wapeWorse: "{pct} less accurate than the seasonal naive forecast",
    coverage: "p10–p90 interval coverage",
    coverageTarget: "target 80%",
    challengers: "Challengers",
    noChampion: "No champion model registered yet.",
    noNeedsRoute: "Emerging-needs detection is not enabled on this server yet.",
    noNeeds: "No emerging needs in this segment's feedback.",
    noFeedback: "No feedback from this segment.",
    growth: "growth ×{g}",
    rating: "rating {r}/5",
    noRating: "no ratings",
    volume: "{recent} recent texts, {baseline} in the baseline",
    firstSeen: "first seen {date}",
    keywords: "Keywords",
    examples: "Example texts",
    noSuggestions: "No suggestions for this segment.",
    suggestionsUnavailable: "Suggestions are not computed yet (503).",
    score: "score {s}",
    staffingCaption: "Windows per day to keep the wait under {wait} min: on the p90 demand of all segments, {hours} h working day, region {region}; services of segment {segment}, first {days} days.",
    staffingCell: "{date}: p90 {p90} requests, wait ≈ {w} min",
    noStaffing: "No workload data for this choice.",
  },
};

const state = {
  lang: localStorage.getItem(LANG_STORE) === "en" ? "en" : "ru",
  key: null,
  series: [],          // [{service, segment, region}] of every served series
  holidays: {},        // "YYYY-MM-DD" -> {ru, en}
  holidayYears: new Set(),
  global: null,        // () => text of the message under the filters
  run: 0,              // bumped by each sign-in and sign-out, so a late answer of an old one is dropped
};

const $ = (id) => document.getElementById(id);

// Each panel remembers how to draw its current state, so a language switch redraws it in place.
const panels = {};
for (const [name, id] of [["forecast", "panel-forecast"], ["models", "panel-models"], ["needs", "panel-needs"],
  ["suggestions", "panel-suggestions"], ["staffing", "panel-staffing"]]) {
  const section = $(id);
  panels[name] = { section, body: section.querySelector(".panel-body"), draw: null, token: 0 };
}

// ---------- text and formatting ----------

function t(id, vars = {}) {
  const text = I18N[state.lang][id] ?? I18N.ru[id] ?? id;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

const locale = () => (state.lang === "ru" ? "ru-RU" : "en-GB");
const num = (x, digits = 0) => (x === null || x === undefined || Number.isNaN(x) ? "—"
  : new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(x));
const pct = (x) => (x === null || x === undefined || Number.isNaN(x) ? "—"
  : new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(x));
const parseDay = (s) => new Date(`${String(s).slice(0, 10)}T00:00:00Z`);
const dayFmt = (s, opts) => new Intl.DateTimeFormat(locale(), { timeZone: "UTC", ...opts }).format(parseDay(s));
const fmtDate = (s) => (s ? dayFmt(s, { day: "2-digit", month: "2-digit", year: "numeric" }) : "—");
const fmtShort = (s) => dayFmt(s, { day: "2-digit", month: "2-digit" });
const fmtWeekday = (s) => dayFmt(s, { weekday: "short" });
const fmtDateTime = (s) => {
  if (!s) return "—";
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : new Intl.DateTimeFormat(locale(), {
    day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit",
  }).format(d);
};
const isWeekend = (s) => [0, 6].includes(parseDay(s).getUTCDay());
const holidayName = (s) => state.holidays[String(s).slice(0, 10)]?.[state.lang] ?? null;

// ---------- DOM helpers (text only) ----------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = String(text);
  return node;
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

async function api(path, { as = "json" } = {}) {
  let response;
  try {
    response = await fetch(path, { headers: { Authorization: `Bearer ${state.key}` }, cache: "no-store" });
  } catch {
    throw new ApiError(0, "network");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch { /* not JSON: keep the status text */ }
    if (response.status === 401) signOut("badKey");
    throw new ApiError(response.status, detail);
  }
  return as === "blob" ? response.blob() : response.json();
}

function errorText(err, role = "planner") {
  if (!(err instanceof ApiError)) return t("serverError", { status: "?", detail: String(err) });
  switch (err.status) {
    case 0: return t("offline");
    case 401: return t("badKey");
    case 403: return t("forbidden", { role: t(role === "portal" ? "rolePortal" : "rolePlanner") });
    case 404: return t("notFound", { detail: err.detail });
    case 409: return t("conflict", { detail: err.detail });
    case 503: return t("notTrained");
    default: return t("serverError", { status: err.status, detail: err.detail });
  }
}

// ---------- panels ----------

function show(name, panelState, draw) {
  const panel = panels[name];
  panel.draw = draw;
  panel.section.dataset.state = panelState;
  panel.section.setAttribute("aria-busy", panelState === "loading" ? "true" : "false");
  redraw(name);
}

function redraw(name) {
  const panel = panels[name];
  if (!panel.draw) return;
  panel.body.replaceChildren(...[panel.draw()].flat().filter(Boolean));
}

const message = (cls, text) => el("p", { class: `status ${cls}`, role: cls === "error" ? "alert" : null }, text);
const showLoading = (name) => show(name, "loading", () => message("loading", t("loading")));
const showEmpty = (name, id) => show(name, "empty", () => message("empty", t(id)));
const showError = (name, err, role) => show(name, "error", () => message("error", errorText(err, role)));

// Runs `load` for a panel, dropping answers that arrive after a newer request for the same panel.
async function load(name, fn) {
  const token = ++panels[name].token;
  showLoading(name);
  const current = () => token === panels[name].token;
  try {
    await fn(current);
  } catch (err) {
    if (!current()) return;
    if (err instanceof ApiError && err.status === 401) return; // signed out already
    showError(name, err, name === "suggestions" ? "portal" : "planner");
  }
}

// ---------- filters ----------

const selected = () => ({ segment: $("segment").value, region: $("region").value, service: $("service").value });
const unique = (xs) => [...new Set(xs)].sort((a, b) => a.localeCompare(b));

function fillSelect(select, values, keep, allLabel = null) {
  const options = values.map((v) => el("option", { value: v }, v));
  if (allLabel !== null) options.unshift(el("option", { value: "" }, allLabel));
  select.replaceChildren(...options);
  const allowed = allLabel !== null ? ["", ...values] : values;
  select.value = allowed.includes(keep) ? keep : allowed[0] ?? "";
}

function fillFilters() {
  let saved = {};
  try { saved = JSON.parse(sessionStorage.getItem(FILTERS_STORE) || "{}"); } catch { /* ignore a bad value */ }
  const keep = { ...selected(), ...saved };
  const segments = unique(state.series.map((s) => s.segment));
  fillSelect($("segment"), segments, keep.segment);
  narrowFilters(keep);
}

function narrowFilters(keep = selected()) {
  const seg = $("segment").value;
  const regions = unique(state.series.filter((s) => s.segment === seg).map((s) => s.region));
  fillSelect($("region"), regions, keep.region);
  const reg = $("region").value;
  const services = unique(state.series.filter((s) => s.segment === seg && s.region === reg).map((s) => s.service));
  fillSelect($("service"), services, keep.service, t("allServices"));
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  return q.toString();
}

// ---------- forecast chart ----------

async function ensureHolidays(dates) {
  const years = unique(dates.map((d) => String(d).slice(0, 4))).filter((y) => !state.holidayYears.has(y));
  await Promise.all(years.map(async (y) => {
    state.holidayYears.add(y);
    try {
      const r = await fetch(`/static/holidays/${y}.json`);
      if (r.ok) Object.assign(state.holidays, await r.json());
    } catch { /* the chart still works without holiday marks */ }
  }));
}

function loadForecast() {
  const f = selected();
  return load("forecast", async (current) => {
    const body = await api(`/v1/forecasts?${query(f)}`);
    await ensureHolidays(body.items.map((i) => i.date));
    if (!current()) return;
    if (!body.items.length) return showEmpty("forecast", "noForecast");
    const byService = new Map();
    for (const item of body.items) {
      if (!byService.has(item.service)) byService.set(item.service, []);
      byService.get(item.service).push(item);
    }
    for (const rows of byService.values()) rows.sort((a, b) => a.date.localeCompare(b.date));
    panels.forecast.section.dataset.selection = `${f.segment}|${f.region}|${f.service}`;
    show("forecast", "ready", () => drawForecast(body, byService));
  });
}

function drawForecast(body, byService) {
  const dates = unique(body.items.map((i) => i.date));
  const summary = el("p", { class: "muted summary" }, t("forecastSummary", {
    n: dates.length, unit: t(`unit${["W", "M"].includes(body.freq) ? body.freq : "D"}`), from: fmtDate(dates[0]),
    to: fmtDate(dates[dates.length - 1]), until: fmtDate(body.data_until), version: body.model.version,
  }));
  const legend = el("ul", { class: "legend" },
    el("li", {}, el("span", { class: "swatch line", "aria-hidden": "true" }), t("legendP50")),
    el("li", {}, el("span", { class: "swatch band", "aria-hidden": "true" }), t("legendBand")),
    body.freq === "D" ? el("li", {}, el("span", { class: "swatch off", "aria-hidden": "true" }), t("legendOff")) : null,
    body.freq === "D" ? el("li", {}, el("span", { class: "swatch holiday", "aria-hidden": "true" }), t("legendHoliday"))
      : null);
  const single = byService.size === 1;
  const grid = el("div", { class: single ? "charts single" : "charts" });
  for (const [service, rows] of byService) {
    const total = rows.reduce((acc, r) => acc + r.p50, 0);
    const figure = el("figure", { class: "chart", "data-service": service },
      el("figcaption", {}, el("strong", {}, service),
        el("span", { class: "muted", title: t("total", { p50: num(total) }) }, `Σ p50 ${num(total)}`)));
    grid.append(figure);
    // Drawn at the real width once the figure is laid out, so text keeps its size at any width.
    requestAnimationFrame(() => figure.append(lineChart(rows, service, body.freq, figure.clientWidth || 320,
      single ? 300 : 170)));
  }
  return [summary, legend, grid];
}

// A round tick step giving about `count` steps up to `x`, and the top of the axis.
function niceScale(x, count = 4) {
  const raw = Math.max(x, 1e-9) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= raw);
  return { step, top: Math.max(step, Math.ceil(x / step) * step) };
}

function lineChart(rows, service, freq, width, height) {
  const m = { top: 8, right: 10, bottom: 22, left: 40 };
  const w = Math.max(width, 200) - m.left - m.right;
  const h = height - m.top - m.bottom;
  const { step: tick, top } = niceScale(Math.max(...rows.map((r) => r.p90)));
  const n = rows.length;
  const step = w / Math.max(n, 1);
  const x = (i) => m.left + step * (i + 0.5);
  const y = (v) => m.top + h - (v / top) * h;
  const p50s = rows.map((r) => r.p50);
  const chart = svg("svg", {
    width: Math.max(width, 200), height, role: "img", class: "line-chart",
    "aria-label": t("chartAria", { service, from: fmtDate(rows[0].date), to: fmtDate(rows[n - 1].date),
      min: num(Math.min(...p50s), 1), max: num(Math.max(...p50s), 1) }),
  });
  if (freq === "D") {
    rows.forEach((r, i) => {
      const holiday = holidayName(r.date);
      if (holiday || isWeekend(r.date)) {
        chart.append(svg("rect", { x: m.left + step * i, y: m.top, width: step, height: h,
          class: holiday ? "day-holiday" : "day-off" }));
      }
    });
  }
  for (let v = 0; v <= top + tick / 2; v += tick) {
    chart.append(svg("line", { x1: m.left, x2: m.left + w, y1: y(v), y2: y(v), class: "grid" }));
    chart.append(svg("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, num(v, 1)));
  }
  const labelEvery = freq === "D" ? 7 : Math.max(1, Math.ceil(n / 6));
  rows.forEach((r, i) => {
    if (i % labelEvery === 0) {
      chart.append(svg("text", { x: x(i), y: m.top + h + 16, "text-anchor": "middle", class: "tick" }, fmtShort(r.date)));
    }
  });
  const upper = rows.map((r, i) => `${x(i).toFixed(1)},${y(r.p90).toFixed(1)}`);
  const lower = rows.map((r, i) => `${x(i).toFixed(1)},${y(r.p10).toFixed(1)}`).reverse();
  chart.append(svg("polygon", { points: [...upper, ...lower].join(" "), class: "band" }));
  chart.append(svg("polyline", { points: rows.map((r, i) => `${x(i).toFixed(1)},${y(r.p50).toFixed(1)}`).join(" "),
    class: "p50" }));
  // One invisible column per period carries its numbers as a hover tooltip.
  rows.forEach((r, i) => {
    const holiday = holidayName(r.date);
    const label = `${fmtWeekday(r.date)} ${t("point", { date: fmtDate(r.date), p50: num(r.p50, 1),
      p10: num(r.p10, 1), p90: num(r.p90, 1) })}${holiday ? ` · ${holiday}` : ""}`;
    const hit = svg("rect", { x: m.left + step * i, y: m.top, width: step, height: h, class: "hit" });
    hit.append(svg("title", {}, label));
    chart.append(hit);
  });
  chart.append(svg("line", { x1: m.left, x2: m.left, y1: m.top, y2: m.top + h, class: "axis" }));
  return chart;
}

async function downloadCsv() {
  const f = selected();
  const button = $("csv");
  button.disabled = true;
  try {
    const blob = await api(`/v1/forecasts?${query({ ...f, format: "csv" })}`, { as: "blob" });
    const url = URL.createObjectURL(blob);
    const name = ["needcast-forecast", f.segment, f.region, f.service].filter(Boolean).join("-")
      .replace(/[^\w.-]+/g, "_");
    const link = el("a", { href: url, download: `${name}.csv`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    setGlobal(() => t("csvFailed", { reason: errorText(err) }), true);
  } finally {
    button.disabled = false;
  }
}

// ---------- model info ----------

function loadModels() {
  return load("models", async (current) => {
    const body = await api("/v1/models");
    if (!current()) return;
    if (!body.champion) return showEmpty("models", "noChampion");
    show("models", "ready", () => drawModels(body));
  });
}

function drawModels(body) {
  const c = body.champion;
  const mt = c.metrics || {};
  const wape = mt.wape;
  const naive = mt.naive_wape;
  const rows = [
    [t("liveVersion"), body.live_version ? `v${body.live_version}` : "—"],
    [t("trainedAt"), fmtDateTime(c.created_at)],
    [t("dataUntil"), fmtDate(c.data_until)],
  ];
  const dl = el("dl", { class: "facts" }, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const parts = [dl];
  if (wape !== undefined) {
    const scale = Math.max(wape, naive ?? 0) || 1;
    const bar = (label, value, cls) => {
      const fill = el("span", { class: `bar-fill ${cls}` });
      fill.style.width = `${Math.min(100, (100 * value) / scale).toFixed(1)}%`; // CSSOM: allowed by the CSP
      return el("div", { class: "bar-row" }, el("span", { class: "bar-label" }, label),
        el("span", { class: "bar", "aria-hidden": "true" }, fill), el("span", { class: "bar-value" }, pct(value)));
    };
    parts.push(el("h3", {}, t("wape")), bar(t("wapeModel"), wape, "model"));
    if (naive !== undefined) {
      parts.push(bar(t("wapeNaive"), naive, "naive"));
      const gain = naive ? 1 - wape / naive : 0;
      parts.push(el("p", { class: gain >= 0 ? "good" : "warn" },
        t(gain >= 0 ? "wapeBetter" : "wapeWorse", { pct: pct(Math.abs(gain)) })));
    }
  }
  if (mt.coverage !== undefined) {
    parts.push(el("h3", {}, t("coverage")),
      el("p", {}, el("strong", {}, pct(mt.coverage)), " ", el("span", { class: "muted" }, `(${t("coverageTarget")})`)));
  }
  if (body.challengers?.length) {
    parts.push(el("p", { class: "muted" }, `${t("challengers")}: `,
      body.challengers.map((ch) => `v${ch.version} (WAPE ${pct(ch.metrics?.wape)})`).join(", ")));
  }
  return parts;
}

// ---------- emerging needs ----------

function loadNeeds() {
  const { segment } = selected();
  return load("needs", async (current) => {
    let body;
    try {
      body = await api(`/v1/needs/emerging?${query({ segment, limit: 5 })}`);
    } catch (err) {
      if (!current()) return;
      // A 404 naming the segment means "no feedback from it"; any other 404 means the route is absent.
      if (err instanceof ApiError && err.status === 404) {
        return showEmpty("needs", String(err.detail).startsWith("segment") ? "noFeedback" : "noNeedsRoute");
      }
      throw err;
    }
    if (!current()) return;
    if (!body.items?.length) return showEmpty("needs", "noNeeds");
    show("needs", "ready", () => el("ol", { class: "needs" }, body.items.map(drawNeed)));
  });
}

function drawNeed(item) {
  const badges = el("p", { class: "badges" },
    el("span", { class: "badge growth" }, t("growth", { g: num(item.growth, 1) })),
    el("span", { class: "badge" }, item.mean_rating === null || item.mean_rating === undefined
      ? t("noRating") : `★ ${t("rating", { r: num(item.mean_rating, 1) })}`),
    el("span", { class: "badge" }, t("firstSeen", { date: fmtDate(item.first_seen) })));
  const examples = (item.examples || []).slice(0, 2).map((e) =>
    el("li", {}, el("blockquote", {}, e.text), el("span", { class: "muted small" }, fmtDateTime(e.created_at))));
  return el("li", { class: "need" },
    el("h3", {}, item.label),
    badges,
    el("p", { class: "muted small" }, t("volume", { recent: num(item.recent_count), baseline: num(item.baseline_count) })),
    item.keywords?.length ? el("p", { class: "keywords", "aria-label": t("keywords") },
      item.keywords.slice(0, 6).map((k) => el("span", { class: "chip" }, k))) : null,
    examples.length ? el("ul", { class: "examples", "aria-label": t("examples") }, examples) : null);
}

// ---------- suggestions ----------

function loadSuggestions() {
  const { segment } = selected();
  return load("suggestions", async (current) => {
    let body;
    try {
      body = await api(`/v1/segments/${encodeURIComponent(segment)}/suggestions?${query({ lang: state.lang, limit: 5 })}`);
    } catch (err) {
      if (!current()) return;
      if (err instanceof ApiError && err.status === 503) return showEmpty("suggestions", "suggestionsUnavailable");
      throw err;
    }
    if (!current()) return;
    if (!body.items?.length) return showEmpty("suggestions", "noSuggestions");
    show("suggestions", "ready", () => el("ol", { class: "suggestions" }, body.items.map((s) =>
      el("li", {},
        el("h3", {}, s.name, " ", el("span", { class: "muted small" }, `${s.service} · ${t("score", { s: num(s.score, 2) })}`)),
        el("ul", { class: "reasons" }, s.reasons.map((r) => el("li", {}, r)))))));
  });
}

// ---------- staffing ----------

function loadStaffing() {
  const { segment, region, service } = selected();
  // Windows serve every segment, so the numbers are for all of them; the rows are the segment's services.
  const services = service ? [service]
    : unique(state.series.filter((s) => s.segment === segment && s.region === region).map((s) => s.service));
  return load("staffing", async (current) => {
    const body = await api(`/v1/staffing?${query({ region, service })}`);
    await ensureHolidays(body.items.map((i) => i.date));
    if (!current()) return;
    const items = body.items.filter((i) => services.includes(i.service));
    if (!items.length) return showEmpty("staffing", "noStaffing");
    show("staffing", "ready", () => drawStaffing({ ...body, items }, segment, region));
  });
}

function drawStaffing(body, segment, region) {
  const days = unique(body.items.map((i) => i.date)).slice(0, STAFFING_DAYS);
  const services = unique(body.items.map((i) => i.service));
  const cell = new Map(body.items.map((i) => [`${i.service}|${i.date}`, i]));
  const dayClass = (d) => (holidayName(d) ? "holiday" : isWeekend(d) ? "off" : null);
  const head = el("tr", {}, el("th", { scope: "col" }, t("service")), days.map((d) =>
    el("th", { scope: "col", class: dayClass(d), title: holidayName(d) },
      el("span", { class: "wd" }, fmtWeekday(d)), el("br"), fmtShort(d))));
  const rows = services.map((s) => el("tr", {}, el("th", { scope: "row" }, s), days.map((d) => {
    const i = cell.get(`${s}|${d}`);
    if (!i) return el("td", { class: dayClass(d) }, "—");
    return el("td", {
      class: [dayClass(d), i.windows === 0 ? "zero" : null].filter(Boolean).join(" ") || null,
      title: t("staffingCell", { date: fmtDate(d), p90: num(i.p90, 1), w: num(i.expected_wait_minutes, 1) }),
    }, num(i.windows));
  })));
  return [
    el("p", { class: "muted summary" }, t("staffingCaption", { wait: num(body.wait_minutes), hours: num(body.working_hours),
      region, segment, days: days.length })),
    el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": t("staffingTitle") },
      el("table", { class: "staffing" }, el("thead", {}, head), el("tbody", {}, rows))),
  ];
}

// ---------- sign-in, language, start ----------

// The message under the filters; `text` is a function so a language switch can redraw it.
function setGlobal(text = null, isError = false) {
  state.global = text;
  const node = $("global-status");
  node.textContent = text ? text() : "";
  node.classList.toggle("error", isError);
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  document.title = t("pageTitle");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-aria]")) node.setAttribute("aria-label", t(node.dataset.i18nAria));
  const toggle = $("lang");
  toggle.textContent = t("langButton");
  toggle.setAttribute("aria-label", t("langAria"));
  toggle.setAttribute("lang", state.lang === "ru" ? "en" : "ru");
  const all = $("service").querySelector('option[value=""]');
  if (all) all.textContent = t("allServices");
  if (state.global) $("global-status").textContent = state.global();
  const authError = $("auth-error");
  if (!authError.hidden && authError.dataset.i18n) authError.textContent = t(authError.dataset.i18n);
}

function switchLanguage() {
  state.lang = state.lang === "ru" ? "en" : "ru";
  localStorage.setItem(LANG_STORE, state.lang);
  applyLanguage();
  for (const name of Object.keys(panels)) if (name !== "suggestions") redraw(name);
  if (state.key && state.series.length) loadSuggestions(); // reasons come from the server in one language
}

function authMessage(id) {
  const node = $("auth-error");
  node.dataset.i18n = id || "";
  node.textContent = id ? t(id) : "";
  node.hidden = !id;
}

function signOut(reasonId = null) {
  state.run++;
  state.key = null;
  state.series = [];
  for (const id of ["segment", "region", "service"]) $(id).replaceChildren();
  setGlobal();
  sessionStorage.removeItem(KEY_STORE);
  sessionStorage.removeItem(FILTERS_STORE);
  for (const panel of Object.values(panels)) { panel.token++; panel.draw = null; panel.body.replaceChildren(); }
  $("dashboard").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  authMessage(reasonId);
  $("key-input").value = "";
  $("key-input").focus();
}

async function start() {
  const run = ++state.run;
  if (!/^[\x21-\x7e]{1,512}$/.test(state.key)) return signOut("badKeyChars"); // a header can carry only these
  $("sign-in").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
  setGlobal(() => t("checkingKey"));
  for (const name of Object.keys(panels)) showLoading(name);
  loadModels();
  try {
    const probe = await api("/v1/forecasts?horizon=1");
    if (run !== state.run) return;
    state.series = probe.items.map(({ service, segment, region }) => ({ service, segment, region }));
  } catch (err) {
    if (run !== state.run || (err instanceof ApiError && err.status === 401)) return;
    setGlobal(() => (err instanceof ApiError && err.status === 403 ? t("noPlannerRole") : errorText(err)), true);
    for (const name of ["forecast", "staffing", "needs", "suggestions"]) showError(name, err, "planner");
    return;
  }
  setGlobal();
  if (!state.series.length) {
    setGlobal(() => t("noSeries"), true);
    for (const name of ["forecast", "staffing", "needs", "suggestions"]) showEmpty(name, "noSeries");
    return;
  }
  fillFilters();
  refresh();
}

function refresh(which = ["forecast", "staffing", "needs", "suggestions"]) {
  sessionStorage.setItem(FILTERS_STORE, JSON.stringify(selected()));
  if (which.includes("forecast")) loadForecast();
  if (which.includes("staffing")) loadStaffing();
  if (which.includes("needs")) loadNeeds();
  if (which.includes("suggestions")) loadSuggestions();
}

// A key in the fragment (#key=...) never reaches the server; take it and clean the address bar.
function takeFragmentKey() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (!fragment.get("key")) return false;
  sessionStorage.setItem(KEY_STORE, fragment.get("key"));
  history.replaceState(null, "", location.pathname + location.search);
  return true;
}

function init() {
  takeFragmentKey();
  applyLanguage();
  $("lang").addEventListener("click", switchLanguage);
  $("sign-out").addEventListener("click", () => signOut());
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return authMessage("emptyKey");
    authMessage(null);
    state.key = key;
    sessionStorage.setItem(KEY_STORE, key);
    start();
  });
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("segment").addEventListener("change", () => { narrowFilters(); refresh(); });
  $("region").addEventListener("change", () => { narrowFilters(); refresh(["forecast", "staffing"]); });
  $("service").addEventListener("change", () => refresh(["forecast", "staffing"]));
  $("csv").addEventListener("click", downloadCsv);
  let resizeFrame = 0;
  let width = window.innerWidth;
  window.addEventListener("resize", () => {
    if (window.innerWidth === width) return; // phones fire resize when the address bar hides
    width = window.innerWidth;
    cancelAnimationFrame(resizeFrame);
    resizeFrame = requestAnimationFrame(() => redraw("forecast"));
  });
  window.addEventListener("hashchange", () => {
    if (!takeFragmentKey()) return;
    state.key = sessionStorage.getItem(KEY_STORE);
    authMessage(null);
    start();
  });
  state.key = sessionStorage.getItem(KEY_STORE);
  if (state.key) start();
  else $("key-input").focus();
}

init();
