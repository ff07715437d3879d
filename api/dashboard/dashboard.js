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
    xlsx: "Скачать Excel",
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
    unitQ: "кв.",
    periodLabel: "Суммы",
    periodD: "по дням",
    periodW: "по неделям",
    periodM: "по месяцам",
    periodQ: "по кварталам",
    periodSummary: "Суммы за периоды: среднее — сумма дней, интервал учитывает связь ошибок дней (калибровка на бэктесте).",
    partialNote: "Неполные периоды на краях прогноза заштрихованы: в них сумма только дней прогноза.",
    pointPartial: "неполный период: {days} из {total} дн.",
    legendP50: "медиана (p50)",
    legendBand: "интервал p10–p90",
    legendOff: "выходной",
    legendHoliday: "праздник",
    legendActual: "факт",
    legendBacktest: "бэктест: прогноз отложенных периодов",
    legendEvent: "событие",
    selectionTotal: "Всего по выбору",
    chartKeys: "Стрелки влево и вправо показывают значения по дням.",
    pointActual: "факт {v}",
    pointBacktest: "бэктест p50 {p50} ({p10} – {p90})",
    pointForecast: "прогноз p50 {p50} ({p10} – {p90})",
    total: "всего за период (p50): {p50}",
    chartAria: "{service}: прогноз от {from} до {to}, медиана в день от {min} до {max}",
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
    needsTraining: "Модель потребностей ещё обучается на отзывах: список появится здесь через минуту-другую (страница обновит его сама).",
    noFeedback: "Нет отзывов от этого сегмента.",
    growth: "рост ×{g}",
    rating: "оценка {r} из 5",
    noRating: "без оценок",
    suppressed: "Скрыто: меньше {n} отзывов — так мало, что можно узнать человека.",
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
    need_new: "новая",
    need_acknowledged: "принята к сведению",
    need_in_work: "в работе",
    need_resolved: "решена",
    need_dismissed: "отклонена",
    needStatus: "Статус",
    needOwner: "Ответственный",
    needComment: "Комментарий",
    needFormAria: "Работа с потребностью «{label}»",
    needLast: "Последний комментарий: «{comment}» ({by}, {at})",
    save: "Сохранить",
    needsCsv: "Скачать CSV",
    eventsTitle: "События: что если",
    eventName: "Название события",
    eventStart: "Начало",
    eventEnd: "Конец",
    eventKind: "Вид",
    eventService: "Услуга",
    eventScenario: "Рассчитать сценарий",
    kind_campaign: "информационная кампания",
    kind_law_change: "изменение закона",
    kind_deadline: "крайний срок",
    kind_other: "другое",
    status_past: "прошло",
    status_in_force: "идёт",
    status_planned: "запланировано",
    all: "все",
    registeredEvents: "Зарегистрированные события",
    noEvents: "Событий пока нет.",
    storedScenarios: "Сохранённые сценарии",
    noScenarios: "Сценариев пока нет: заполните форму выше.",
    scenarioDelta: "{delta} обращений ({pct})",
    scenarioTotals: "без события {without} · с событием {with} · {delta} ({pct})",
    withoutEvent: "без события (p50 и p10–p90)",
    withEvent: "с событием (p50 и p10–p90)",
    notEventAware: "Модель не знает, как события меняют спрос: в истории нет зарегистрированных событий. Зарегистрируйте прошлые кампании и переобучите модель.",
    eventRegistered: "Событие зарегистрировано: прогноз учтёт его после обновления.",
    registerEvent: "Зарегистрировать событие",
    delete: "Удалить",
    deleteEvent: "Удалить событие «{name}»",
    scenarioAria: "Сценарий: прогноз с событием и без него, с {from} по {to}",
    scenarioPoint: "{date}: без события {without}, с событием {with} (p50)",
    eventIncomplete: "Укажите название, начало и конец события.",
    learnedEffect: "выученный эффект {effect} обращений ({pct} от {actual})",
    eventEndBeforeStart: "Конец события раньше начала.",
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
    xlsx: "Download Excel",
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
    unitQ: "quarters",
    periodLabel: "Sums",
    periodD: "by day",
    periodW: "by week",
    periodM: "by month",
    periodQ: "by quarter",
    periodSummary: "Sums over periods: the mean adds up the days; the band keeps the days' dependence (calibrated on the backtest).",
    partialNote: "Partial periods at the forecast's edges are hatched: they sum the forecast's days only.",
    pointPartial: "partial period: {days} of {total} days",
    legendP50: "median (p50)",
    legendBand: "p10–p90 interval",
    legendOff: "weekend",
    legendHoliday: "public holiday",
    legendActual: "actual",
    legendBacktest: "backtest: forecast of held-out periods",
    legendEvent: "event",
    selectionTotal: "Selection total",
    chartKeys: "Left and right arrow keys read the values period by period.",
    pointActual: "actual {v}",
    pointBacktest: "backtest p50 {p50} ({p10} – {p90})",
    pointForecast: "forecast p50 {p50} ({p10} – {p90})",
    total: "period total (p50): {p50}",
    chartAria: "{service}: forecast from {from} to {to}, daily median between {min} and {max}",
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
    needsTraining: "The needs model is still training on the feedback: the list appears here in a minute or two (the page updates it itself).",
    noFeedback: "No feedback from this segment.",
    growth: "growth ×{g}",
    rating: "rating {r}/5",
    noRating: "no ratings",
    suppressed: "Hidden: fewer than {n} respondents, few enough to identify a person.",
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
    need_new: "new",
    need_acknowledged: "acknowledged",
    need_in_work: "in work",
    need_resolved: "resolved",
    need_dismissed: "dismissed",
    needStatus: "Status",
    needOwner: "Owner",
    needComment: "Comment",
    needFormAria: "Work on the need “{label}”",
    needLast: "Last comment: “{comment}” ({by}, {at})",
    save: "Save",
    needsCsv: "Download CSV",
    eventsTitle: "Events: what if",
    eventName: "Event name",
    eventStart: "Start",
    eventEnd: "End",
    eventKind: "Kind",
    eventService: "Service",
    eventScenario: "Compute the scenario",
    kind_campaign: "information campaign",
    kind_law_change: "law change",
    kind_deadline: "deadline",
    kind_other: "other",
    status_past: "past",
    status_in_force: "in force",
    status_planned: "planned",
    all: "all",
    registeredEvents: "Registered events",
    noEvents: "No events yet.",
    storedScenarios: "Stored scenarios",
    noScenarios: "No scenarios yet: fill in the form above.",
    scenarioDelta: "{delta} requests ({pct})",
    scenarioTotals: "without the event {without} · with it {with} · {delta} ({pct})",
    withoutEvent: "without the event (p50 and p10–p90)",
    withEvent: "with the event (p50 and p10–p90)",
    notEventAware: "The model does not know how events change demand: no registered event lies in its history. Register past campaigns and retrain.",
    eventRegistered: "Event registered: forecasts account for it after the next refresh.",
    registerEvent: "Register the event",
    delete: "Delete",
    deleteEvent: "Delete the event “{name}”",
    scenarioAria: "Scenario: the forecast with and without the event, {from} to {to}",
    scenarioPoint: "{date}: without the event {without}, with it {with} (p50)",
    eventIncomplete: "Give the event's name, start and end.",
    learnedEffect: "learned effect {effect} requests ({pct} of {actual})",
    eventEndBeforeStart: "The event ends before it starts.",
  },
};

const state = {
  lang: localStorage.getItem(LANG_STORE) === "en" ? "en" : "ru",
  key: null,
  series: [],          // [{service, segment, region}] of every served series
  events: [],          // registered events (/v1/events)
  scenarios: [],       // stored what-if scenarios, newest first
  scenario: null,      // the scenario shown: the one just computed or picked from the list
  names: { service: {}, segment: {}, region: {} }, // code -> {ru, en} from /v1/catalogues
  holidays: {},        // "YYYY-MM-DD" -> {ru, en}
  holidayYears: new Set(),
  global: null,        // () => text of the message under the filters
  freq: null,          // the served model's frequency (D, W, M): which period sums it offers
  run: 0,              // bumped by each sign-in and sign-out, so a late answer of an old one is dropped
};

const $ = (id) => document.getElementById(id);

// Each panel remembers how to draw its current state, so a language switch redraws it in place.
const panels = {};
for (const [name, id] of [["forecast", "panel-forecast"], ["models", "panel-models"], ["needs", "panel-needs"],
  ["suggestions", "panel-suggestions"], ["staffing", "panel-staffing"], ["events", "panel-events"]]) {
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
// The name of a service, segment or region code in the page's language; an unknown code is shown as it is.
const label = (kind, code) => {
  const names = state.names[kind]?.[code];
  return (names && (names[state.lang] || names.ru || names.en)) || code;
};

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

async function api(path, { as = "json", method = "GET", body = undefined } = {}) {
  let response;
  const headers = { Authorization: `Bearer ${state.key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  try {
    response = await fetch(path, { method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
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
  if (response.status === 204) return null;
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

function fillSelect(select, values, keep, allLabel = null, kind = null) {
  const options = values.map((v) => el("option", { value: v }, kind ? label(kind, v) : v));
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
  fillSelect($("segment"), segments, keep.segment, null, "segment");
  narrowFilters(keep);
}

function narrowFilters(keep = selected()) {
  const seg = $("segment").value;
  const regions = unique(state.series.filter((s) => s.segment === seg).map((s) => s.region));
  fillSelect($("region"), regions, keep.region, null, "region");
  const reg = $("region").value;
  const services = unique(state.series.filter((s) => s.segment === seg && s.region === reg).map((s) => s.service));
  fillSelect($("service"), services, keep.service, t("allServices"), "service");
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  return q.toString();
}

// ---------- periods: the forecast summed to weeks, months or quarters by the server ----------

const PERIODS = { week: "W", month: "M", quarter: "Q" };
const COARSER = { D: ["W", "M", "Q"], W: [], M: ["Q"] };

// The period choices of a model forecasting by `freq`: its own periods first, then those it sums to whole.
function fillPeriods(freq = state.freq || "D") {
  const select = $("period");
  const keep = select.value;
  const choices = Object.entries(PERIODS).filter(([, code]) => (COARSER[freq] ?? []).includes(code));
  select.replaceChildren(el("option", { value: "" }, t(`period${freq}`)),
    ...choices.map(([value, code]) => el("option", { value }, t(`period${code}`))));
  select.value = choices.some(([value]) => value === keep) ? keep : "";
  select.disabled = !choices.length;
}

// The first day of the period `code` (W: ISO week, M, Q) holding day `d`.
function periodStart(d, code) {
  const day = parseDay(d);
  if (code === "W") day.setUTCDate(day.getUTCDate() - ((day.getUTCDay() + 6) % 7));
  else {
    if (code === "Q") day.setUTCMonth(day.getUTCMonth() - (day.getUTCMonth() % 3));
    day.setUTCDate(1);
  }
  return day.toISOString().slice(0, 10);
}

function periodLastDay(d, code) {
  const end = parseDay(d);
  if (code === "D") return d;
  if (code === "W") end.setUTCDate(end.getUTCDate() + 6);
  else { end.setUTCMonth(end.getUTCMonth() + (code === "Q" ? 3 : 1)); end.setUTCDate(0); }
  return end.toISOString().slice(0, 10);
}

const daysOf = (from, to) => Math.round((parseDay(to) - parseDay(from)) / 86_400_000) + 1;

// History summed to the chosen periods, whole periods only (a partial one would read as a drop); the
// backtest is left out: its period bands would need the server's calibration.
function historyByPeriod(past, code, freq) {
  if (!past) return null;
  const sums = new Map();
  for (const item of past.items) {
    const start = periodStart(item.date, code);
    const key = `${item.service}|${item.segment}|${item.region}|${start}`;
    const days = daysOf(item.date, periodLastDay(item.date, freq));
    const s = sums.get(key) ?? { ...item, date: start, actual: 0, days: 0, backtest_p50: null };
    s.actual += item.actual;
    s.days += days;
    sums.set(key, s);
  }
  const items = [...sums.values()].filter((s) => s.days === daysOf(s.date, periodLastDay(s.date, code)));
  return { ...past, items };
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
  const period = $("period").value;
  // Enough history for whole months and quarters to show (and a year of a monthly model's months).
  const weeks = { month: 26, quarter: 53 }[period] ?? (state.freq === "M" ? 52 : null);
  return load("forecast", async (current) => {
    const total = !f.service; // the whole selection, drawn above its services
    const history = (params) => api(`/v1/history?${query({ ...params, weeks })}`).catch((err) => {
      if (err instanceof ApiError && err.status === 401) throw err;
      return null; // the chart still shows the forecast without its history
    });
    const [body, dailyPast, sum, dailySumPast, events] = await Promise.all([
      api(`/v1/forecasts?${query({ ...f, period })}`), history(f),
      total ? api(`/v1/forecasts?${query({ ...f, aggregate: true, period })}`) : null,
      total ? history({ ...f, aggregate: true }) : null,
      api("/v1/events").catch((err) => {
        if (err instanceof ApiError && err.status === 401) throw err;
        return null; // the chart still shows the forecast without event marks
      }),
    ]);
    if (events) state.events = events.items;
    if (body.freq !== state.freq) { state.freq = body.freq; fillPeriods(); }
    const code = period ? PERIODS[period] : body.freq;
    const past = period ? historyByPeriod(dailyPast, code, body.freq) : dailyPast;
    const sumPast = period ? historyByPeriod(dailySumPast, code, body.freq) : dailySumPast;
    await ensureHolidays([...body.items.map((i) => i.date), ...(past?.items ?? []).map((i) => i.date)]);
    if (!current()) return;
    if (!body.items.length) return showEmpty("forecast", "noForecast");
    const bySeries = new Map();
    const add = (service, key, item) => {
      if (!bySeries.has(service)) bySeries.set(service, { rows: [], past: [] });
      bySeries.get(service)[key].push(item);
    };
    if (sum && new Set(body.items.map((i) => i.service)).size > 1) {
      for (const item of sum.items) add("*", "rows", item);
      for (const item of sumPast?.items ?? []) add("*", "past", item);
    }
    for (const item of body.items) add(item.service, "rows", item);
    for (const item of past?.items ?? []) if (bySeries.has(item.service)) add(item.service, "past", item);
    for (const s of bySeries.values()) {
      s.rows.sort((a, b) => a.date.localeCompare(b.date));
      s.past.sort((a, b) => a.date.localeCompare(b.date));
    }
    panels.forecast.section.dataset.selection = `${f.segment}|${f.region}|${f.service}`;
    panels.forecast.section.dataset.period = period;
    show("forecast", "ready", () => drawForecast(body, bySeries, f, past, code));
  });
}

function drawForecast(body, bySeries, f, past, code = body.freq) {
  const dates = unique(body.items.map((i) => i.date));
  const last = body.items.find((i) => i.date === dates[dates.length - 1]);
  const summary = el("p", { class: "muted summary" }, t("forecastSummary", {
    n: dates.length, unit: t(`unit${["W", "M", "Q"].includes(code) ? code : "D"}`), from: fmtDate(dates[0]),
    to: fmtDate(last?.period_end ?? dates[dates.length - 1]), until: fmtDate(body.data_until),
    version: body.model.version,
  }));
  if (body.period) {
    summary.append(el("br"), t("periodSummary"));
    if (body.items.some((i) => i.partial)) summary.append(" ", t("partialNote"));
  }
  const hasBacktest = (past?.items ?? []).some((i) => i.backtest_p50 !== null);
  const legend = el("ul", { class: "legend" },
    past ? el("li", {}, el("span", { class: "swatch actual", "aria-hidden": "true" }), t("legendActual")) : null,
    hasBacktest ? el("li", {}, el("span", { class: "swatch backtest", "aria-hidden": "true" }), t("legendBacktest")) : null,
    el("li", {}, el("span", { class: "swatch line", "aria-hidden": "true" }), t("legendP50")),
    el("li", {}, el("span", { class: "swatch band", "aria-hidden": "true" }), t("legendBand")),
    el("li", {}, el("span", { class: "swatch event", "aria-hidden": "true" }), t("legendEvent")),
    code === "D" ? el("li", {}, el("span", { class: "swatch off", "aria-hidden": "true" }), t("legendOff")) : null,
    code === "D" ? el("li", {}, el("span", { class: "swatch holiday", "aria-hidden": "true" }), t("legendHoliday"))
      : null);
  const single = bySeries.size === 1;
  const grid = el("div", { class: single ? "charts single" : "charts" });
  for (const [service, { rows, past: hist }] of bySeries) {
    const total = rows.reduce((acc, r) => acc + r.p50, 0);
    const name = service === "*" ? t("selectionTotal") : label("service", service);
    const figure = el("figure", { class: service === "*" ? "chart total" : "chart", "data-service": service },
      el("figcaption", {}, el("strong", { title: service === "*" ? null : service }, name),
        el("span", { class: "muted", title: t("total", { p50: num(total) }) }, `Σ p50 ${num(total)}`)));
    const readout = el("p", { class: "readout muted small", "aria-hidden": "true" }, "\u00a0");
    grid.append(figure);
    // Drawn at the real width once the figure is laid out, so text keeps its size at any width.
    requestAnimationFrame(() => {
      figure.append(lineChart(rows, hist, name, code, figure.clientWidth || 320, single || service === "*" ? 280 : 180,
        { ...f, service: service === "*" ? "" : service }, readout));
      figure.append(readout);
    });
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

// Events whose scope covers the chart's selection (an empty list means all; a total covers every service).
function eventsFor(scope) {
  const covers = (codes, code) => !codes.length || !code || codes.includes(code);
  return state.events.filter((e) => covers(e.services, scope.service) && covers(e.segments, scope.segment)
    && covers(e.regions, scope.region));
}

// Text of one period: actual and backtest for the past, forecast for the future, holiday and events.
function pointText(p, events, freq = "D") {
  const parts = [freq === "D" ? `${fmtWeekday(p.date)} ${fmtDate(p.date)}`
    : `${fmtDate(p.date)} – ${fmtDate(periodLastDay(p.date, freq))}`];
  if (p.fc?.partial) parts.push(t("pointPartial", { days: p.fc.days, total: daysOf(p.date, p.fc.period_end) }));
  if (p.actual !== undefined) parts.push(t("pointActual", { v: num(p.actual, 1) }));
  if (p.bt) parts.push(t("pointBacktest", { p50: num(p.bt.p50, 1), p10: num(p.bt.p10, 1), p90: num(p.bt.p90, 1) }));
  if (p.fc) parts.push(t("pointForecast", { p50: num(p.fc.p50, 1), p10: num(p.fc.p10, 1), p90: num(p.fc.p90, 1) }));
  const holiday = holidayName(p.date);
  if (holiday) parts.push(holiday);
  for (const e of events) if (e.start <= p.date && p.date <= e.end) parts.push(`◆ ${e.name}`);
  return parts.join(" · ");
}

function lineChart(rows, hist, name, freq, width, height, scope, readout) {
  const points = [
    ...hist.map((r) => ({ date: r.date, actual: r.actual,
      bt: r.backtest_p50 === null || r.backtest_p50 === undefined ? null
        : { p10: r.backtest_p10, p50: r.backtest_p50, p90: r.backtest_p90 } })),
    ...rows.map((r) => ({ date: r.date, fc: r })),
  ];
  const n = points.length;
  const highest = Math.max(...points.map((p) => Math.max(p.actual ?? 0, p.bt?.p90 ?? 0, p.fc?.p90 ?? 0)));
  const { step: tick, top } = niceScale(highest);
  // Room for the widest tick label (sums over months and quarters run to six digits).
  const m = { top: 10, right: 10, bottom: 22, left: Math.max(40, 12 + 7 * num(top, 1).length) };
  const w = Math.max(width, 200) - m.left - m.right;
  const h = height - m.top - m.bottom;
  const step = w / Math.max(n, 1);
  const x = (i) => m.left + step * (i + 0.5);
  const y = (v) => m.top + h - (v / top) * h;
  const p50s = rows.map((r) => r.p50);
  const events = eventsFor(scope);
  const chart = svg("svg", {
    width: Math.max(width, 200), height, class: "line-chart", tabindex: 0, role: "slider",
    "aria-valuemin": 0, "aria-valuemax": n - 1, "aria-valuenow": n - rows.length,
    "aria-label": t("chartAria", { service: name, from: fmtDate(rows[0].date), to: fmtDate(rows[rows.length - 1].date),
      min: num(Math.min(...p50s), 1), max: num(Math.max(...p50s), 1) }) + (hist.length ? ` ${t("chartKeys")}` : ""),
  });
  if (freq === "D") {
    points.forEach((p, i) => {
      const holiday = holidayName(p.date);
      if (holiday || isWeekend(p.date)) {
        chart.append(svg("rect", { x: m.left + step * i, y: m.top, width: step, height: h,
          class: holiday ? "day-holiday" : "day-off" }));
      }
    });
  }
  const periodEnd = (d) => periodLastDay(d, freq);
  points.forEach((p, i) => {
    if (p.fc?.partial) chart.append(svg("rect", { x: m.left + step * i, y: m.top, width: step, height: h, class: "partial" }));
  });
  for (const e of events) {
    const inside = points.map((p, i) => (e.start <= periodEnd(p.date) && p.date <= e.end ? i : -1)).filter((i) => i >= 0);
    if (!inside.length) continue;
    const span = svg("rect", { x: m.left + step * inside[0], y: m.top - 6, width: step * inside.length,
      height: h + 6, class: "event-span", "data-event": e.name });
    span.append(svg("title", {}, `${e.name}: ${fmtDate(e.start)} – ${fmtDate(e.end)}`));
    chart.append(span);
  }
  for (let v = 0; v <= top + tick / 2; v += tick) {
    chart.append(svg("line", { x1: m.left, x2: m.left + w, y1: y(v), y2: y(v), class: "grid" }));
    chart.append(svg("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, num(v, 1)));
  }
  const labelEvery = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(w / 56))));
  const labelFrom = (n - rows.length) % labelEvery;
  points.forEach((p, i) => {
    if ((i - labelFrom) % labelEvery === 0) {
      chart.append(svg("text", { x: x(i), y: m.top + h + 16, "text-anchor": "middle", class: "tick" }, fmtShort(p.date)));
    }
  });
  const line = (idx, value) => idx.map((i) => `${x(i).toFixed(1)},${y(value(points[i])).toFixed(1)}`).join(" ");
  // Backtest windows: runs of periods with a held-out forecast, each its own band and dashed median.
  const runs = [];
  points.forEach((p, i) => {
    if (!p.bt) return;
    if (runs.length && runs[runs.length - 1].at(-1) === i - 1) runs[runs.length - 1].push(i);
    else runs.push([i]);
  });
  for (const run of runs) {
    chart.append(svg("polygon", { points: `${line(run, (p) => p.bt.p90)} ${line([...run].reverse(), (p) => p.bt.p10)}`,
      class: "bt-band" }));
    chart.append(svg("polyline", { points: line(run, (p) => p.bt.p50), class: "bt-p50" }));
  }
  const pastIdx = points.map((p, i) => (p.actual !== undefined ? i : -1)).filter((i) => i >= 0);
  if (pastIdx.length) chart.append(svg("polyline", { points: line(pastIdx, (p) => p.actual), class: "actual" }));
  const fcIdx = points.map((p, i) => (p.fc ? i : -1)).filter((i) => i >= 0);
  chart.append(svg("polygon", { points: `${line(fcIdx, (p) => p.fc.p90)} ${line([...fcIdx].reverse(), (p) => p.fc.p10)}`,
    class: "band" }));
  chart.append(svg("polyline", { points: line(fcIdx, (p) => p.fc.p50), class: "p50" }));
  if (freq !== "D") {
    // Weeks, months and quarters are few: each one's median and band also as a dot and a whisker.
    for (const i of fcIdx) {
      chart.append(svg("line", { x1: x(i), x2: x(i), y1: y(points[i].fc.p10), y2: y(points[i].fc.p90), class: "whisker" }));
      chart.append(svg("circle", { cx: x(i), cy: y(points[i].fc.p50), r: 3, class: "dot" }));
    }
  }
  if (pastIdx.length) {
    const edge = m.left + step * fcIdx[0];
    chart.append(svg("line", { x1: edge, x2: edge, y1: m.top, y2: m.top + h, class: "now" }));
  }
  // One invisible column per period carries its numbers as a hover tooltip; arrow keys move a cursor.
  points.forEach((p, i) => {
    const hit = svg("rect", { x: m.left + step * i, y: m.top, width: step, height: h, class: "hit" });
    hit.append(svg("title", {}, pointText(p, events, freq)));
    chart.append(hit);
  });
  const cursor = svg("line", { x1: 0, x2: 0, y1: m.top, y2: m.top + h, class: "cursor", visibility: "hidden" });
  chart.append(cursor);
  let at = n - rows.length;
  const move = (i) => {
    at = Math.min(n - 1, Math.max(0, i));
    const text = pointText(points[at], events, freq);
    chart.setAttribute("aria-valuenow", at);
    chart.setAttribute("aria-valuetext", text);
    cursor.setAttribute("x1", x(at));
    cursor.setAttribute("x2", x(at));
    cursor.setAttribute("visibility", "visible");
    readout.textContent = text;
  };
  chart.addEventListener("keydown", (event) => {
    const to = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: n - 1, PageUp: at - 7, PageDown: at + 7 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    move(to);
  });
  chart.addEventListener("focus", () => move(at));
  chart.addEventListener("blur", () => cursor.setAttribute("visibility", "hidden"));
  chart.append(svg("line", { x1: m.left, x2: m.left, y1: m.top, y2: m.top + h, class: "axis" }));
  return chart;
}

async function downloadFile(path, filename, button) {
  button.disabled = true;
  try {
    const blob = await api(path, { as: "blob" });
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: filename.replace(/[^\w.-]+/g, "_"), hidden: true });
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

function downloadForecast(format, button) {
  const f = selected();
  const name = ["needcast-forecast", f.segment, f.region, f.service].filter(Boolean).join("-");
  const period = $("period").value;
  return downloadFile(`/v1/forecasts?${query({ ...f, format, lang: state.lang, period })}`,
    `${[name, period].filter(Boolean).join("-")}.${format}`, button);
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
    let states = null;
    try {
      [body, states] = await Promise.all([
        api(`/v1/needs/emerging?${query({ segment, limit: 5, lang: state.lang })}`),
        api(`/v1/needs/status?${query({ segment })}`).catch((err) => {
          if (err instanceof ApiError && err.status === 401) throw err;
          return null; // a server without the needs loop: the needs are shown without their status
        }),
      ]);
    } catch (err) {
      if (!current()) return;
      // A 404 naming the segment means "no feedback from it"; any other 404 means the route is absent.
      if (err instanceof ApiError && err.status === 404) {
        return showEmpty("needs", String(err.detail).startsWith("segment") ? "noFeedback" : "noNeedsRoute");
      }
      if (err instanceof ApiError && err.status === 503) { // the first needs are still training: look again
        setTimeout(() => { if (current()) loadNeeds(); }, 15000);
        return showEmpty("needs", "needsTraining");
      }
      throw err;
    }
    if (!current()) return;
    if (!body.items?.length) return showEmpty("needs", "noNeeds");
    const byTopic = new Map((states?.items ?? []).map((x) => [x.topic_id, x]));
    show("needs", "ready", () => el("ol", { class: "needs" },
      body.items.map((item) => drawNeed(item, states ? byTopic.get(item.topic_id) ?? {} : null))));
  });
}

const NEED_STATUSES = ["new", "acknowledged", "in_work", "resolved", "dismissed"];

function needForm(item, loop) {
  const id = `need-${item.segment}-${item.topic_id}`.replace(/[^\w-]/g, "_");
  const statusSelect = el("select", { id: `${id}-status`, name: "status", "data-testid": "need-status" },
    NEED_STATUSES.map((v) => el("option", { value: v, selected: v === (item.status ?? "new") }, t(`need_${v}`))));
  return el("form", { class: "need-form", "data-testid": "need-form", "data-topic": item.topic_id,
    "data-segment": item.segment, "aria-label": t("needFormAria", { label: item.label }) },
    el("div", { class: "field" }, el("label", { for: `${id}-status` }, t("needStatus")), statusSelect),
    el("div", { class: "field" }, el("label", { for: `${id}-owner` }, t("needOwner")),
      el("input", { id: `${id}-owner`, name: "owner", maxlength: 200, value: item.owner ?? "", "data-testid": "need-owner" })),
    el("div", { class: "field grow" }, el("label", { for: `${id}-comment` }, t("needComment")),
      el("input", { id: `${id}-comment`, name: "comment", maxlength: 2000, "data-testid": "need-comment" })),
    el("button", { type: "submit", "data-testid": "need-save" }, t("save")),
    loop?.last_comment ? el("p", { class: "muted small need-trail", "data-testid": "need-trail" },
      t("needLast", { comment: loop.last_comment, by: loop.updated_by ?? "—", at: fmtDateTime(loop.updated_at) }))
      : null);
}

async function saveNeed(form) {
  const body = { status: form.elements.status.value, owner: form.elements.owner.value };
  const comment = form.elements.comment.value.trim();
  if (comment) body.comment = comment;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api(`/v1/needs/${encodeURIComponent(form.dataset.segment)}/${encodeURIComponent(form.dataset.topic)}`,
      { method: "PATCH", body });
    await loadNeeds();
  } catch (err) {
    button.disabled = false;
    form.append(el("p", { class: "error", role: "alert" }, errorText(err)));
  }
}

function drawNeed(item, loop = null) {
  // A small cell comes with its numbers, label and examples withheld (null) by the server.
  if (item.suppressed) {
    return el("li", { class: "need suppressed", "data-topic": item.topic_id, "data-testid": "need-suppressed" },
      el("p", { class: "muted" }, t("suppressed", { n: item.min_cell ?? 10 })));
  }
  const badges = el("p", { class: "badges" },
    el("span", { class: "badge growth" }, t("growth", { g: num(item.growth, 1) })),
    el("span", { class: "badge" }, item.mean_rating === null || item.mean_rating === undefined
      ? t("noRating") : `★ ${t("rating", { r: num(item.mean_rating, 1) })}`),
    el("span", { class: "badge" }, t("firstSeen", { date: fmtDate(item.first_seen) })));
  const examples = (item.examples || []).slice(0, 2).map((e) =>
    el("li", {}, el("blockquote", {}, e.text), el("span", { class: "muted small" }, fmtDateTime(e.created_at))));
  if (loop) {
    badges.prepend(el("span", { class: `badge need-${item.status ?? "new"}`, "data-testid": "need-status-badge" },
      t(`need_${item.status ?? "new"}`)));
  }
  return el("li", { class: "need", "data-topic": item.topic_id },
    el("h3", {}, item.label),
    badges,
    el("p", { class: "muted small" }, t("volume", { recent: num(item.recent_count), baseline: num(item.baseline_count) })),
    item.keywords?.length ? el("p", { class: "keywords", "aria-label": t("keywords") },
      item.keywords.slice(0, 6).map((k) => el("span", { class: "chip" }, k))) : null,
    examples.length ? el("ul", { class: "examples", "aria-label": t("examples") }, examples) : null,
    loop ? needForm(item, loop) : null);
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
  const rows = services.map((s) => el("tr", {}, el("th", { scope: "row", title: s }, label("service", s)), days.map((d) => {
    const i = cell.get(`${s}|${d}`);
    if (!i) return el("td", { class: dayClass(d) }, "—");
    return el("td", {
      class: [dayClass(d), i.windows === 0 ? "zero" : null].filter(Boolean).join(" ") || null,
      title: t("staffingCell", { date: fmtDate(d), p90: num(i.p90, 1), w: num(i.expected_wait_minutes, 1) }),
    }, num(i.windows));
  })));
  return [
    el("p", { class: "muted summary" }, t("staffingCaption", { wait: num(body.wait_minutes), hours: num(body.working_hours),
      region: label("region", region), segment: label("segment", segment), days: days.length })),
    el("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": t("staffingTitle") },
      el("table", { class: "staffing" }, el("thead", {}, head), el("tbody", {}, rows))),
  ];
}

// ---------- events and what-if scenarios ----------

const kindName = (kind) => t(`kind_${kind}`);

function fillEventServices() {
  const { segment, region, service } = selected();
  const services = unique(state.series.filter((s) => s.segment === segment && s.region === region)
    .map((s) => s.service));
  fillSelect($("event-service"), services, service || $("event-service").value, t("allServices"), "service");
}

function loadEvents() {
  return load("events", async (current) => {
    const [events, scenarios] = await Promise.all([api("/v1/events"), api("/v1/scenarios")]);
    if (!current()) return;
    state.events = events.items;
    state.scenarios = scenarios.items;
    show("events", "ready", drawEvents);
    // What the model learned each past event did takes the server a while: shown when it comes.
    api("/v1/events?effects=true").then((body) => {
      if (!current()) return;
      state.events = body.items;
      redraw("events");
    }).catch(() => { /* the list stands without the effects */ });
  });
}

function eventScope(e) {
  const list = (kind, codes) => (codes.length ? codes.map((c) => label(kind, c)).join(", ") : t("all"));
  return `${list("service", e.services)} / ${list("segment", e.segments)} / ${list("region", e.regions)}`;
}

function drawEvents() {
  const parts = [];
  const sc = state.scenario;
  if (sc) parts.push(drawScenario(sc));
  parts.push(el("h3", {}, t("registeredEvents")));
  parts.push(state.events.length ? el("ul", { class: "event-list", "data-testid": "event-list" }, state.events.map((e) =>
    el("li", { "data-event-id": e.id },
      el("span", {}, el("strong", {}, e.name), " · ", kindName(e.kind), " · ",
        `${fmtDate(e.start)} – ${fmtDate(e.end)}`, " · ", el("span", { class: "muted" }, eventScope(e)), " · ",
        el("span", { class: `badge status-${e.status}` }, t(`status_${e.status}`)),
        e.effect === undefined || e.effect === null ? null : el("span", { class: "effect", "data-testid": "event-effect" },
          " · ", t("learnedEffect", { effect: signed(e.effect), actual: num(e.actual),
            pct: pct(e.actual ? e.effect / e.actual : 0) }))),
      el("button", { type: "button", class: "small-button", "data-testid": "event-delete",
        "aria-label": t("deleteEvent", { name: e.name }) }, t("delete")))))
    : message("empty", t("noEvents")));
  parts.push(el("h3", {}, t("storedScenarios")));
  parts.push(state.scenarios.length ? el("ul", { class: "scenario-list", "data-testid": "scenario-list" },
    state.scenarios.slice(0, 10).map((x) => el("li", {},
      el("button", { type: "button", class: "link", "data-scenario-id": x.id, "data-testid": "scenario-item" },
        `${x.event.name} · ${label("segment", x.selection.segment)} · ${fmtDate(x.event.start)} – ${fmtDate(x.event.end)}`),
      " ", el("span", { class: "muted small" }, t("scenarioDelta", { delta: signed(x.total_with - x.total_without),
        pct: pct(x.total_without ? (x.total_with - x.total_without) / x.total_without : 0) })))))
    : message("empty", t("noScenarios")));
  return parts;
}

const signed = (x) => `${x >= 0 ? "+" : "−"}${num(Math.abs(x))}`;

function drawScenario(sc) {
  const delta = sc.total_with - sc.total_without;
  const where = [label("segment", sc.selection.segment), sc.selection.region && label("region", sc.selection.region),
    sc.selection.service && label("service", sc.selection.service)].filter(Boolean).join(" · ");
  const figure = el("figure", { class: "chart scenario-chart", "data-testid": "scenario-chart" },
    el("figcaption", {}, el("strong", {}, `${sc.event.name} — ${where}`),
      el("span", {}, t("scenarioTotals", { without: num(sc.total_without), with: num(sc.total_with),
        delta: signed(delta), pct: pct(sc.total_without ? delta / sc.total_without : 0) }))));
  requestAnimationFrame(() => figure.append(compareChart(sc.items, figure.clientWidth || 320, 240)));
  const registered = state.events.some((e) => e.name === sc.event.name && e.start === sc.event.start
    && e.end === sc.event.end);
  return el("div", { class: "scenario", "data-testid": "scenario", "data-total-without": sc.total_without,
    "data-total-with": sc.total_with },
    el("ul", { class: "legend" },
      el("li", {}, el("span", { class: "swatch line without", "aria-hidden": "true" }), t("withoutEvent")),
      el("li", {}, el("span", { class: "swatch line", "aria-hidden": "true" }), t("withEvent"))),
    sc.event_aware ? null : el("p", { class: "warn" }, t("notEventAware")),
    figure,
    registered ? el("p", { class: "muted small" }, t("eventRegistered"))
      : el("button", { type: "button", "data-testid": "event-register" }, t("registerEvent")));
}

function compareChart(points, width, height) {
  const m = { top: 8, right: 10, bottom: 22, left: 40 };
  const w = Math.max(width, 200) - m.left - m.right;
  const h = height - m.top - m.bottom;
  const n = points.length;
  const { step: tick, top } = niceScale(Math.max(...points.map((p) => Math.max(p.without.p90, p.with_event.p90))));
  const step = w / Math.max(n, 1);
  const x = (i) => m.left + step * (i + 0.5);
  const y = (v) => m.top + h - (v / top) * h;
  const chart = svg("svg", { width: Math.max(width, 200), height, role: "img", class: "line-chart compare",
    "aria-label": t("scenarioAria", { from: fmtDate(points[0].date), to: fmtDate(points[n - 1].date) }) });
  for (let v = 0; v <= top + tick / 2; v += tick) {
    chart.append(svg("line", { x1: m.left, x2: m.left + w, y1: y(v), y2: y(v), class: "grid" }));
    chart.append(svg("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, num(v, 1)));
  }
  points.forEach((p, i) => {
    if (i % 7 === 0) chart.append(svg("text", { x: x(i), y: m.top + h + 16, "text-anchor": "middle", class: "tick" }, fmtShort(p.date)));
  });
  for (const [key, cls] of [["without", "without"], ["with_event", "with"]]) {
    const upper = points.map((p, i) => `${x(i).toFixed(1)},${y(p[key].p90).toFixed(1)}`);
    const lower = points.map((p, i) => `${x(i).toFixed(1)},${y(p[key].p10).toFixed(1)}`).reverse();
    chart.append(svg("polygon", { points: [...upper, ...lower].join(" "), class: `band ${cls}` }));
    chart.append(svg("polyline", { points: points.map((p, i) => `${x(i).toFixed(1)},${y(p[key].p50).toFixed(1)}`)
      .join(" "), class: `p50 ${cls}` }));
  }
  points.forEach((p, i) => {
    const hit = svg("rect", { x: m.left + step * i, y: m.top, width: step, height: h, class: "hit" });
    hit.append(svg("title", {}, t("scenarioPoint", { date: fmtDate(p.date), without: num(p.without.p50, 1),
      with: num(p.with_event.p50, 1) })));
    chart.append(hit);
  });
  return chart;
}

function eventBody() {
  const { segment, region } = selected();
  const service = $("event-service").value;
  return { name: $("event-name").value.trim(), start: $("event-start").value, end: $("event-end").value,
    kind: $("event-kind").value, services: service ? [service] : [], segments: [segment], regions: [region] };
}

function eventError(text) {
  const node = $("event-error");
  node.textContent = text || "";
  node.hidden = !text;
}

async function computeScenario() {
  const event = eventBody();
  if (!event.name || !event.start || !event.end) return eventError(t("eventIncomplete"));
  if (event.end < event.start) return eventError(t("eventEndBeforeStart"));
  eventError(null);
  const { segment, region, service } = selected();
  const button = $("event-form").querySelector("button[type=submit]");
  button.disabled = true;
  try {
    state.scenario = await api("/v1/scenarios", { method: "POST",
      body: { event, segment, region, service: service || null } });
    await loadEvents();
  } catch (err) {
    eventError(errorText(err));
  } finally {
    button.disabled = false;
  }
}

async function registerEvent() {
  if (!state.scenario) return;
  try {
    await api("/v1/events", { method: "POST", body: state.scenario.event });
    await loadEvents();
    loadForecast(); // the chart marks the new event
  } catch (err) {
    eventError(errorText(err));
  }
}

async function deleteEvent(id) {
  try {
    await api(`/v1/events/${encodeURIComponent(id)}`, { method: "DELETE" });
    await loadEvents();
    loadForecast();
  } catch (err) {
    eventError(errorText(err));
  }
}

async function showStoredScenario(id) {
  try {
    state.scenario = await api(`/v1/scenarios/${encodeURIComponent(id)}`);
    redraw("events");
  } catch (err) {
    eventError(errorText(err));
  }
}

function onEventsClick(event) {
  const target = event.target.closest("button");
  if (!target) return;
  if (target.dataset.testid === "event-register") registerEvent();
  else if (target.dataset.testid === "event-delete") deleteEvent(target.closest("li").dataset.eventId);
  else if (target.dataset.scenarioId) showStoredScenario(target.dataset.scenarioId);
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
  fillPeriods();
  if (state.global) $("global-status").textContent = state.global();
  const authError = $("auth-error");
  if (!authError.hidden && authError.dataset.i18n) authError.textContent = t(authError.dataset.i18n);
}

function switchLanguage() {
  state.lang = state.lang === "ru" ? "en" : "ru";
  localStorage.setItem(LANG_STORE, state.lang);
  applyLanguage();
  relabelFilters();
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
  state.scenario = null;
  for (const id of ["segment", "region", "service", "event-service"]) $(id).replaceChildren();
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
    if (probe.freq !== state.freq) { state.freq = probe.freq; fillPeriods(); }
    await loadCatalogue();
    if (run !== state.run) return;
  } catch (err) {
    if (run !== state.run || (err instanceof ApiError && err.status === 401)) return;
    setGlobal(() => (err instanceof ApiError && err.status === 403 ? t("noPlannerRole") : errorText(err)), true);
    for (const name of ["forecast", "staffing", "needs", "suggestions", "events"]) showError(name, err, "planner");
    return;
  }
  setGlobal();
  if (!state.series.length) {
    setGlobal(() => t("noSeries"), true);
    for (const name of ["forecast", "staffing", "needs", "suggestions", "events"]) showEmpty(name, "noSeries");
    return;
  }
  fillFilters();
  refresh();
}

function refresh(which = ["forecast", "staffing", "needs", "suggestions", "events"]) {
  sessionStorage.setItem(FILTERS_STORE, JSON.stringify(selected()));
  fillEventServices();
  if (which.includes("events")) loadEvents();
  if (which.includes("forecast")) loadForecast();
  if (which.includes("staffing")) loadStaffing();
  if (which.includes("needs")) loadNeeds();
  if (which.includes("suggestions")) loadSuggestions();
}

// Names of the codes in both languages; without them (an older server, an error) codes are shown.
async function loadCatalogue() {
  state.names = { service: {}, segment: {}, region: {} };
  try {
    const body = await api("/v1/catalogues");
    for (const s of body.services) state.names.service[s.service] = { ru: s.name, en: s.name };
    for (const g of body.segments) state.names.segment[g.segment] = { ru: g.name_ru, en: g.name_en };
    for (const r of body.regions) state.names.region[r.region] = { ru: r.name_ru, en: r.name_en };
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
  }
}

function relabelFilters() {
  for (const kind of ["segment", "region", "service"]) {
    for (const option of $(kind).options) if (option.value) option.textContent = label(kind, option.value);
  }
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
  $("period").addEventListener("change", () => loadForecast());
  $("csv").addEventListener("click", () => downloadForecast("csv", $("csv")));
  $("xlsx").addEventListener("click", () => downloadForecast("xlsx", $("xlsx")));
  $("staffing-xlsx").addEventListener("click", () => {
    const { region, service } = selected();
    downloadFile(`/v1/staffing?${query({ region, service, format: "xlsx", lang: state.lang })}`,
      `needcast-staffing-${region}${service ? `-${service}` : ""}.xlsx`, $("staffing-xlsx"));
  });
  $("event-form").addEventListener("submit", (event) => { event.preventDefault(); computeScenario(); });
  panels.events.body.addEventListener("click", onEventsClick);
  panels.needs.body.addEventListener("submit", (event) => {
    event.preventDefault();
    saveNeed(event.target.closest("form"));
  });
  $("needs-csv").addEventListener("click", () => downloadFile(`/v1/needs/export?${query({ segment: selected().segment,
    lang: state.lang })}`, `needcast-needs-${selected().segment}.csv`, $("needs-csv")));
  let resizeFrame = 0;
  let width = window.innerWidth;
  window.addEventListener("resize", () => {
    if (window.innerWidth === width) return; // phones fire resize when the address bar hides
    width = window.innerWidth;
    cancelAnimationFrame(resizeFrame);
    // Charts are drawn to their panel's width: the forecast and the what-if scenario alike.
    resizeFrame = requestAnimationFrame(() => { redraw("forecast"); redraw("events"); });
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
