// docline review page: the queue by status, a document's pages with its field boxes, an editable form, approve/reject.
// Plain DOM, no framework, no build step. All data is inserted with textContent, never as HTML.
"use strict";

const STATUSES = ["needs_review", "failed", "running", "queued", "completed", "rejected"];
const STATUS_LABELS = {
  needs_review: "Needs review",
  failed: "Failed",
  running: "Running",
  queued: "Queued",
  completed: "Completed",
  rejected: "Rejected",
};
const PAGE_SIZE = 50;
const TOKEN_KEY = "docline.token";
const LOW_CONFIDENCE = 0.8; // below this a field's box and row are flagged for the reviewer's eye
const POLL_MS = 3000;

// ---------------------------------------------------------------------------------------------------------------
// Small DOM helper: h("tag.class", {attrs}, children...). Strings become text nodes.

function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag);
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function s(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

function say(message, kind) {
  const el = document.getElementById("status");
  el.textContent = message || "";
  el.className = "live" + (kind ? " " + kind : "");
}

// ---------------------------------------------------------------------------------------------------------------
// API access with bearer-token support: on 401 ask for the token, keep it in sessionStorage, retry.

class ApiError extends Error {
  constructor(status, body) {
    super(errorMessage(status, body));
    this.status = status;
    this.body = body;
  }
}

function errorMessage(status, body) {
  if (body && typeof body === "object") {
    if (body.error && body.error.message) return body.error.message;
    if (typeof body.detail === "string") return body.detail;
    if (body.detail && body.detail.message) return body.detail.message;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    if (body.message) return body.message;
  }
  return `The server answered ${status}.`;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

let tokenPrompt = null; // one dialog at a time, shared by concurrent requests
// Cancelled: requests answered 401 later (a page loads several lists at once) fail without asking again, until the
// reader asks for the prompt ("Enter token").
let tokenDeclined = false;
function askToken(refused, { asked = false } = {}) {
  if (tokenPrompt) return tokenPrompt;
  if (tokenDeclined && !asked) return Promise.resolve(false);
  const dialog = document.getElementById("token-dialog");
  const input = document.getElementById("token-input");
  document.getElementById("token-hint").textContent = refused
    ? "The token was refused. Enter a valid token."
    : "This docline server requires a bearer token.";
  input.value = "";
  const answer = askDialog(dialog);
  input.focus();
  tokenPrompt = answer.then((returned) => {
    tokenPrompt = null;
    const value = input.value.trim();
    tokenDeclined = !(returned === "ok" && value);
    if (!tokenDeclined) {
      sessionStorage.setItem(TOKEN_KEY, value);
      updateTokenButton();
    }
    return !tokenDeclined;
  });
  return tokenPrompt;
}

function updateTokenButton() {
  document.getElementById("forget-token").hidden = !token();
  if (token()) document.getElementById("enter-token").hidden = true;
}

async function request(path, options = {}) {
  for (;;) {
    const headers = new Headers(options.headers || {});
    const t = token();
    if (t) headers.set("Authorization", `Bearer ${t}`);
    const res = await fetch(path, { ...options, headers });
    if (res.status === 401) {
      // Only the token this request was refused with is forgotten: another given meanwhile is tried instead.
      if (t && token() === t) sessionStorage.removeItem(TOKEN_KEY);
      updateTokenButton();
      if (token() && token() !== t) continue;
      if (await askToken(Boolean(t))) continue;
      document.getElementById("enter-token").hidden = false; // the way back after "Cancel"
      throw new ApiError(401, { detail: "A token is required to use this server." });
    }
    if (!res.ok) {
      let body = null;
      try {
        body = await res.json();
      } catch {
        body = null;
      }
      throw new ApiError(res.status, body);
    }
    return res;
  }
}

async function getJson(path) {
  return (await request(path, { headers: { Accept: "application/json" } })).json();
}

async function postJson(path, body) {
  const res = await request(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

const docUrl = (id) => `v1/documents/${encodeURIComponent(id)}`;

// ---------------------------------------------------------------------------------------------------------------
// Routing: #/ (queue, with ?status=&type=) and #/documents/<id>.

let view = null; // the current view's cleanup: { stop() }

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?");
  const params = new URLSearchParams(query || "");
  const m = path.match(/^\/documents\/(.+)$/);
  if (m) return { name: "document", id: decodeURIComponent(m[1]), params };
  return { name: "queue", params };
}

function route(ev) {
  if (view) view.stop();
  view = null;
  say("");
  const main = document.getElementById("main");
  const focusedId = document.activeElement && document.activeElement.id;
  const r = parseHash();
  view = r.name === "document" ? documentView(main, r.id) : queueView(main, r.params);
  if (r.name !== "queue") return; // the document view focuses its heading once loaded
  // A filter change keeps focus on the filter; other in-page navigation moves it to the new view's heading.
  const again = focusedId ? document.getElementById(focusedId) : null;
  if (again && main.contains(again)) again.focus();
  else if (ev) focusHeading(main);
}

// ---------------------------------------------------------------------------------------------------------------
// Queue view: one section per status, needs_review first; filters by status and type.

function queueView(main, params) {
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "";
  const type = params.get("type") || "";
  let stopped = false;
  let timer = null;
  const seenTypes = new Set(JSON.parse(sessionStorage.getItem("docline.types") || "[]"));

  const statusSelect = h(
    "select",
    { id: "filter-status", name: "status" },
    h("option", { value: "" }, "All statuses"),
    STATUSES.map((st) => h("option", { value: st, selected: st === status }, STATUS_LABELS[st])),
  );
  const typeInput = h("input", {
    id: "filter-type",
    name: "type",
    type: "search",
    value: type,
    list: "known-types",
    placeholder: "any type",
    autocomplete: "off",
  });
  const datalist = h("datalist", { id: "known-types" });
  const applyFilters = (ev) => {
    if (ev) ev.preventDefault();
    const q = new URLSearchParams();
    if (statusSelect.value) q.set("status", statusSelect.value);
    if (typeInput.value.trim()) q.set("type", typeInput.value.trim());
    const hash = "#/" + (q.toString() ? "?" + q : "");
    if (location.hash !== hash) location.hash = hash;
    else route();
  };
  statusSelect.addEventListener("change", applyFilters);
  const form = h(
    "form.filters",
    { role: "search", "aria-label": "Filter documents", onsubmit: applyFilters },
    h("div.field", {}, h("label", { for: "filter-status" }, "Status"), statusSelect),
    h("div.field", {}, h("label", { for: "filter-type" }, "Document type"), typeInput, datalist),
    h("button", { type: "submit" }, "Filter"),
  );
  const sectionsEl = h("div.sections");
  main.replaceChildren(h("h1", { tabindex: "-1" }, "Review queue"), form, sectionsEl);

  const shown = status ? [status] : STATUSES;
  // Per status: the items loaded so far and the cursor of the next page.
  const state = Object.fromEntries(shown.map((st) => [st, { items: [], next: null, loaded: false, error: null }]));

  function listUrl(st, cursor) {
    const q = new URLSearchParams({ status: st, limit: String(PAGE_SIZE) });
    if (type) q.set("type", type);
    if (cursor) q.set("cursor", cursor);
    return `v1/documents?${q}`;
  }

  async function load(st, more) {
    const s0 = state[st];
    try {
      const page = await getJson(listUrl(st, more ? s0.next : null));
      const items = Array.isArray(page.items) ? page.items : [];
      s0.items = more ? s0.items.concat(items) : items;
      s0.next = page.next || null;
      s0.error = null;
      for (const it of items) if (it.document_type) seenTypes.add(it.document_type);
    } catch (e) {
      s0.error = e.message;
    }
    s0.loaded = true;
  }

  let lastRender = "";
  function render() {
    const snapshot = JSON.stringify(state);
    if (snapshot === lastRender) return;
    lastRender = snapshot;
    sessionStorage.setItem("docline.types", JSON.stringify([...seenTypes]));
    datalist.replaceChildren(...[...seenTypes].sort().map((t) => h("option", { value: t })));
    const focusedId = document.activeElement && document.activeElement.id;
    sectionsEl.replaceChildren(...shown.map((st) => renderSection(st)));
    if (focusedId) {
      const again = document.getElementById(focusedId);
      if (again) again.focus();
    }
  }

  function renderSection(st) {
    const s0 = state[st];
    const headingId = `queue-${st}`;
    const count = s0.items.length + (s0.next ? "+" : "");
    const section = h(
      "section.queue",
      { "aria-labelledby": headingId, dataset: { status: st } },
      h("h2", { id: headingId }, STATUS_LABELS[st], " ", h("span.count", {}, `(${count})`)),
    );
    if (s0.error) section.append(h("p.banner.error", {}, s0.error));
    else if (!s0.loaded) section.append(h("p.muted", {}, "Loading…"));
    else if (!s0.items.length) {
      section.classList.add("empty");
      section.append(h("p.muted", {}, "No documents."));
    } else section.append(queueTable(s0.items));
    if (s0.next) {
      section.append(
        h(
          "button.more",
          {
            type: "button",
            id: `more-${st}`,
            onclick: async () => {
              await load(st, true);
              render();
            },
          },
          `Load more ${STATUS_LABELS[st].toLowerCase()}`,
        ),
      );
    }
    return section;
  }

  async function refresh() {
    if (stopped) return;
    if (document.hidden && lastRender) {
      // A background tab does not poll; it catches up as soon as it is looked at again.
      timer = setTimeout(refresh, POLL_MS);
      return;
    }
    // Reload only the first page of each section; sections the user expanded keep their extra pages until then.
    await Promise.all(shown.filter((st) => !state[st].items.length || state[st].items.length <= PAGE_SIZE).map((st) => load(st, false)));
    if (stopped) return;
    render();
    timer = setTimeout(refresh, POLL_MS * 2);
  }
  refresh();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function queueTable(items) {
  return h(
    "table.queue-table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Document"),
        h("th", { scope: "col" }, "Type"),
        h("th", { scope: "col" }, "Language"),
        h("th", { scope: "col" }, "Pages"),
        h("th", { scope: "col" }, "Status"),
        h("th", { scope: "col" }, "Issues"),
        h("th", { scope: "col" }, "Updated"),
      ),
    ),
    h(
      "tbody",
      {},
      items.map((it) => {
        const src = it.source || {};
        const errors = (it.validation && it.validation.errors) || [];
        const issues = it.error
          ? `${it.error.code}: ${it.error.message}`
          : errors.length
            ? `${errors.length} validation error${errors.length > 1 ? "s" : ""}`
            : it.review && it.review.reasons && it.review.reasons.length && it.status === "needs_review"
              ? it.review.reasons.map(reasonText).join("; ")
              : "";
        return h(
          "tr",
          { dataset: { id: it.id } },
          h("td", {}, h("a", { href: `#/documents/${encodeURIComponent(it.id)}`, id: `open-${safeId(it.id)}` }, src.filename || it.id)),
          h("td", {}, it.document_type || "—"),
          h("td", {}, it.language || "—"),
          h("td.num", {}, src.pages != null ? String(src.pages) : "—"),
          h("td", {}, statusBadge(it.status)),
          h("td.issues", {}, issues, it.progress && ["queued", "running"].includes(it.status) ? progressText(it.progress) : ""),
          h("td.when", {}, when(it.updated_at || it.created_at)),
        );
      }),
    ),
  );
}

// Review reasons are stable codes ("low_confidence"); shown as words.
function reasonText(code) {
  return String(code).replace(/_/g, " ");
}

function progressText(p) {
  if (!p || !p.stage) return "";
  return p.page && p.pages ? `${p.stage} (page ${p.page}/${p.pages})` : p.stage;
}

function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

// "pages 3–4" for [3, 4], "page 5" for [5].
function pageSpan(pages) {
  if (!pages || !pages.length) return "";
  return pages.length === 1 ? `page ${pages[0]}` : `pages ${pages[0]}–${pages[pages.length - 1]}`;
}

function statusBadge(status) {
  return h(`span.badge.st-${status || "unknown"}`, {}, STATUS_LABELS[status] || status || "unknown");
}

// ---------------------------------------------------------------------------------------------------------------
// Field paths: `fields` keys are dotted paths; the form follows `data`'s order, then any field not found in `data`.

function usesBrackets(fields) {
  return Object.keys(fields || {}).some((k) => /\[\d+\]/.test(k));
}

function flatten(value, prefix, brackets, out) {
  if (Array.isArray(value) && value.length) {
    value.forEach((v, i) => flatten(v, brackets ? `${prefix}[${i}]` : prefix ? `${prefix}.${i}` : String(i), brackets, out));
  } else if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, brackets, out);
  } else if (prefix) {
    out.push([prefix, value]);
  }
  return out;
}

function parentOf(path) {
  const i = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
  return i > 0 ? path.slice(0, i) : "";
}

function leafOf(path) {
  const p = parentOf(path);
  return p ? path.slice(p.length).replace(/^\./, "") : path;
}

function shownValue(value) {
  return value === null || value === undefined || value === "" ? "(empty)" : typeof value === "string" ? value : JSON.stringify(value);
}

function humanize(text) {
  // Item indexes are shown 1-based ("Lines #1"), as a person counts rows.
  const t = String(text)
    .replace(/[_]+/g, " ")
    .replace(/(?:\.|\[)(\d+)\]?/g, (_, i) => ` #${Number(i) + 1}`)
    .replace(/\./g, " › ");
  return t.charAt(0).toUpperCase() + t.slice(1);
}

// An element id per field path, one-to-one: "a.b" and "a_b" must not share a label.
function safeId(path) {
  return "f-" + Array.from(String(path), (c) => (/[A-Za-z0-9-]/.test(c) ? c : `_${c.codePointAt(0).toString(16)}_`)).join("");
}

function kindOf(value) {
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return "number";
  if (Array.isArray(value) || (value && typeof value === "object")) return "json";
  return "text";
}

// ---------------------------------------------------------------------------------------------------------------
// Document view.

function documentView(main, id) {
  let stopped = false;
  let timer = null;
  const objectUrls = [];
  let doc = null;
  let dirty = false;
  let activeField = null; // the field whose input has focus: its box is highlighted
  const nextSlot = h("span.next-slot", { "aria-live": "polite" }); // survives re-renders of the document
  const observers = [];
  // Set after a decision is sent: the workflow applies it asynchronously, so poll until the document moves on.
  let awaiting = null; // { updatedAt, until }

  main.replaceChildren(h("p.muted", {}, "Loading document…"));

  async function load(first) {
    try {
      const next = await getJson(docUrl(id));
      if (stopped) return;
      const changed = JSON.stringify(next) !== JSON.stringify(doc);
      doc = next;
      if (awaiting && (doc.status !== "needs_review" || doc.updated_at !== awaiting.updatedAt || Date.now() > awaiting.until)) {
        awaiting = null;
        render(false);
      } else if (first || (changed && !dirty)) render(first);
      if (awaiting) timer = setTimeout(() => load(false), POLL_MS / 6);
      else if (["queued", "running"].includes(doc.status)) timer = setTimeout(() => load(false), POLL_MS);
    } catch (e) {
      if (stopped) return;
      if (e.status === 404) {
        main.replaceChildren(h("h1", { tabindex: "-1" }, "Document not found"), h("p", {}, h("a", { href: "#/" }, "Back to the queue")));
      } else {
        main.replaceChildren(h("h1", { tabindex: "-1" }, "Could not load the document"), h("p.banner.error", {}, e.message), h("p", {}, h("a", { href: "#/" }, "Back to the queue")));
      }
      focusHeading(main);
    }
  }

  function render(first) {
    for (const u of objectUrls.splice(0)) URL.revokeObjectURL(u);
    for (const o of observers.splice(0)) o.disconnect();
    const fields = doc.fields || {};
    const errors = (doc.validation && doc.validation.errors) || [];
    const reviewable = doc.status === "needs_review" && !awaiting;
    const src = doc.source || {};

    const pagesEl = h("section.pages", { "aria-label": "Pages" });
    // A file of several documents whose split the machine was not sure of: the reviewer decides the split first.
    const splitting = reviewable && doc.split && doc.review && (doc.review.reasons || []).includes("split_unsure");
    const formEl = splitting ? buildSplitForm(doc) : buildForm(doc, fields, errors, reviewable);
    const header = h(
      "div.doc-head",
      {},
      h("p.back", {}, h("a", { href: "#/" }, "← Queue"), nextSlot),
      h("h1", { tabindex: "-1" }, src.filename || doc.id),
      h(
        "dl.meta",
        {},
        h("dt", {}, "Status"),
        h("dd", { id: "doc-status" }, statusBadge(doc.status)),
        h("dt", {}, "Type"),
        h("dd", { id: "doc-type" }, doc.document_type || "—"),
        h("dt", {}, "Language"),
        h("dd", {}, doc.language || "—"),
        h("dt", {}, "Pages"),
        h("dd", {}, src.pages != null ? String(src.pages) : "—"),
        doc.usage ? [h("dt", {}, "LLM calls"), h("dd", {}, String(doc.usage.llm_calls ?? 0))] : null,
        doc.progress && ["queued", "running"].includes(doc.status)
          ? [h("dt", {}, "Stage"), h("dd", { id: "doc-progress" }, progressText(doc.progress))]
          : null,
      ),
      doc.review && doc.review.reasons && doc.review.reasons.length
        ? h("p.reasons", { id: "review-reasons" }, "Sent to review: ", doc.review.reasons.map(reasonText).join("; "))
        : null,
      doc.review && doc.review.decision
        ? h(
            "p.reasons",
            { id: "review-decision" },
            `Review decision: ${doc.review.decision}`,
            doc.review.reviewer ? ` by ${doc.review.reviewer}` : "",
            doc.review.decided_at ? [" on ", h("time", { datetime: doc.review.decided_at }, new Date(doc.review.decided_at).toLocaleString())] : "",
            Object.keys(doc.review.corrections || {}).length ? ` with ${Object.keys(doc.review.corrections).length} correction(s)` : "",
          )
        : null,
      // The audit of the decision: each field the reviewer changed, from what they were shown to what they gave.
      doc.review && doc.review.changes && doc.review.changes.length
        ? h(
            "ul.changes",
            { id: "review-changes", "aria-label": "Fields the reviewer changed" },
            doc.review.changes.map((c) => h("li", {}, h("code", {}, c.field), `: ${shownValue(c.before)} → ${shownValue(c.after)}`)),
          )
        : null,
      doc.error ? h("p.banner.error", { id: "doc-error" }, h("strong", {}, doc.error.code), ": ", doc.error.message) : null,
      doc.bundle
        ? h("p.bundle", { id: "doc-bundle" }, "Cut from ", h("a", { href: `#/documents/${encodeURIComponent(doc.bundle.id)}` }, "a file of several documents"), `, its ${pageSpan(doc.bundle.pages)}.`)
        : null,
      doc.parts && doc.parts.length
        ? h(
            "nav.parts",
            { id: "doc-parts", "aria-label": "Documents in this file" },
            h("h2", {}, `${doc.parts.length} documents in this file`),
            h(
              "ol",
              {},
              doc.parts.map((part) =>
                h("li", {}, h("a", { href: `#/documents/${encodeURIComponent(part.id)}` }, pageSpan(part.pages)), " ", part.document_type || "", " ", part.status ? statusBadge(part.status) : null),
              ),
            ),
          )
        : null,
    );
    main.replaceChildren(header, h("div.doc-body", {}, pagesEl, formEl));
    // Fields may point at pages even when the source's page count is not known yet.
    const lastFieldPage = Math.max(0, ...Object.values(fields).map((f) => Number((f && f.page) || 0)));
    renderPages(pagesEl, src.pages || lastFieldPage, fields, errors);
    if (first) focusHeading(main);
  }

  function renderPages(container, count, fields, errors) {
    if (!count) {
      container.append(h("p.muted", {}, "No page images."));
      return;
    }
    const errorFields = new Set(errors.map((e) => e.field));
    // Pages load as they come near view: a 200-page scan must not fetch 200 images up front. On a laptop the
    // pages scroll in their own pane (the observer's root); stacked on a narrow screen, the window scrolls.
    const root = getComputedStyle(container).maxHeight !== "none" ? container : null;
    const observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          if (!entry.isIntersecting) continue;
          observer.unobserve(entry.target);
          loadPage(entry.target, fields, errorFields);
        }
      },
      { root, rootMargin: "1200px 0px" },
    );
    observers.push(observer);
    for (let n = 1; n <= count; n++) {
      const img = h("img", { alt: `Page ${n} of ${count}` });
      const svg = s("svg", { class: "boxes", "aria-hidden": "true", preserveAspectRatio: "none" });
      const frame = h("figure.page", { id: `page-${n}`, dataset: { page: String(n) } }, h("div.frame", {}, img, svg), h("figcaption", {}, `Page ${n}`));
      container.append(frame);
      observer.observe(frame);
    }
  }

  function loadPage(frame, fields, errorFields) {
    const n = Number(frame.dataset.page);
    const img = frame.querySelector("img");
    const svg = frame.querySelector("svg");
    request(`${docUrl(id)}/pages/${n}.png`)
      .then((res) => res.blob())
      .then((blob) => {
        if (stopped) return;
        const url = URL.createObjectURL(blob);
        objectUrls.push(url);
        img.addEventListener(
          "load",
          () => {
            // The boxes live in the image's own pixel space; the SVG viewBox scales them to the displayed size.
            svg.setAttribute("viewBox", `0 0 ${img.naturalWidth} ${img.naturalHeight}`);
            drawBoxes(svg, n, fields, errorFields);
            frame.classList.add("loaded");
            if (activeField) highlight(activeField, false);
          },
          { once: true },
        );
        img.src = url;
      })
      .catch((e) => {
        frame.append(h("p.banner.error", {}, `Page ${n}: ${e.message}`));
      });
  }

  function drawBoxes(svg, n, fields, errorFields) {
    for (const [path, f] of Object.entries(fields)) {
      if (!f || Number(f.page) !== n || !Array.isArray(f.bbox) || f.bbox.length !== 4) continue;
      const [x0, y0, x1, y1] = f.bbox.map(Number);
      if (![x0, y0, x1, y1].every(Number.isFinite)) continue;
      const cls = ["box"];
      if (errorFields.has(path)) cls.push("invalid");
      else if (typeof f.confidence === "number" && f.confidence < LOW_CONFIDENCE) cls.push("low");
      const rect = s("rect", {
        class: cls.join(" "),
        x: Math.min(x0, x1),
        y: Math.min(y0, y1),
        width: Math.abs(x1 - x0),
        height: Math.abs(y1 - y0),
        "data-field": path,
      });
      const title = s("title");
      title.textContent = `${path}: ${f.value ?? ""}`;
      rect.append(title);
      rect.addEventListener("click", () => {
        const input = document.getElementById(safeId(path));
        if (input) input.focus();
      });
      svg.append(rect);
    }
  }

  function buildForm(doc, fields, errors, reviewable) {
    const brackets = usesBrackets(fields);
    const leaves = flatten(doc.data || {}, "", brackets, []);
    const known = new Set(leaves.map(([p]) => p));
    for (const [p, f] of Object.entries(fields)) if (!known.has(p)) leaves.push([p, f ? f.value : null]);
    // A field an error names but the extraction left out (a required value not found) gets an empty row, so the
    // reviewer can fill it in; a container path ("line_items") is not a field and stays in the summary only.
    for (const e of errors) {
      const f = e.field;
      if (!f || known.has(f) || leaves.some(([p]) => p.startsWith(f + ".") || p.startsWith(f + "["))) continue;
      if (doc.data && f in doc.data && doc.data[f] !== null && typeof doc.data[f] === "object") continue;
      known.add(f);
      leaves.push([f, null]);
    }
    const byField = new Map();
    const paths = new Set(leaves.map(([p]) => p));
    for (const e of errors) {
      if (!e.field || !paths.has(e.field)) continue;
      if (!byField.has(e.field)) byField.set(e.field, []);
      byField.get(e.field).push(e);
    }

    // Group leaves by parent path, one fieldset per group: the document's own fields first, then nested groups in
    // first-seen order.
    const groups = new Map([["", []]]);
    for (const [p, v] of leaves) {
      const parent = parentOf(p);
      if (!groups.has(parent)) groups.set(parent, []);
      groups.get(parent).push([p, v]);
    }

    const original = new Map(leaves);
    const form = h("form.review", { id: "review-form", "aria-label": "Extracted fields", novalidate: true });
    const summary = h(
      "div.summary",
      { id: "error-summary", tabindex: "-1" },
      errors.length
        ? [
            h("h2", {}, `${errors.length} validation error${errors.length > 1 ? "s" : ""}`),
            // Every error is listed; one that belongs to a field on the form jumps to it (and is also shown there).
            h(
              "ul",
              {},
              errors.map((e) =>
                h(
                  "li",
                  {},
                  paths.has(e.field)
                    ? h("button.link", { type: "button", onclick: () => document.getElementById(safeId(e.field)).focus() }, humanize(e.field))
                    : e.field
                      ? h("code", {}, e.field)
                      : null,
                  e.field ? ": " : null,
                  e.message,
                  h("span.code", {}, ` (${e.code})`),
                ),
              ),
            ),
          ]
        : null,
    );
    form.append(summary);
    if (!leaves.length) form.append(h("p.muted", {}, doc.status === "queued" || doc.status === "running" ? "Extraction in progress…" : "No extracted fields."));

    const body = h("div.all");
    for (const [parent, items] of groups) {
      if (!items.length) continue;
      const container = parent ? h("fieldset.group", {}, h("legend", {}, humanize(parent))) : h("div.group.root");
      for (const [p, v] of items) container.append(fieldRow(p, v, fields[p], byField.get(p) || [], !reviewable));
      body.append(container);
    }
    form.append(body);

    if (reviewable) {
      const approve = h("button.primary", { type: "submit", id: "approve", value: "approve" }, "Approve");
      const reject = h("button.danger", { type: "submit", id: "reject", value: "reject" }, "Reject");
      form.append(h("div.actions.sticky", {}, approve, reject, h("span.hint", {}, "Changed fields are sent as corrections.")));
      form.addEventListener("input", () => (dirty = true));
      // Enter in a field must not approve the document by implicit submission: deciding takes a button press.
      form.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" && ev.target instanceof HTMLInputElement) ev.preventDefault();
      });
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const decision = ev.submitter && ev.submitter.value === "reject" ? "reject" : "approve";
        if (decision === "reject" && !(await confirmReject())) return;
        const corrections = collectCorrections(form, original);
        approve.disabled = reject.disabled = true;
        say(decision === "approve" ? "Approving…" : "Rejecting…");
        try {
          await postJson(`${docUrl(id)}/review`, { decision, corrections });
          dirty = false;
          say(decision === "approve" ? "Approved." : "Rejected.", "ok");
          clearTimeout(timer);
          awaiting = { updatedAt: doc.updated_at, until: Date.now() + 60000 };
          render(false);
          showNextToReview();
          await load(false);
        } catch (e) {
          approve.disabled = reject.disabled = false;
          say(e.message, "error");
          showServerErrors(form, e.body);
          // 409: someone else decided, or the review timed out; show the document as it is now.
          if (e.status === 409) {
            dirty = false;
            await load(false);
            render(false);
          }
        }
      });
    } else if (awaiting) {
      form.append(h("p.muted.note", { id: "awaiting" }, "Decision sent; waiting for the workflow to apply it…"));
    } else {
      form.append(h("p.muted.note", {}, `This document is ${STATUS_LABELS[doc.status] ? STATUS_LABELS[doc.status].toLowerCase() : doc.status}; only documents that need review can be changed.`));
    }
    return h("section.fields", { "aria-label": "Fields" }, form);
  }

  // The split of a file into documents: a strip of its pages with a toggle in each gap ("a new document starts
  // here"), preset to the machine's proposal and showing how sure it was; confirming sends the pages that start one.
  function buildSplitForm(doc) {
    const split = doc.split;
    const gaps = new Map((split.gaps || []).map((g) => [g.page, g]));
    const separators = new Set(split.separators || []);
    const starts = new Set(split.starts || []);
    const form = h("form.review.split", { id: "split-form", "aria-label": "Split into documents", novalidate: true });
    const summary = h("p.split-summary", { id: "split-summary", "aria-live": "polite" });
    const strip = h("ol.strip", { "aria-label": "Pages and the gaps between them" });
    const toggles = [];
    for (let n = 1; n <= split.pages; n++) {
      const gap = gaps.get(n);
      if (n > 1 && !separators.has(n)) {
        const cutId = `cut-${n}`;
        const toggle = h("input", { id: cutId, type: "checkbox", checked: starts.has(n), dataset: { page: String(n) } });
        toggles.push(toggle);
        const sure = gap ? ` (machine: ${Math.round(gap.score * 100)}%)` : "";
        strip.append(h("li.gap", { dataset: { page: String(n) } }, toggle, h("label", { for: cutId }, `New document from page ${n}`), h("span.conf", {}, sure)));
      }
      const img = h("img", { alt: `Page ${n}`, loading: "lazy" });
      strip.append(h("li.thumb", { dataset: { page: String(n) } }, img, h("span", {}, separators.has(n) ? `Page ${n}: separator` : `Page ${n}`)));
      request(`${docUrl(id)}/pages/${n}.png`)
        .then((res) => res.blob())
        .then((blob) => {
          if (stopped) return;
          const url = URL.createObjectURL(blob);
          objectUrls.push(url);
          img.src = url;
        })
        .catch(() => img.replaceWith(h("span.muted", {}, "no image")));
    }
    const boundaries = () => toggles.filter((t) => t.checked).map((t) => Number(t.dataset.page));
    const describe = () => {
      const cut = [1, ...boundaries()];
      const parts = [];
      let current = [];
      for (let n = 1; n <= split.pages; n++) {
        // A separator page is in no document and cuts nothing by itself (a duplex scan's empty back side).
        if (separators.has(n)) continue;
        if (cut.includes(n) && current.length) {
          parts.push(current);
          current = [];
        }
        current.push(n);
      }
      if (current.length) parts.push(current);
      summary.textContent = parts.length === 1 ? "One document." : `${parts.length} documents: ${parts.map(pageSpan).join("; ")}.`;
    };
    form.addEventListener("change", () => {
      dirty = true;
      describe();
    });
    describe();
    const confirm = h("button.primary", { type: "submit", id: "confirm-split", value: "approve" }, "Confirm split");
    const reject = h("button.danger", { type: "submit", id: "reject", value: "reject" }, "Reject");
    form.append(
      h("h2", {}, "Where do the documents begin?"),
      h("p.hint", {}, "docline was not sure how this file splits into documents. Tick each gap where a new document starts."),
      strip,
      summary,
      h("div.actions.sticky", {}, confirm, reject),
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const decision = ev.submitter && ev.submitter.value === "reject" ? "reject" : "approve";
      if (decision === "reject" && !(await confirmReject())) return;
      confirm.disabled = reject.disabled = true;
      say(decision === "approve" ? "Splitting…" : "Rejecting…");
      try {
        await postJson(`${docUrl(id)}/review`, decision === "approve" ? { decision, boundaries: boundaries() } : { decision });
        dirty = false;
        say(decision === "approve" ? "Split confirmed." : "Rejected.", "ok");
        clearTimeout(timer);
        awaiting = { updatedAt: doc.updated_at, until: Date.now() + 60000 };
        render(false);
        await load(false);
      } catch (e) {
        confirm.disabled = reject.disabled = false;
        say(e.message, "error");
        if (e.status === 409) {
          dirty = false;
          await load(false);
          render(false);
        }
      }
    });
    return h("section.fields", { "aria-label": "Split" }, form);
  }

  // After a decision, offer the next document that waits for a person: reviewing a queue is a sequence.
  async function showNextToReview() {
    try {
      const page = await getJson("v1/documents?status=needs_review&limit=5");
      const next = (page.items || []).find((it) => it.id !== id);
      if (!next || stopped) return;
      const link = h("a.next", { id: "next-review", href: `#/documents/${encodeURIComponent(next.id)}` }, `Next to review: ${(next.source && next.source.filename) || next.id} →`);
      nextSlot.replaceChildren(link);
    } catch {
      // Only a convenience: the queue is one click away.
    }
  }

  function fieldRow(path, value, meta, errs, readOnly) {
    const id = safeId(path);
    const kind = kindOf(value === null || value === undefined ? meta && meta.value : value);
    const describedBy = [];
    let input;
    if (kind === "boolean") {
      // A read-only checkbox does not exist in HTML; disabled is the closest (the value is still announced).
      input = h("input", { id, type: "checkbox", checked: Boolean(value), disabled: readOnly, dataset: { path, kind } });
    } else if (kind === "json") {
      input = h("textarea", { id, rows: 2, readOnly, dataset: { path, kind } });
      input.value = value == null ? "" : JSON.stringify(value);
    } else {
      input = h("input", {
        id,
        type: "text",
        autocomplete: "off",
        spellcheck: "false",
        readOnly,
        dataset: { path, kind },
      });
      input.value = value == null ? "" : String(value);
    }
    const row = h("div.row", { dataset: { field: path } });
    const leaf = leafOf(path).replace(/^\[|\]$/g, "");
    const label = h("label", { for: id }, /^\d+$/.test(leaf) ? `#${Number(leaf) + 1}` : humanize(leaf));
    row.append(label, input);
    let learned = null;
    if (meta && meta.layout) {
      // Read where this sender's reviewed documents taught docline to look (GET /v1/layouts).
      learned = h("span.learned", { id: `${id}-learned` }, "learned");
      learned.title = `Read by the layout learned from this sender's reviewed documents (memory ${meta.layout})`;
      describedBy.push(learned.id);
    }
    if (meta && typeof meta.confidence === "number") {
      const pct = Math.round(meta.confidence * 100);
      const conf = h(`span.conf${meta.confidence < LOW_CONFIDENCE ? ".low" : ""}`, { id: `${id}-conf` }, `${pct}%`);
      conf.title = "Extraction confidence";
      describedBy.push(conf.id);
      // In the confidence's cell, so the rows' columns stay aligned.
      row.append(learned ? h("span.conf-cell", {}, conf, " ", learned) : conf);
      if (meta.confidence < LOW_CONFIDENCE) row.classList.add("low");
    } else if (learned) row.append(learned);
    if (meta && meta.page) {
      const goto = h("button.locate", { type: "button", "aria-label": `Show ${path} on page ${meta.page}` }, `p${meta.page}`);
      goto.addEventListener("click", () => highlight(path, true));
      row.append(goto);
    }
    if (errs.length) {
      const msg = h("p.error", { id: `${id}-err` }, errs.map((e) => `${e.message} (${e.code})`).join(" "));
      describedBy.push(msg.id);
      input.setAttribute("aria-invalid", "true");
      row.classList.add("invalid");
      row.append(msg);
    }
    if (describedBy.length) input.setAttribute("aria-describedby", describedBy.join(" "));
    input.addEventListener("focus", () => highlight(path, false));
    input.addEventListener("blur", () => highlight(null, false));
    return row;
  }

  function highlight(path, scroll) {
    activeField = path;
    for (const r of document.querySelectorAll("rect.box.active")) r.classList.remove("active");
    if (!path) return;
    const meta = doc && doc.fields && doc.fields[path];
    const frame = meta && meta.page ? document.getElementById(`page-${meta.page}`) : null;
    if (scroll && frame && !frame.classList.contains("loaded")) frame.scrollIntoView({ block: "start" });
    for (const r of document.querySelectorAll("rect.box")) {
      if (r.getAttribute("data-field") === path) {
        r.classList.add("active");
        // Bring the box into view on the page image without stealing focus from the input.
        if (scroll || !isVisible(r)) r.scrollIntoView({ block: "center", inline: "nearest", behavior: "smooth" });
      }
    }
  }

  load(true);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      for (const u of objectUrls.splice(0)) URL.revokeObjectURL(u);
      for (const o of observers.splice(0)) o.disconnect();
    },
  };
}

// Rejecting is final: ask once more, in a dialog that defaults to keeping the document.
async function confirmReject() {
  return (await askDialog(document.getElementById("reject-dialog"))) === "reject";
}

// Show a modal dialog; its returnValue once closed. A dialog's "close" event is dispatched a task after it closed:
// one from an earlier showing can arrive after this one opened (a reader quick on the keys) and is not this answer.
function askDialog(dialog) {
  return new Promise((resolve) => {
    const closed = () => {
      if (dialog.open) return;
      dialog.removeEventListener("close", closed);
      resolve(dialog.returnValue);
    };
    dialog.addEventListener("close", closed);
    dialog.returnValue = "";
    dialog.showModal();
  });
}

function isVisible(el) {
  const r = el.getBoundingClientRect();
  return r.bottom > 0 && r.top < window.innerHeight;
}

function collectCorrections(form, original) {
  const corrections = {};
  for (const input of form.querySelectorAll("[data-path]")) {
    const path = input.dataset.path;
    const before = original.get(path);
    let after;
    const kind = input.dataset.kind;
    if (kind === "boolean") after = input.checked;
    else if (kind === "json") {
      const raw = input.value.trim();
      try {
        after = raw ? JSON.parse(raw) : null;
      } catch {
        after = raw;
      }
    } else {
      const raw = input.value.trim();
      if (raw === "") after = null;
      // Numbers stay numbers (a comma decimal is accepted); anything else goes as typed for the server to judge.
      else if (kind === "number" && Number.isFinite(Number(raw.replace(",", ".")))) after = Number(raw.replace(",", "."));
      else after = raw;
    }
    if (JSON.stringify(after) !== JSON.stringify(before ?? null)) corrections[path] = after;
  }
  return corrections;
}

// A 422 with validation errors (corrections that do not validate) is shown next to the fields it names.
function showServerErrors(form, body) {
  const errors = (body && ((body.validation && body.validation.errors) || body.errors || (body.detail && body.detail.errors))) || [];
  if (!Array.isArray(errors)) return;
  for (const e of errors) {
    if (!e || !e.field) continue;
    const input = form.querySelector(`#${CSS.escape(safeId(e.field))}`);
    if (!input) continue;
    const row = input.closest(".row");
    let msg = row.querySelector("p.error");
    if (!msg) {
      msg = h("p.error", { id: `${input.id}-err` });
      row.append(msg);
      input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "") + ` ${msg.id}`).trim());
    }
    msg.textContent = `${e.message} (${e.code})`;
    row.classList.add("invalid");
    input.setAttribute("aria-invalid", "true");
  }
}

function focusHeading(main) {
  const h1 = main.querySelector("h1");
  if (h1) h1.focus({ preventScroll: true });
}

// ---------------------------------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  updateTokenButton();
  document.getElementById("enter-token").addEventListener("click", async () => {
    if (await askToken(false, { asked: true })) route();
  });
  document.getElementById("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    updateTokenButton();
    say("Token forgotten for this tab.");
  });
  window.addEventListener("hashchange", route);
  route();
});
