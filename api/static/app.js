// nlpipe labeling page: vanilla JavaScript over the HTTP API (no build step).
"use strict";

const $ = (sel) => document.querySelector(sel);
const LABEL_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];
const ENTITY_KEYS = ["q", "w", "e", "r", "t", "y", "u", "i", "o", "p"];
const RESERVED = new Set(["a", "x", "enter"]);
const COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4d7c0f", "#9333ea", "#475569"];
const QUEUE_SIZE = 50;

// Preferences (name, dataset, shortcuts) outlive the tab in localStorage; the API key is a secret and lives
// only in this tab's sessionStorage: it is gone when the tab closes and never written to disk by older pages.
const store = {
  get(key, fallback, storage = localStorage) {
    try {
      const v = storage.getItem("nlpipe." + key);
      return v === null ? fallback : JSON.parse(v);
    } catch (e) {
      return fallback;
    }
  },
  set(key, value, storage = localStorage) {
    storage.setItem("nlpipe." + key, JSON.stringify(value));
  },
};
localStorage.removeItem("nlpipe.apiKey"); // a key an earlier version of this page kept

const state = {
  name: store.get("annotator", ""),
  key: store.get("apiKey", "", sessionStorage),
  signedIn: false,
  dataset: store.get("dataset", ""),
  strategy: store.get("strategy", ""),
  model: store.get("model", ""),
  labels: [],
  entities: [],
  keys: { labels: {}, entities: {} },
  queue: [],
  queueStrategy: "",
  pos: -1,
  doc: null,
  undo: [],
  skipped: new Set(JSON.parse(sessionStorage.getItem("nlpipe.skipped") || "[]")),
  busy: Promise.resolve(),
};

class ApiError extends Error {
  constructor(status, error) {
    super(`[${error.code}] ${error.message}`);
    this.status = status;
    this.code = error.code;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.key) headers["X-API-Key"] = state.key;
  if (state.name) headers["X-Annotator"] = state.name;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => ({ error: { code: "E699", message: r.statusText } }));
  if (!r.ok) throw new ApiError(r.status, data.error || { code: "E699", message: r.statusText });
  return data;
}

function dsPath(suffix) {
  return `/v1/datasets/${encodeURIComponent(state.dataset)}${suffix}`;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

let sayTimer = null;
function say(text, kind = "info") {
  const box = $("#message");
  box.textContent = text;
  box.dataset.kind = kind;
  clearTimeout(sayTimer);
  sayTimer = setTimeout(() => (box.textContent = ""), kind === "error" ? 8000 : 3000);
}

// Serialise actions so fast key presses apply in order.
// Actions run one after another. body[data-busy] is set while any is queued or running, so a script (or a test)
// can wait until the page has settled before it selects text that a pending re-render would replace.
let pending = 0;
function run(fn) {
  pending += 1;
  document.body.dataset.busy = "1";
  state.busy = state.busy
    .then(fn)
    .catch((e) => say(e.message, "error"))
    .finally(() => {
      pending -= 1;
      if (pending === 0) delete document.body.dataset.busy;
    });
  return state.busy;
}

// The page's stylesheet, applied: the key buttons' layout (and so their text as a reader sees it) depends on it.
function styled() {
  const css = document.querySelector('link[rel="stylesheet"]');
  if (!css || css.sheet) return Promise.resolve();
  return new Promise((done) => {
    css.addEventListener("load", done, { once: true });
    css.addEventListener("error", done, { once: true });
  });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "style") node.style.cssText = v; // through the CSSOM: the page's CSP allows no style attributes
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// ---------------------------------------------------------------- sign-in, datasets, models

async function signIn(quiet = false) {
  state.name = $("#annotator").value.trim();
  state.key = $("#api-key").value.trim();
  store.set("annotator", state.name);
  store.set("apiKey", state.key, sessionStorage);
  try {
    const who = await api("GET", "/v1/labeling/annotator");
    state.name = who.annotator;
    $("#annotator").value = who.annotator;
    store.set("annotator", state.name);
    state.signedIn = true;
    $("#whoami").textContent = `Signed in as ${who.annotator}`;
    $("#whoami").dataset.ok = "1";
    await loadLists(); // the lists the key may see
    if (state.dataset) await openDataset();
  } catch (e) {
    state.signedIn = false;
    $("#whoami").textContent = "Not signed in";
    delete $("#whoami").dataset.ok;
    if (!quiet || state.key) say(e.message, "error");
  }
}

async function loadLists() {
  // Each list needs its scope (read, predict) once keys exist: a list the key may not see stays empty.
  const [datasets, models] = await Promise.all(
    ["/v1/datasets", "/v1/models"].map((path) => api("GET", path).catch(() => [])),
  );
  const dsSel = $("#dataset");
  const mSel = $("#model");
  for (const sel of [dsSel, mSel]) for (const o of [...sel.options]) if (o.value) o.remove();
  for (const d of datasets) dsSel.append(el("option", { value: d.name, text: `${d.name} (${d.documents})` }));
  dsSel.value = datasets.some((d) => d.name === state.dataset) ? state.dataset : "";
  state.dataset = dsSel.value;
  for (const name of [...new Set(models.map((m) => m.name))]) mSel.append(el("option", { value: name, text: name }));
  mSel.value = models.some((m) => m.name === state.model) ? state.model : "";
  state.model = mSel.value;
  $("#strategy").value = state.strategy;
}

// ---------------------------------------------------------------- labels, entities, shortcuts

function assignKeys(names, saved, defaults) {
  const out = {};
  const used = new Set(Object.values(saved).filter(Boolean));
  let free = defaults.filter((k) => !used.has(k));
  for (const n of names) {
    if (saved[n]) out[n] = saved[n];
    else if (free.length) out[n] = free.shift();
    else out[n] = "";
  }
  return out;
}

async function loadLabelSet() {
  const found = await api("GET", dsPath("/labels"));
  const extra = store.get(`extra.${state.dataset}`, { labels: [], entities: [] });
  let modelLabels = [];
  if (state.model) {
    try {
      const m = await api("GET", `/v1/models/${encodeURIComponent(state.model)}`);
      if ((m.task || "classify") === "classify") modelLabels = m.labels;
    } catch (e) {
      say(e.message, "error");
    }
  }
  state.labels = [...new Set([...found.labels, ...modelLabels, ...extra.labels])].sort();
  state.entities = [...new Set([...found.entity_types, ...extra.entities])].sort();
  const saved = store.get(`keys.${state.dataset}`, { labels: {}, entities: {} });
  state.keys.labels = assignKeys(state.labels, saved.labels || {}, LABEL_KEYS);
  const taken = new Set(Object.values(state.keys.labels));
  state.keys.entities = assignKeys(
    state.entities,
    saved.entities || {},
    ENTITY_KEYS.filter((k) => !taken.has(k)),
  );
  renderKeys();
}

function saveKeys() {
  store.set(`keys.${state.dataset}`, state.keys);
}

function colorOf(entity) {
  const i = state.entities.indexOf(entity);
  return COLORS[(i < 0 ? state.entities.length : i) % COLORS.length];
}

function keyButton(kind, name, key, pressed) {
  const b = el(
    "button",
    {
      type: "button",
      class: "key " + kind,
      "aria-pressed": kind === "label" ? String(pressed) : null,
      "aria-label": `${name}${key ? ` (key ${key})` : ""}`,
      "aria-keyshortcuts": key || null,
      "data-name": name,
      onclick: () => run(() => (kind === "label" ? toggleLabel(name) : markSpan(name))),
    },
    el("kbd", { text: key || "·" }),
    el("span", { text: name }),
  );
  if (kind === "entity") b.style.setProperty("--c", colorOf(name));
  return b;
}

function renderKeys() {
  const mine = new Set((state.doc ? state.doc.annotations : []).filter((a) => a.kind === "label").map((a) => a.label));
  const labels = $("#labels");
  labels.replaceChildren(...state.labels.map((n) => keyButton("label", n, state.keys.labels[n], mine.has(n))));
  if (!state.labels.length) labels.append(el("p", { class: "help", text: "No labels yet: add one below." }));
  const ents = $("#entities");
  ents.replaceChildren(...state.entities.map((n) => keyButton("entity", n, state.keys.entities[n], false)));
  if (!state.entities.length) ents.append(el("p", { class: "help", text: "No entity types yet." }));
  const rows = [];
  for (const [kind, names] of [["labels", state.labels], ["entities", state.entities]]) {
    for (const n of names) {
      const input = el("input", {
        value: state.keys[kind][n] || "",
        maxlength: "1",
        size: "2",
        "aria-label": `Key for ${kind === "labels" ? "label" : "entity"} ${n}`,
        onchange: (ev) => setKey(kind, n, ev.target),
      });
      rows.push(el("tr", {}, el("td", { text: `${n}${kind === "entities" ? " (entity)" : ""}` }), el("td", {}, input)));
    }
  }
  $("#shortcut-table tbody").replaceChildren(...rows);
}

function setKey(kind, name, input) {
  const k = input.value.trim().toLowerCase();
  const clash = [...Object.entries(state.keys.labels), ...Object.entries(state.keys.entities)].find(
    ([n, v]) => v === k && n !== name,
  );
  if (k && (RESERVED.has(k) || clash)) {
    say(`Key "${k}" is taken${clash ? ` by ${clash[0]}` : " (reserved)"}; choose another.`, "error");
    input.value = state.keys[kind][name] || "";
    return;
  }
  state.keys[kind][name] = k;
  saveKeys();
  renderKeys();
  say(`${name} now uses key "${k || "none"}".`);
}

function addName(kind, input) {
  const name = input.value.trim();
  if (!name || !state.dataset) return;
  const extra = store.get(`extra.${state.dataset}`, { labels: [], entities: [] });
  const list = kind === "labels" ? extra.labels : extra.entities;
  if (!list.includes(name)) list.push(name);
  store.set(`extra.${state.dataset}`, extra);
  input.value = "";
  return loadLabelSet().then(() => renderDoc());
}

// ---------------------------------------------------------------- queue and documents

async function openDataset() {
  if (!state.dataset) return;
  state.queue = [];
  state.pos = -1;
  state.doc = null;
  await loadLabelSet();
  await refreshProgress();
  await nextDocument();
}

async function refreshProgress() {
  if (!state.dataset) return;
  const p = await api("GET", dsPath("/progress") + query({ annotator: state.name }));
  const bar = $("#progress-bar");
  bar.setAttribute("aria-valuemax", String(p.total));
  bar.setAttribute("aria-valuenow", String(p.done));
  bar.querySelector(".fill").style.width = p.total ? `${(100 * p.done) / p.total}%` : "0";
  $("#progress-text").textContent = `${p.done} / ${p.total} labeled by you · ${p.remaining} remaining`;
}

async function fetchQueue() {
  const q = await api(
    "GET",
    dsPath("/queue") + query({ strategy: state.strategy, model: state.model, limit: QUEUE_SIZE, annotator: state.name }),
  );
  state.queueStrategy = q.strategy;
  state.queue = q.items.filter((it) => !state.skipped.has(`${state.dataset}:${it.document_id}`));
  state.pos = -1;
  return q;
}

async function nextDocument() {
  if (!state.dataset) return;
  if (state.pos + 1 >= state.queue.length) await fetchQueue();
  state.pos += 1;
  const item = state.queue[state.pos];
  if (!item) {
    state.doc = null;
    renderEmpty();
    return;
  }
  await showDocument(item.document_id, item);
}

// Span offsets cross the API in characters (Unicode code points); JavaScript strings count UTF-16 units, one more
// for every character outside the Basic Multilingual Plane (most emoji). The page works in UTF-16 units: a
// document's spans are converted when it arrives, and offsets are converted back when they are sent.
function fromApi(doc) {
  doc.units = [0]; // doc.units[i]: the UTF-16 offset of character i
  for (const ch of doc.text) doc.units.push(doc.units[doc.units.length - 1] + ch.length);
  const toUnits = (point) => doc.units[Math.min(point, doc.units.length - 1)];
  for (const a of [...doc.annotations, ...doc.pre_annotations]) {
    if (a.kind === "span") Object.assign(a, { start: toUnits(a.start), end: toUnits(a.end) });
  }
  return doc;
}

function toPoint(doc, unit) {
  let lo = 0;
  let hi = doc.units.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (doc.units[mid] < unit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function apiSpan(doc, s) {
  return { start: toPoint(doc, s.start), end: toPoint(doc, s.end) };
}

async function showDocument(id, item) {
  const doc = await api("GET", dsPath(`/documents/${id}`) + query({ annotator: state.name, model: state.model }));
  doc.queueItem = item || (state.doc && state.doc.id === id ? state.doc.queueItem : null);
  state.doc = fromApi(doc);
  renderDoc();
  $("#doc-text").focus({ preventScroll: true });
}

async function reloadDocument() {
  if (state.doc) await showDocument(state.doc.id, state.doc.queueItem);
}

function renderEmpty() {
  $("#doc-title").textContent = "Nothing left to label";
  $("#doc-meta").textContent = "";
  $("#doc-text").textContent = "Every document in this queue has your labels. Choose another dataset or order.";
  $("#my-spans").replaceChildren();
  $("#pre").replaceChildren();
  renderKeys();
}

function renderDoc() {
  const doc = state.doc;
  if (!doc) return renderKeys();
  $("#doc-title").textContent = `Document ${doc.id}${doc.external_id ? ` · ${doc.external_id}` : ""}`;
  const item = doc.queueItem;
  const why =
    item && item.score !== null && item.score !== undefined
      ? ` · ${state.queueStrategy} score ${Number(item.score).toFixed(3)}`
      : "";
  $("#doc-meta").textContent = `${doc.split || "no split"}${why}`;
  renderText(doc);
  const spans = doc.annotations.filter((a) => a.kind === "span");
  $("#my-spans").replaceChildren(
    ...spans.map((s) =>
      el(
        "li",
        { class: "chip", style: `--c: ${colorOf(s.label)}` },
        el("span", { class: "chip-label", text: s.label }),
        el("span", { text: ` “${doc.text.slice(s.start, s.end)}”` }),
        el("button", {
          type: "button",
          class: "icon",
          "aria-label": `Remove span ${s.label} ${doc.text.slice(s.start, s.end)}`,
          text: "×",
          onclick: () => run(() => removeAnnotation(s)),
        }),
      ),
    ),
  );
  $("#pre").replaceChildren(
    ...doc.pre_annotations.map((p, i) => {
      const what = p.kind === "span" ? `${p.label} “${doc.text.slice(p.start, p.end)}”` : p.label;
      const by = p.by && p.by.length ? ` · ${p.by.join(", ")}` : "";
      const score = p.score !== null && p.score !== undefined ? ` · ${Number(p.score).toFixed(2)}` : "";
      return el(
        "li",
        { class: "pre-item", "data-index": String(i) },
        el(
          "div",
          { class: "pre-head" },
          el("span", { class: `source ${p.source}`, text: p.source }),
          el("span", { class: "pre-what", text: what }),
        ),
        el("div", { class: "meta", text: `${p.kind}${score}${by}` }),
        el(
          "div",
          { class: "pre-actions" },
          el("button", {
            type: "button",
            class: "accept",
            "aria-label": `Accept ${p.source} ${p.kind} ${what}`,
            text: "✓ Accept",
            onclick: () => run(() => reviewPre(p, "accept")),
          }),
          el("button", {
            type: "button",
            class: "reject",
            "aria-label": `Reject ${p.source} ${p.kind} ${what}`,
            text: "✗ Reject",
            onclick: () => run(() => reviewPre(p, "reject")),
          }),
        ),
      );
    }),
  );
  if (!doc.pre_annotations.length) $("#pre").append(el("li", { class: "help", text: "None for this document." }));
  renderKeys();
}

function renderText(doc) {
  const box = $("#doc-text");
  const spans = [
    ...doc.annotations.filter((a) => a.kind === "span").map((a) => ({ ...a, own: true })),
    ...doc.pre_annotations.filter((p) => p.kind === "span").map((p) => ({ ...p, own: false })),
  ];
  const cuts = new Set([0, doc.text.length]);
  for (const s of spans) {
    cuts.add(s.start);
    cuts.add(s.end);
  }
  const points = [...cuts].sort((a, b) => a - b);
  const parts = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    const over = spans.filter((s) => s.start <= a && s.end >= b);
    const text = doc.text.slice(a, b);
    if (!over.length) {
      parts.push(document.createTextNode(text));
      continue;
    }
    const top = over.find((s) => s.own) || over[0];
    const ends = over.filter((s) => s.end === b).map((s) => s.label + (s.own ? "" : "?"));
    parts.push(
      el("mark", {
        class: `span ${top.own ? "own" : "suggested"}`,
        style: `--c: ${colorOf(top.label)}`,
        title: over.map((s) => `${s.label} (${s.own ? "you" : s.source})`).join(", "),
        "data-end": ends.length ? ends.join(" ") : null,
        text,
      }),
    );
  }
  box.replaceChildren(...parts);
}

// ---------------------------------------------------------------- actions

function pushUndo(entry) {
  state.undo.push({ ...entry, dataset: state.dataset, docId: state.doc.id });
}

async function toggleLabel(label) {
  if (!state.doc) return;
  const mine = state.doc.annotations.find((a) => a.kind === "label" && a.label === label);
  if (mine) {
    await api("DELETE", dsPath(`/annotations/${mine.id}`));
    pushUndo({ op: "removed", annotation: mine });
    say(`Removed label ${label}.`);
  } else {
    const r = await api("POST", dsPath(`/documents/${state.doc.id}/annotations`), { labels: [label] });
    const made = r.annotations.filter((a) => a.created);
    if (made.length) pushUndo({ op: "added", annotations: made });
    say(`Labeled ${label}.`);
  }
  await reloadDocument();
  await refreshProgress();
}

function selectionOffsets() {
  const sel = window.getSelection();
  const box = $("#doc-text");
  if (!sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
  const range = sel.getRangeAt(0);
  if (!box.contains(range.startContainer) || !box.contains(range.endContainer)) return null;
  const offset = (node, off) => {
    const r = document.createRange();
    r.setStart(box, 0);
    r.setEnd(node, off);
    return r.toString().length;
  };
  let start = offset(range.startContainer, range.startOffset);
  let end = offset(range.endContainer, range.endOffset);
  const text = state.doc.text;
  while (start < end && /\s/.test(text[start])) start++;
  while (end > start && /\s/.test(text[end - 1])) end--;
  return start < end ? { start, end } : null;
}

async function markSpan(entity) {
  if (!state.doc) return;
  const off = selectionOffsets();
  if (!off) {
    say(`Select some text in the document first, then press the key for ${entity}.`, "error");
    return;
  }
  const r = await api("POST", dsPath(`/documents/${state.doc.id}/annotations`), {
    spans: [{ ...apiSpan(state.doc, off), label: entity }],
  });
  const made = r.annotations.filter((a) => a.created);
  if (made.length) pushUndo({ op: "added", annotations: made });
  window.getSelection().removeAllRanges();
  say(`Marked “${state.doc.text.slice(off.start, off.end)}” as ${entity}.`);
  await reloadDocument();
  await refreshProgress();
}

async function removeAnnotation(a) {
  await api("DELETE", dsPath(`/annotations/${a.id}`));
  pushUndo({ op: "removed", annotation: a.kind === "span" ? { ...a, ...apiSpan(state.doc, a) } : a }); // API offsets
  say(`Removed ${a.kind} ${a.label}.`);
  await reloadDocument();
  await refreshProgress();
}

async function reviewPre(p, decision) {
  if (!state.doc) return;
  const body = { decision, kind: p.kind, label: p.label, source: p.source };
  if (p.kind === "span") Object.assign(body, apiSpan(state.doc, p));
  const r = await api("POST", dsPath(`/documents/${state.doc.id}/reviews`), body);
  pushUndo({ op: "reviewed", review: r.review });
  say(`${decision === "accept" ? "Accepted" : "Rejected"} ${p.source} ${p.kind} ${p.label}.`);
  await reloadDocument();
  await refreshProgress();
}

async function undo() {
  const last = state.undo.pop();
  if (!last) {
    say("Nothing to undo.");
    return;
  }
  if (last.dataset !== state.dataset) {
    say("The last action was in another dataset; switch back to undo it.", "error");
    state.undo.push(last);
    return;
  }
  if (last.op === "added") {
    for (const a of last.annotations) await api("DELETE", dsPath(`/annotations/${a.id}`));
  } else if (last.op === "removed") {
    const a = last.annotation;
    const body = a.kind === "label" ? { labels: [a.label] } : { spans: [{ start: a.start, end: a.end, label: a.label }] };
    await api("POST", dsPath(`/documents/${last.docId}/annotations`), body);
  } else if (last.op === "reviewed") {
    await api("DELETE", dsPath(`/reviews/${last.review.id}`));
  }
  say("Undone.");
  if (!state.doc || state.doc.id !== last.docId) await showDocument(last.docId, null);
  else await reloadDocument();
  await refreshProgress();
}

async function next() {
  if (!state.doc) return nextDocument();
  if (!state.doc.annotations.length) skipCurrent();
  await nextDocument();
}

function skipCurrent() {
  if (!state.doc) return;
  state.skipped.add(`${state.dataset}:${state.doc.id}`);
  sessionStorage.setItem("nlpipe.skipped", JSON.stringify([...state.skipped]));
}

// ---------------------------------------------------------------- keyboard

function onKey(ev) {
  const t = ev.target;
  const typing = t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA");
  if (typing) return;
  if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "z") {
    ev.preventDefault();
    run(undo);
    return;
  }
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = ev.key.toLowerCase();
  if (key === "enter" && (t === document.body || t === $("#doc-text"))) {
    ev.preventDefault();
    run(next);
    return;
  }
  if (!state.doc || !state.signedIn) return;
  if (key === "a" || key === "x") {
    const first = state.doc.pre_annotations[0];
    if (first) {
      ev.preventDefault();
      run(() => reviewPre(first, key === "a" ? "accept" : "reject"));
    }
    return;
  }
  const label = Object.entries(state.keys.labels).find(([, k]) => k === key);
  if (label) {
    ev.preventDefault();
    run(() => toggleLabel(label[0]));
    return;
  }
  const entity = Object.entries(state.keys.entities).find(([, k]) => k === key);
  if (entity) {
    ev.preventDefault();
    run(() => markSpan(entity[0]));
  }
}

// ---------------------------------------------------------------- start

function init() {
  $("#annotator").value = state.name;
  $("#api-key").value = state.key;
  $("#signin").addEventListener("submit", (ev) => {
    ev.preventDefault();
    run(() => signIn(false));
  });
  $("#dataset").addEventListener("change", (ev) => {
    state.dataset = ev.target.value;
    store.set("dataset", state.dataset);
    state.undo = [];
    run(openDataset);
  });
  $("#strategy").addEventListener("change", (ev) => {
    state.strategy = ev.target.value;
    store.set("strategy", state.strategy);
    run(openDataset);
  });
  $("#model").addEventListener("change", (ev) => {
    state.model = ev.target.value;
    store.set("model", state.model);
    run(openDataset);
  });
  $("#add-label").addEventListener("submit", (ev) => {
    ev.preventDefault();
    run(() => addName("labels", $("#new-label")));
  });
  $("#add-entity").addEventListener("submit", (ev) => {
    ev.preventDefault();
    run(() => addName("entities", $("#new-entity")));
  });
  $("#undo").addEventListener("click", () => run(undo));
  $("#next").addEventListener("click", () => run(next));
  $("#skip").addEventListener("click", () =>
    run(() => {
      skipCurrent();
      return nextDocument();
    }),
  );
  document.addEventListener("keydown", onKey);
  run(async () => {
    try {
      await styled();
      await loadLists();
      if (state.key) await signIn(true);
      else if (state.dataset) await openDataset();
    } finally {
      document.body.dataset.ready = "1";
    }
  });
}

init();
