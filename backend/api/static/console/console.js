// kbchat console: one page over the /v1 API. No framework, no build step, nothing from a CDN.
// Rule kept everywhere: server strings become text nodes (h() below), never HTML.

const TOKEN = "kbchat.console.token";
const POLL_BUSY_MS = 2000; // while a document is queued or processing
const POLL_IDLE_MS = 10000;
const state = { me: null, kbs: [], kb: null, tab: "content", timer: null, docs: [], widgetKeys: {} };
const SCOPES = ["read", "search", "chat", "write", "manage", "support"];

// ---------- DOM ----------
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const $ = (id) => document.getElementById(id);
// A control with its label, tied by the control's own id (one place to get it right).
const labelled = (text, control) => [h("label", { for: control.id }, text), control];
function show(...nodes) {
  $("main").replaceChildren(...nodes.filter(Boolean));
}
function toast(message) {
  const t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

// ---------- API ----------
class ApiError extends Error {}
const bearer = () => `Bearer ${sessionStorage.getItem(TOKEN) || ""}`;
async function api(method, path, body) {
  const headers = { Authorization: bearer() };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch (err) {
    throw new ApiError(`kbchat did not answer (${err.message}); is the service running?`);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data?.error?.message || data?.detail || `HTTP ${response.status}`;
    if (response.status === 401) signOut(message);
    throw new ApiError(message);
  }
  return data;
}
async function blobOf(path) {
  // CSVs and charts: fetched with the bearer (a plain link could not send it), shown or saved from a blob.
  const response = await fetch(path, { headers: { Authorization: bearer() } }).catch(() => null);
  return response?.ok ? response.blob() : { failed: response?.status ?? "no answer" };
}
async function guarded(action) {
  try { return await action(); } catch (err) { toast(err.message); return undefined; }
}
const kbPath = (suffix = "") => `/v1/knowledge-bases/${encodeURIComponent(state.kb.id)}${suffix}`;
const can = (scope) => state.me?.admin || state.me?.scopes.includes(scope);

// ---------- sign in ----------
function signInView(message) {
  $("nav").hidden = true;
  $("signout").hidden = true;
  $("who").textContent = "";
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true });
  const form = h("form", { class: "card", onsubmit: async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN, input.value.trim());
    await start();
  } },
    h("h1", {}, "Sign in"),
    h("label", { for: "token" }, "Admin token or API key"),
    input,
    h("p", { class: "muted" }, "Kept in this tab only, sent as a bearer token; closing the tab signs you out."),
    message ? h("p", { class: "error", role: "alert" }, message) : null,
    h("button", { class: "primary", type: "submit" }, "Sign in"),
  );
  show(form);
  input.focus();
}
function signOut(message) {
  sessionStorage.removeItem(TOKEN);
  clearTimeout(state.timer);
  Object.assign(state, { me: null, kbs: [], kb: null });
  signInView(message);
}

async function start() {
  if (!sessionStorage.getItem(TOKEN)) return signInView();
  try {
    state.me = await api("GET", "/v1/whoami");
  } catch (err) {
    return signInView(err.message);
  }
  $("who").textContent = state.me.admin ? "admin" : `API key · ${state.me.scopes.join(", ")}`;
  $("signout").hidden = false;
  await loadKbs();
  if (state.kbs.length) openKb(state.kbs[0].id);
  else show(h("h1", {}, "No knowledge base yet"), h("p", {}, "Create one on the left."));
}

// ---------- knowledge bases ----------
async function loadKbs() {
  if (state.me.admin) state.kbs = (await api("GET", "/v1/knowledge-bases")).data;
  else if (can("read")) state.kbs = [await api("GET", `/v1/knowledge-bases/${encodeURIComponent(state.me.kb_id)}`)];
  else state.kbs = [{ id: state.me.kb_id, name: state.me.kb_id, document_count: 0 }];
  renderNav();
}
function renderNav() {
  const nav = $("nav");
  nav.hidden = false;
  const list = h("ul", {}, state.kbs.map((kb) => h("li", {},
    h("button", { type: "button", "aria-current": state.kb?.id === kb.id ? "page" : null, onclick: () => openKb(kb.id) },
      kb.name, h("span", { class: "muted" }, ` (${kb.document_count})`)))));
  const children = [h("h2", {}, "Knowledge bases"), list];
  if (state.me.admin) {
    const name = h("input", { id: "new-kb", type: "text", required: true, maxlength: 200 });
    children.push(h("form", { onsubmit: async (e) => {
      e.preventDefault();
      const kb = await guarded(() => api("POST", "/v1/knowledge-bases", { name: name.value }));
      if (!kb) return;
      await loadKbs();
      openKb(kb.id);
    } }, labelled("New knowledge base", name), h("button", { type: "submit" }, "Create")));
  }
  nav.replaceChildren(...children);
}
function openKb(id) {
  state.kb = state.kbs.find((kb) => kb.id === id);
  renderNav();
  renderKb();
}
function renderKb() {
  clearTimeout(state.timer);
  const tabs = [["content", "Content"], ["sources", "Sources"], ["playground", "Playground"], ["conversations", "Conversations"], ["analytics", "Analytics"], ["encoders", "Encoders"], ["keys", "Keys & widget"], ["settings", "Settings"]];
  const bar = h("div", { class: "tabs", role: "tablist" }, tabs.map(([key, label]) =>
    h("button", { type: "button", role: "tab", id: `tab-${key}`, "aria-selected": String(state.tab === key),
      onclick: () => { state.tab = key; renderKb(); } }, label)));
  const panel = h("section", { role: "tabpanel", "aria-labelledby": `tab-${state.tab}` });
  show(h("h1", {}, state.kb.name), bar, panel);
  ({ content: contentTab, sources: sourcesTab, playground: playgroundTab, conversations: conversationsTab, analytics: analyticsTab, encoders: encodersTab, keys: keysTab, settings: settingsTab })[state.tab](panel);
}

// ---------- content ----------
function contentTab(panel) {
  const uploads = h("ul", { class: "uploads", "aria-live": "polite" });
  const filter = h("select", { id: "status-filter", onchange: () => renderDocs() },
    ["all", "queued", "processing", "ready", "failed"].map((s) => h("option", { value: s }, s)));
  const typeFilter = h("select", { id: "type-filter", onchange: () => renderDocs() }, h("option", { value: "" }, "all"));
  const tagFilter = h("select", { id: "tag-filter", onchange: () => renderDocs() }, h("option", { value: "" }, "all"));
  const find = h("input", { id: "doc-find", type: "search", placeholder: "title or source", oninput: () => renderDocs() });
  const table = h("div", { id: "docs" });
  if (can("write")) {
    const input = h("input", { id: "files", type: "file", multiple: true, onchange: () => uploadAll(input.files, uploads) });
    const drop = h("div", { class: "drop" },
      h("label", { for: "files" }, "Upload documents"),
      h("p", { class: "muted" }, "PDF, Word, slides, spreadsheets, OpenDocument, EPUB, RTF, HTML, Markdown, text, CSV, JSON, subtitles: choose files or drop them here."),
      input);
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); uploadAll(e.dataTransfer.files, uploads); });
    const url = h("input", { id: "source-url", type: "url", required: true, maxlength: 2000, placeholder: "https://help.example.com/sitemap.xml" });
    const fromUrl = h("form", { class: "row", onsubmit: async (e) => {
      e.preventDefault();
      const job = await guarded(() => api("POST", kbPath("/documents/from-url"), { url: url.value }));
      if (!job) return;
      uploads.append(h("li", {}, h("span", {}, url.value), h("span", { class: "muted" }, "fetching: its pages appear below as they are read")));
      url.value = "";
      refreshDocs();
    } }, h("div", {}, labelled("Add a page or a sitemap by URL", url)), h("button", { type: "submit" }, "Add"));
    panel.append(drop, fromUrl, uploads);
  }
  panel.append(h("div", { class: "row" },
    h("div", {}, labelled("Find", find)),
    h("div", {}, labelled("Status", filter)),
    h("div", {}, labelled("Type", typeFilter)),
    h("div", {}, labelled("Tag", tagFilter))), table,
    h("div", { id: "chunks", "aria-live": "polite" }));
  refreshDocs();
}
function uploadAll(files, list) {
  for (const file of files) {
    const bar = h("progress", { max: 100, value: 0, "aria-label": `Uploading ${file.name}` });
    const note = h("span", { class: "muted" }, "uploading");
    list.append(h("li", {}, h("span", {}, file.name), bar, note));
    const form = new FormData();
    form.append("files", file, file.name);
    const xhr = new XMLHttpRequest(); // fetch has no upload progress
    xhr.open("POST", kbPath("/documents"));
    xhr.setRequestHeader("Authorization", bearer());
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON: reported below */ }
      if (xhr.status >= 200 && xhr.status < 300) {
        bar.value = 100;
        const item = data?.documents?.[0];
        note.textContent = item?.unchanged ? "unchanged: already here" : "accepted";
        refreshDocs();
      } else {
        note.textContent = data?.error?.message || `failed (HTTP ${xhr.status})`;
        note.className = "error";
      }
    };
    xhr.onerror = () => { note.textContent = "failed: kbchat did not answer"; note.className = "error"; };
    xhr.send(form);
  }
}
async function refreshDocs() {
  clearTimeout(state.timer);
  if (state.tab !== "content" || !can("read")) return;
  const kbId = state.kb.id;
  const data = await guarded(() => api("GET", kbPath("/documents?limit=1000")));
  if (!data || state.kb?.id !== kbId || state.tab !== "content") return;
  state.docs = data.data;
  if (state.kb.document_count !== data.count) { state.kb.document_count = data.count; renderNav(); }
  renderDocs();
  const busy = state.docs.some((d) => d.status === "queued" || d.status === "processing");
  state.timer = setTimeout(refreshDocs, busy ? POLL_BUSY_MS : POLL_IDLE_MS);
}
// The choices a filter offers: the values the documents have now, the current choice kept.
function syncOptions(select, values) {
  if (!select) return;
  const chosen = select.value;
  const wanted = ["", ...[...new Set(values)].sort()];
  if (wanted.join("\n") === [...select.options].map((o) => o.value).join("\n")) return;
  select.replaceChildren(...wanted.map((v) => h("option", { value: v, selected: v === chosen }, v || "all")));
}
function renderDocs() {
  const box = $("docs");
  if (!box) return;
  syncOptions($("type-filter"), state.docs.map((d) => d.content_type));
  syncOptions($("tag-filter"), state.docs.flatMap((d) => d.tags || []));
  const wanted = $("status-filter")?.value || "all";
  const type = $("type-filter")?.value || "";
  const tag = $("tag-filter")?.value || "";
  const text = ($("doc-find")?.value || "").trim().toLowerCase();
  const rows = state.docs.filter((d) => (wanted === "all" || d.status === wanted) && (!type || d.content_type === type)
    && (!tag || (d.tags || []).includes(tag)) && (!text || `${d.title}\n${d.source}`.toLowerCase().includes(text)));
  if (!rows.length) return box.replaceChildren(h("p", { class: "muted" }, state.docs.length ? "No document matches these filters." : "No documents yet."));
  box.replaceChildren(h("table", {},
    h("caption", { class: "muted" }, `${rows.length} of ${state.docs.length} documents`),
    h("thead", {}, h("tr", {}, ["Title", "Type", "Status", "Chunks", "Error", "Updated", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((d) => h("tr", {},
      h("td", {}, d.status === "ready" ? h("button", { type: "button", class: "link", title: "Show its passages", onclick: () => showChunks(d, 0) }, d.title) : d.title,
        d.near_duplicate_of ? h("div", { class: "muted", title: "Found at ingestion; GET …/duplicates lists every cluster" },
          `near-copy of ${d.near_duplicate_of.title} (${Math.round(100 * d.near_duplicate_of.similarity)} %)`) : null),
      h("td", {}, d.content_type),
      h("td", { class: `status-${d.status}` }, d.status, d.stage ? h("span", { class: "muted" }, ` · ${d.stage} ${Math.round(100 * (d.progress || 0))} %`) : null),
      h("td", { class: "num" }, d.chunk_count),
      h("td", { class: "error" }, d.error || ""),
      h("td", {}, new Date(d.updated_at).toLocaleString()),
      h("td", {}, ...(can("write") ? [
        d.status === "failed" ? h("button", { type: "button", "aria-label": `Retry ${d.title}`, onclick: async () => {
          if (await guarded(() => api("POST", kbPath(`/documents/${encodeURIComponent(d.id)}/retry`)))) refreshDocs();
        } }, "Retry") : null,
        h("button", { type: "button", class: "danger", "aria-label": `Delete ${d.title}`, onclick: async () => {
          if (!confirm(`Delete "${d.title}" and its passages?`)) return;
          await guarded(() => api("DELETE", kbPath(`/documents/${encodeURIComponent(d.id)}`)));
          refreshDocs();
        } }, "Delete"),
      ].filter(Boolean) : [])))))));
}

const CHUNK_PAGE = 50;
async function showChunks(doc, offset) {
  const box = $("chunks");
  const data = await guarded(() => api("GET", kbPath(`/documents/${encodeURIComponent(doc.id)}/chunks?offset=${offset}&limit=${CHUNK_PAGE}`)));
  if (!data || !box) return;
  const where = (c) => [c.heading.join(" › "), ...Object.entries(c.location).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join("–") : v}`),
    `characters ${c.char_start}–${c.char_end}`, c.lang].filter(Boolean).join(" · ");
  const list = h("ol", { class: "thread", start: offset + 1 }, data.data.map((c) => h("li", {}, h("span", { class: "muted" }, where(c)), h("p", {}, c.text))));
  const more = offset + CHUNK_PAGE < data.total
    ? h("button", { type: "button", onclick: () => showChunks(doc, offset + CHUNK_PAGE) }, "Next passages") : null;
  box.replaceChildren(...[h("h2", {}, `${doc.title}: passages ${offset + 1}–${offset + data.data.length} of ${data.total}`), list, more].filter(Boolean));
  box.scrollIntoView?.({ block: "start" });
}

// ---------- sources: sites, sitemaps, repositories kept in sync ----------
const EVERY = [["", "on request"], ["1h", "every hour"], ["6h", "every 6 hours"], ["1d", "every day"], ["1w", "every week"]];
const NAMED = { 3600: "every hour", 21600: "every 6 hours", 86400: "every day", 604800: "every week" };
const every = (s) => (!s ? "on request" : NAMED[s] || (s % 3600 === 0 ? `every ${s / 3600} hours` : `every ${Math.round(s / 60)} minutes`));
function sourcesTab(panel) {
  const list = h("div", { id: "sources" });
  const history = h("div", { id: "source-history", "aria-live": "polite" });
  if (can("write")) {
    const kind = h("select", { id: "source-kind" }, ["crawl", "sitemap", "page", "git"].map((k) => h("option", { value: k }, k)));
    const url = h("input", { id: "source-new-url", type: "text", required: true, maxlength: 2000, placeholder: "https://help.example.com/docs/" });
    const schedule = h("select", { id: "source-schedule" }, EVERY.map(([v, label]) => h("option", { value: v }, label)));
    panel.append(h("form", { class: "row", onsubmit: async (e) => {
      e.preventDefault();
      const body = { kind: kind.value, url: url.value, schedule: schedule.value || null };
      if (await guarded(() => api("POST", kbPath("/sources"), body))) { url.value = ""; refreshSources(); }
    } }, h("div", {}, labelled("Kind", kind)), h("div", {}, labelled("Keep in sync with", url)),
      h("div", {}, labelled("Sync", schedule)), h("button", { type: "submit" }, "Add source")));
  }
  panel.append(list, history);
  refreshSources();
}
async function refreshSources() {
  clearTimeout(state.timer);
  if (state.tab !== "sources") return;
  const kbId = state.kb.id;
  const data = await guarded(() => api("GET", kbPath("/sources")));
  const box = $("sources");
  if (!data || !box || state.kb?.id !== kbId) return;
  if (!data.data.length) box.replaceChildren(h("p", { class: "muted" }, "No sources yet: add a site, a sitemap or a repository to keep this knowledge base in sync with it."));
  else box.replaceChildren(h("table", {},
    h("thead", {}, h("tr", {}, ["Source", "Kind", "Sync", "Last sync", "Counts", "Documents", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, data.data.map((s) => h("tr", {},
      h("td", {}, h("button", { type: "button", class: "link", title: "Show its syncs", onclick: () => showSyncs(s) }, s.url)),
      h("td", {}, s.kind),
      h("td", {}, every(s.schedule_s)),
      h("td", { class: `status-${s.last_status}` }, s.last_status, s.last_sync_at ? h("span", { class: "muted" }, ` · ${new Date(s.last_sync_at).toLocaleString()}`) : null,
        s.last_error ? h("div", { class: "error" }, s.last_error) : null),
      h("td", {}, Object.entries(s.last_counts).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(", ")),
      h("td", { class: "num" }, s.documents),
      h("td", {}, ...(can("write") ? [
        h("button", { type: "button", "aria-label": `Sync ${s.url} now`, onclick: async () => {
          if (await guarded(() => api("POST", kbPath(`/sources/${encodeURIComponent(s.id)}/sync`)))) refreshSources();
        } }, "Sync now"),
        h("button", { type: "button", class: "danger", "aria-label": `Delete source ${s.url}`, onclick: async () => {
          if (!confirm(`Delete the source ${s.url} and the ${s.documents} documents it brought?`)) return;
          await guarded(() => api("DELETE", kbPath(`/sources/${encodeURIComponent(s.id)}`)));
          refreshSources();
        } }, "Delete"),
      ] : [])))))));
  const busy = data.data.some((s) => s.last_status === "running" || s.last_status === "never");
  state.timer = setTimeout(refreshSources, busy ? POLL_BUSY_MS : POLL_IDLE_MS);
}
async function showSyncs(source) {
  const data = await guarded(() => api("GET", kbPath(`/sources/${encodeURIComponent(source.id)}/syncs?limit=10`)));
  if (!data) return;
  $("source-history").replaceChildren(h("h2", {}, `Syncs of ${source.url}`), h("ol", {}, data.data.map((sync) => h("li", {},
    h("span", { class: `status-${sync.status}` }, sync.status), ` · ${new Date(sync.started_at).toLocaleString()} · `,
    Object.entries(sync.counts).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(", "),
    sync.errors.length ? h("ul", {}, sync.errors.map((e) => h("li", { class: "error" }, `${e.key}: ${e.error}${e.transient ? " (will be tried again)" : ""}`))) : null))));
}

// ---------- playground ----------
function playgroundTab(panel) {
  const question = h("textarea", { id: "question", rows: 2, required: true, maxlength: 4000 });
  const answer = h("div", { class: "answer", id: "answer", "aria-live": "polite" });
  const citations = h("div", { id: "citations" });
  const trace = h("div", { id: "trace" });
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    const text = question.value.trim();
    if (!text) return;
    answer.textContent = "";
    citations.replaceChildren();
    trace.replaceChildren(h("p", { class: "muted" }, "Searching…"));
    if (can("search")) searchTrace(text, trace);
    if (can("chat")) await streamChat(text, answer, citations);
    else answer.textContent = "This key has no chat scope: only the retrieval trace is shown.";
  } }, labelled("Ask this knowledge base", question),
    h("p", {}, h("button", { class: "primary", type: "submit" }, "Ask")));
  panel.append(form, h("h2", {}, "Answer"), answer, citations, h("h2", {}, "Retrieval trace"), trace);
  question.focus();
}
async function streamChat(text, answer, citations) {
  let response;
  try {
    response = await fetch(kbPath("/chat"), {
      method: "POST",
      headers: { Authorization: bearer(), "Content-Type": "application/json" },
      body: JSON.stringify({ message: text, stream: true }),
    });
  } catch (err) { return toast(`kbchat did not answer (${err.message})`); }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    return toast(data?.error?.message || `HTTP ${response.status}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!event || data === undefined) continue; // a keep-alive comment
      const payload = JSON.parse(data);
      if (event === "token") answer.append(payload.text);
      else if (event === "citations") renderCitations(payload.citations, citations);
      else if (event === "done") citations.append(h("p", { class: "muted" },
        `confidence ${payload.confidence === null ? "–" : payload.confidence.toFixed(3)} · ` +
        Object.entries(payload.timings_ms || {}).map(([k, v]) => `${k} ${Number(v).toFixed(0)} ms`).join(" · ")));
      else if (event === "error") answer.append(h("span", { class: "error" }, payload.message));
      else if (event === "handoff") answer.append("A person handles this conversation.");
    }
  }
}
function renderCitations(list, box) {
  const passage = h("div", { class: "passage", hidden: true, id: "cited" });
  box.replaceChildren(h("p", {}, list.length ? "Sources: " : "No sources.",
    list.map((c) => h("button", { type: "button", class: "cite", onclick: () => {
      passage.hidden = false;
      passage.replaceChildren(h("strong", {}, `[${c.index}] ${c.title}${c.heading.length ? " › " + c.heading.join(" › ") : ""}`), "\n", c.text);
    } }, `[${c.index}] ${c.title}`))), passage);
}
async function searchTrace(text, box) {
  const data = await guarded(() => api("POST", kbPath("/search"), { query: text, top_k: 10, min_confidence: 0 }));
  if (!data) return box.replaceChildren();
  const fixed = (v) => (v === null || v === undefined ? "–" : Number(v).toFixed(3));
  const cut = data.answer_cut;
  const stages = Object.entries(data.timings_ms || {}).map(([k, v]) => `${k} ${Number(v).toFixed(1)}`).join(" · ");
  const kept = (r) => cut === null || cut === undefined || (r.confidence ?? 0) >= cut;
  box.replaceChildren(
    h("p", { class: "muted" }, `${data.mode} search, ${data.results.length} passages in ${data.took_ms.toFixed(0)} ms (${stages} ms)`),
    h("p", { class: "muted" }, cut === null || cut === undefined ? "Confidence was not scored."
      : `Chat answers only from passages whose confidence is at least ${fixed(cut)} (up to its top-k, 5 unless configured); ${data.results.filter(kept).length} of these clear it.`),
    h("table", {},
      h("thead", {}, h("tr", {}, ["#", "Passage", "Dense cosine", "Score", "Confidence", "Cut", "Evidence"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, data.results.map((r, i) => h("tr", { class: kept(r) ? "" : "muted" },
        h("td", { class: "num" }, i + 1),
        h("td", {}, h("strong", {}, r.title), r.heading.length ? ` › ${r.heading.join(" › ")}` : "", h("br"),
          h("span", { class: "muted" }, r.text.length > 220 ? `${r.text.slice(0, 220)}…` : r.text)),
        h("td", { class: "num" }, fixed(r.relevance)),
        h("td", { class: "num" }, `${fixed(r.score)} ${r.score_kind}`),
        h("td", { class: "num" }, fixed(r.confidence)),
        h("td", {}, kept(r) ? "kept" : "cut"),
        h("td", {}, Object.entries(r.evidence || {}).map(([k, v]) => `${k} ${Number(v).toFixed(2)}`).join(", ")))))));
}

// ---------- conversations, handoffs, leads ----------
function conversationsTab(panel) {
  if (!can("support")) return panel.append(h("p", { class: "muted" }, "Conversations need a key with the support scope."));
  const waiting = h("input", { id: "waiting", type: "checkbox", onchange: () => listConversations(list, waiting.checked, thread) });
  const list = h("div", { id: "conversations" });
  const thread = h("div", { id: "thread" });
  const leads = h("div", { id: "leads" });
  panel.append(h("label", { class: "check" }, waiting, " only conversations waiting for a person"), list, thread,
    h("h2", {}, "Leads (last 90 days) ", h("button", { type: "button", class: "link", "aria-label": "Leads as CSV", onclick: () => downloadCsv("leads", 90, "/leads") }, "CSV")), leads);
  listConversations(list, false, thread);
  listLeads(leads);
}
async function listConversations(box, waitingOnly, thread) {
  const data = await guarded(() => api("GET", kbPath(`/conversations?limit=200${waitingOnly ? "&handoff=true" : ""}`)));
  if (!data) return;
  if (!data.length) return box.replaceChildren(h("p", { class: "muted" }, waitingOnly ? "Nobody is waiting for a person." : "No conversations yet."));
  box.replaceChildren(table(["Started", "Channel", "Visitor", "Person needed", ""], data.map((c) => [
    new Date(c.created_at).toLocaleString(), c.channel, c.visitor_id || "anonymous",
    c.handoff ? h("strong", { class: "status-queued" }, `yes${c.handoff_reason ? `: ${c.handoff_reason}` : ""}`) : "no",
    h("button", { type: "button", onclick: () => openConversation(c.id, thread, () => listConversations(box, waitingOnly, thread)) }, "Open"),
  ])));
}
async function openConversation(id, box, changed) {
  const path = kbPath(`/conversations/${encodeURIComponent(id)}`);
  const c = await guarded(() => api("GET", path));
  if (!c) return;
  const reply = h("textarea", { id: "reply", rows: 2, maxlength: 20000, required: true });
  const act = async (suffix, body) => { if ((await guarded(() => api("POST", `${path}${suffix}`, body))) !== undefined) { openConversation(id, box, changed); changed(); } };
  box.replaceChildren(h("h2", {}, "Conversation"),
    h("ol", { class: "thread" }, c.messages.map((m) => h("li", { class: `msg-${m.role}` }, h("span", { class: "muted" }, `${m.role} · ${new Date(m.created_at).toLocaleString()}`), h("p", {}, m.content)))),
    c.handoff
      ? h("form", { onsubmit: (e) => { e.preventDefault(); act("/messages", { content: reply.value }); } },
          labelled("Answer as a person (the visitor sees it in the widget)", reply),
          h("p", { class: "row" }, h("button", { class: "primary", type: "submit" }, "Send"),
            h("button", { type: "button", onclick: () => act("/release") }, "Give back to the assistant")))
      : h("p", {}, h("button", { type: "button", onclick: () => act("/handoff", {}) }, "Take over as a person")));
}
async function listLeads(box) {
  const data = await guarded(() => api("GET", kbPath("/leads?days=90")));
  if (!data) return;
  if (!data.length) return box.replaceChildren(h("p", { class: "muted" }, "No leads yet."));
  box.replaceChildren(table(["Left", "Email", "Name", "Note"], data.map((l) => [new Date(l.created_at).toLocaleString(), l.email, l.name || "", l.note || ""])));
}

// ---------- analytics ----------
const REPORTS = [["top-questions", "Top questions"], ["content-gaps", "Content gaps"], ["sources", "Sources"], ["feedback", "Feedback per day"]];
function analyticsTab(panel) {
  if (!can("manage")) return panel.append(h("p", { class: "muted" }, "Analytics need a key with the manage scope."));
  const days = h("select", { id: "window", onchange: () => loadAnalytics(days.value, body) },
    [7, 30, 90, 365].map((d) => h("option", { value: d, selected: d === 30 }, `last ${d} days`)));
  const body = h("div", { id: "analytics" });
  panel.append(h("div", { class: "row" }, h("div", {}, labelled("Window", days))), body);
  loadAnalytics(days.value, body);
}
async function loadAnalytics(days, body) {
  const get = (report) => api("GET", kbPath(`/analytics/${report}?days=${days}`));
  const results = await guarded(() => Promise.all(["summary", ...REPORTS.map(([r]) => r)].map(get)));
  if (!results) return;
  const [summary, ...reports] = results.map((r) => r.data);
  const s = summary;
  const figures = [["Conversations", s.conversations], ["Questions", s.questions], ["Grounded answers", s.grounded_rate === null ? "–" : `${Math.round(100 * s.grounded_rate)} %`],
    ["Rated up / down", `${s.feedback_up} / ${s.feedback_down}`], ["Waiting for a person", s.waiting_for_a_person], ["Leads", s.leads]];
  body.replaceChildren(
    h("dl", { class: "figures" }, figures.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))),
    ...REPORTS.map(([report, title], i) => h("section", { "aria-labelledby": `r-${report}` },
      h("h2", { id: `r-${report}` }, title, " ", h("button", { type: "button", class: "link", "aria-label": `${title} as CSV`, onclick: () => downloadCsv(report, days) }, "CSV")),
      reportTable(report, reports[i]))));
}
function reportTable(report, rows) {
  if (!rows.length) return h("p", { class: "muted" }, "Nothing in this window.");
  const pct = (v) => `${Math.round(100 * v)} %`;
  const most = Math.max(1, ...rows.map((r) => r.citations ?? r.count ?? 0));
  const bar = (value, label) => h("meter", { min: 0, max: most, value, "aria-label": label });
  if (report === "sources") return table(["Document", "Citations", "", "Last cited"], rows.map((r) =>
    [r.exists ? r.title : `${r.title} (deleted)`, r.citations, bar(r.citations, `${r.citations} citations`),
      r.last_cited ? new Date(r.last_cited).toLocaleString() : "never"]));
  if (report === "feedback") {
    const top = Math.max(1, ...rows.map((r) => r.up + r.down));
    return table(["Day", "Up", "Down", ""], rows.map((r) => [r.day, r.up, r.down,
      h("meter", { min: 0, max: top, value: r.up + r.down, "aria-label": `${r.up + r.down} ratings` })]));
  }
  return table(["Question", "Asked", "Share", "", report === "content-gaps" ? "Why" : "Up / down", ""], rows.map((r) => [
    h("span", { title: r.examples.join("\n") }, r.label), r.count, pct(r.share), bar(r.count, `asked ${r.count} times`),
    report === "content-gaps" ? Object.entries(r.reasons || {}).filter(([, n]) => n).map(([k, n]) => `${k.replaceAll("_", " ")} ${n}`).join(", ") : `${r.up} / ${r.down}`,
    report === "content-gaps" && can("write") ? h("button", { type: "button", onclick: () => { state.tab = "content"; renderKb(); $("files")?.focus(); } }, "Add a document") : "",
  ]));
}
function table(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", { class: typeof c === "number" ? "num" : null }, c))))));
}
async function downloadCsv(report, days, path = `/analytics/${report}`) {
  const blob = await blobOf(kbPath(`${path}?days=${days}&format=csv`));
  if (blob.failed) return toast(`The ${report} CSV could not be fetched (HTTP ${blob.failed}).`);
  const link = h("a", { href: URL.createObjectURL(blob), download: `${state.kb.name}-${report}.csv` });
  link.click();
  URL.revokeObjectURL(link.href);
}

// ---------- encoders ----------
function encodersTab(panel) {
  if (!can("manage")) return panel.append(h("p", { class: "muted" }, "Encoders need a key with the manage scope."));
  const versions = h("div", { id: "versions" });
  const progress = h("div", { id: "train-progress", "aria-live": "polite" });
  const pairs = h("input", { id: "pairs", type: "file", accept: ".jsonl,.json,application/json" });
  const mode = h("select", { id: "train-mode" },
    h("option", { value: "auto" }, "pairs from the file, else liked chats, else self-supervised"),
    h("option", { value: "self" }, "self-supervised on this knowledge base's text"));
  const epochs = h("input", { id: "epochs", type: "number", min: 0.1, max: 50, step: 0.1, value: 1 });
  const batch = h("input", { id: "batch", type: "number", min: 2, max: 65536, step: 1, value: 32 });
  const name = h("input", { id: "version-name", type: "text", maxlength: 100, pattern: "[A-Za-z0-9._-]+" });
  const activate = h("input", { id: "activate", type: "checkbox", checked: true });
  panel.append(
    h("p", {}, "Serving this knowledge base: ", h("strong", { id: "serving" }, state.kb.encoder?.version || "base")),
    h("h2", {}, "Versions"), versions,
    h("h2", {}, "Fine-tune"),
    h("form", { onsubmit: async (e) => {
      e.preventDefault();
      const body = { options: { epochs: Number(epochs.value), batch_size: Number(batch.value) }, activate: activate.checked };
      if (name.value) body.name = name.value;
      if (mode.value === "self") body.self_supervised = true;
      else if (pairs.files.length) {
        const parsed = await readPairs(pairs.files[0]);
        if (!parsed) return;
        body.pairs = parsed;
      }
      const job = await guarded(() => api("POST", kbPath("/finetune"), body));
      if (job) followJob(job, progress, () => listVersions(versions));
    } },
      labelled("Question–passage pairs (JSON lines: {\"query\": …, \"positive\": …})", pairs),
      labelled("Training data", mode),
      labelled("Epochs", epochs),
      labelled("Batch size (in-batch negatives: larger is better, up to the number of pairs)", batch),
      labelled("Version name (optional; letters, digits, . _ -)", name),
      h("label", { class: "check" }, activate, " serve this knowledge base with it if it beats the current encoder"),
      h("p", {}, h("button", { class: "primary", type: "submit" }, "Start fine-tuning"))),
    progress);
  listVersions(versions);
}
async function readPairs(file) {
  if (file.size > 20 * 1024 * 1024) return toast("The pairs file is over 20 MB; split it.");
  const lines = (await file.text()).split("\n").map((l) => l.trim()).filter(Boolean);
  try {
    const rows = lines.length === 1 && lines[0].startsWith("[") ? JSON.parse(lines[0]) : lines.map((l) => JSON.parse(l));
    return rows.map((r) => ({ query: r.query, positive: r.positive, ...(r.doc_id ? { doc_id: r.doc_id } : {}) }));
  } catch (err) {
    toast(`The pairs file is not JSON lines (${err.message}).`);
    return null;
  }
}
async function listVersions(box) {
  const data = await guarded(() => api("GET", kbPath("/encoders")));
  if (!data) return;
  const serving = data.active;
  $("serving") && ($("serving").textContent = serving);
  const ndcg = (m, side) => (m?.[side]?.["ndcg@10"] === undefined ? "–" : Number(m[side]["ndcg@10"]).toFixed(3));
  const rows = data.data.map((v) => [v.name, v.status, `${ndcg(v.metrics, "before")} → ${ndcg(v.metrics, "after")}`,
    new Date(v.created_at).toLocaleString(), v.name === serving ? "serving" : "",
    v.name === serving || v.status !== "ready" ? "" : h("button", { type: "button", onclick: () => switchTo(v.name, box) }, `Activate ${v.name}`)]);
  rows.unshift(["base (the configured model)", "ready", "", "", serving === "base" ? "serving" : "",
    serving === "base" ? "" : h("button", { type: "button", onclick: () => switchTo("base", box) }, "Roll back to base")]);
  box.replaceChildren(table(["Version", "Status", "held-out nDCG@10 before → after", "Created", "", ""], rows));
  const latest = data.data.find((v) => v.metrics?.chart);
  if (latest && state.me.admin) showChart(latest.name, box);
}
async function showChart(name, box) {
  const blob = await blobOf(`/v1/encoders/${encodeURIComponent(name)}/chart.png`);
  if (blob.failed) return;
  box.append(h("figure", {}, h("img", { class: "chart", src: URL.createObjectURL(blob), alt: `Held-out metrics before and after training ${name}` }),
    h("figcaption", { class: "muted" }, `${name}: held-out metrics before and after training`)));
}
async function switchTo(version, box) {
  const job = await guarded(() => api("POST", kbPath("/encoder"), { version }));
  if (job) followJob(job, $("train-progress"), () => listVersions(box));
}
function followJob(job, box, done) {
  const bar = h("progress", { max: 1, value: 0, "aria-label": `${job.kind} progress` });
  const note = h("span", { class: "muted" }, "queued");
  box.replaceChildren(h("p", {}, `${job.kind}: `, note, " ", bar));
  const poll = async () => {
    const now = await guarded(() => api("GET", kbPath(`/jobs/${encodeURIComponent(job.id)}`)));
    if (!now) return;
    bar.value = now.progress;
    note.textContent = `${now.status}${now.stage ? ` · ${now.stage}` : ""}`;
    if (now.status === "succeeded" || now.status === "failed" || now.status === "cancelled") {
      if (now.error) note.append(h("span", { class: "error" }, ` · ${now.error}`));
      const r = now.result;
      if (r?.before && r?.after) note.append(` · held-out nDCG@10 ${Number(r.before["ndcg@10"]).toFixed(3)} → ${Number(r.after["ndcg@10"]).toFixed(3)}${r.promoted ? ", promoted" : ", not promoted"}`);
      return done();
    }
    setTimeout(poll, POLL_BUSY_MS);
  };
  poll();
}

// ---------- keys and widget ----------
async function keysTab(panel) {
  if (!can("manage")) return panel.append(h("p", { class: "muted" }, "Keys need a key with the manage scope."));
  const list = h("div", { id: "keys" });
  const shown = h("div", { id: "new-key", "aria-live": "polite" });
  const name = h("input", { id: "key-name", type: "text", maxlength: 200 });
  const kind = h("select", { id: "key-kind" }, h("option", { value: "secret" }, "secret (server side)"), h("option", { value: "widget" }, "widget (public, chat only)"));
  const boxes = SCOPES.map((scope) => h("label", { class: "check" },
    h("input", { type: "checkbox", name: "scope", value: scope, checked: ["read", "search", "chat"].includes(scope) }), ` ${scope}`));
  const scopes = h("fieldset", {}, h("legend", {}, "Scopes (secret keys)"), boxes);
  kind.addEventListener("change", () => { scopes.disabled = kind.value === "widget"; });
  panel.append(h("h2", {}, "Create a key"), h("form", { onsubmit: async (e) => {
    e.preventDefault();
    const chosen = [...scopes.querySelectorAll("input:checked")].map((b) => b.value);
    const created = await guarded(() => api("POST", kbPath("/keys"), { name: name.value, kind: kind.value, scopes: chosen }));
    if (!created) return;
    if (created.kind === "widget") state.widgetKeys[state.kb.id] = created.key;
    const copy = h("button", { type: "button", onclick: () => navigator.clipboard?.writeText(created.key).then(() => { copy.textContent = "Copied"; }) }, "Copy");
    shown.replaceChildren(h("p", {}, "The key, shown this once (only its hash is stored):"), h("pre", { class: "secret" }, created.key), copy);
    name.value = "";
    await listKeys(list);
    renderWidget(widget);
  } }, labelled("Name", name), labelled("Kind", kind), scopes,
    h("p", {}, h("button", { class: "primary", type: "submit" }, "Create key"))), shown, h("h2", {}, "Keys"), list);
  const widget = h("section", { "aria-labelledby": "widget-title" });
  panel.append(widget);
  await listKeys(list);
  renderWidget(widget);
}
async function listKeys(box) {
  const data = await guarded(() => api("GET", kbPath("/keys")));
  if (!data) return;
  if (!data.data.length) return box.replaceChildren(h("p", { class: "muted" }, "No keys yet."));
  box.replaceChildren(table(["Name", "Kind", "Starts with", "Scopes", "Created", "State", ""], data.data.map((k) => [
    k.name || "–", k.kind, h("code", {}, `${k.prefix}…`),
    k.kind === "widget" ? "chat (widget)" : k.scopes.join(", "),
    new Date(k.created_at).toLocaleString(),
    h("span", { class: k.revoked_at ? "muted" : "status-ready" }, k.revoked_at ? "revoked" : "active"),
    k.revoked_at ? "" : h("button", { type: "button", class: "danger", "aria-label": `Revoke ${k.name || k.prefix}`, onclick: async () => {
      if (!confirm("Revoke this key? Anything using it stops working at once.")) return;
      if ((await guarded(() => api("DELETE", kbPath(`/keys/${encodeURIComponent(k.id)}`)))) !== undefined) listKeys(box);
    } }, "Revoke"),
  ])));
}
function renderWidget(box) {
  const kb = state.kb;
  const key = state.widgetKeys[kb.id];
  const origins = h("textarea", { id: "widget-origins", rows: 3 });
  origins.value = (kb.widget?.allowed_origins || []).join("\n");
  const assistant = h("input", { id: "widget-name", type: "text", value: kb.widget?.assistant_name || "", maxlength: 80 });
  const greeting = h("input", { id: "widget-greeting", type: "text", value: kb.widget?.greeting || "", maxlength: 500 });
  const color = h("input", { id: "widget-color", type: "color", value: kb.widget?.primary_color || "#2457d6" });
  const logo = h("input", { id: "widget-logo", type: "url", value: kb.widget?.logo_url || "", maxlength: 2000, placeholder: "https://…" });
  const tone = h("input", { id: "widget-tone", type: "text", value: kb.widget?.tone || "", maxlength: 200 });
  const snippet = `<script src="${location.origin}/widget.js" data-key="${key || "kbw_…"}" async></script>`;
  const allowed = (kb.widget?.allowed_origins || []).includes(location.origin);
  box.replaceChildren(...[
    h("h2", { id: "widget-title" }, "Widget"),
    h("form", { onsubmit: async (e) => {
      e.preventDefault();
      const widget = { allowed_origins: origins.value.split(/\s+/).filter(Boolean), assistant_name: assistant.value, greeting: greeting.value,
        primary_color: color.value, logo_url: logo.value || null, tone: tone.value || null };
      const saved = await guarded(() => api("PATCH", kbPath(), { widget }));
      if (!saved) return;
      Object.assign(kb, saved);
      renderWidget(box);
    } },
      labelled("Allowed origins (one per line, e.g. https://help.example.com)", origins),
      labelled("Assistant name", assistant),
      labelled("Greeting", greeting),
      labelled("Colour", color),
      labelled("Logo (an https:// image)", logo),
      labelled("Tone of the widget's answers (e.g. friendly and concise)", tone),
      h("p", {}, h("button", { type: "submit" }, "Save widget settings"))),
    h("label", { for: "snippet" }, "Embed snippet: paste before </body> on your site"),
    h("pre", { id: "snippet", class: "secret" }, snippet),
    key ? null : h("p", { class: "muted" }, "Create a widget key above to fill in the snippet and see the preview."),
    key && !allowed ? h("p", { class: "muted" }, `For the preview, add ${location.origin} to the allowed origins.`) : null,
    key && allowed ? h("iframe", { class: "preview", title: "Widget preview", src: `/widget/demo?key=${encodeURIComponent(key)}` }) : null,
  ].filter(Boolean)); // replaceChildren would write a null as the text "null"
}

// ---------- settings ----------
function settingsTab(panel) {
  if (!can("manage")) return panel.append(h("p", { class: "muted" }, "Settings need a key with the manage scope."));
  const kb = state.kb;
  const name = h("input", { id: "kb-name", type: "text", value: kb.name, required: true, maxlength: 200, disabled: !state.me.admin });
  const description = h("textarea", { id: "kb-description", rows: 2, maxlength: 2000 });
  description.value = kb.description || "";
  const mode = h("select", { id: "kb-mode" }, ["hybrid", "dense", "sparse"].map((m) =>
    h("option", { value: m, selected: kb.retrieval?.mode === m }, m)));
  const fusion = h("select", { id: "kb-fusion" }, ["convex", "rrf"].map((f) =>
    h("option", { value: f, selected: (kb.retrieval?.fusion || "convex") === f }, f)));
  const alpha = h("input", { id: "kb-alpha", type: "number", min: 0, max: 1, step: 0.05, value: kb.retrieval?.alpha ?? 0.7 });
  const cut = h("input", { id: "kb-cut", type: "number", min: 0, max: 1, step: 0.01, value: kb.retrieval?.min_confidence ?? "", placeholder: "calibrated" });
  const chain = h("input", { id: "kb-chain", type: "text", maxlength: 500, placeholder: "the service's default",
    value: (kb.chat?.chain || []).map((s) => (s.model ? `${s.provider}:${s.model}` : s.provider)).join(", ") });
  const prompt = h("textarea", { id: "kb-prompt", rows: 4, maxlength: 4000 });
  prompt.value = kb.chat?.system_prompt || "";
  const tone = h("input", { id: "kb-tone", type: "text", value: kb.chat?.tone || "", maxlength: 200 });
  panel.append(h("form", { onsubmit: async (e) => {
    e.preventDefault();
    const steps = chain.value.split(",").map((p) => p.trim()).filter(Boolean).map((p) => {
      const [provider, ...model] = p.split(":");
      return { provider: provider.trim(), model: model.join(":").trim() };
    });
    const body = { description: description.value,
      retrieval: { mode: mode.value, fusion: fusion.value, alpha: Number(alpha.value), min_confidence: cut.value === "" ? null : Number(cut.value) },
      chat: { chain: steps.length ? steps : null, system_prompt: prompt.value || null, tone: tone.value || null } };
    if (state.me.admin && name.value !== kb.name) body.name = name.value;
    const saved = await guarded(() => api("PATCH", kbPath(), body));
    if (!saved) return;
    Object.assign(kb, saved);
    await loadKbs();
    openKb(kb.id);
  } },
    labelled("Name", name),
    labelled("Description", description),
    labelled("Search mode", mode),
    labelled("Hybrid fusion (convex: weighted scores; rrf: ranks)", fusion),
    labelled("Convex fusion: weight of meaning vs keywords (0–1)", alpha),
    labelled("Answer only above this confidence (empty: the calibrated cut)", cut),
    labelled("Who answers, in order (provider:model, …; extractive needs no model)", chain),
    labelled("System prompt for the language model (empty: kbchat's own)", prompt),
    labelled("Tone (e.g. friendly and concise)", tone),
    h("p", {}, h("button", { class: "primary", type: "submit" }, "Save"))));
  if (state.me.admin) {
    const confirmName = h("input", { id: "confirm-delete", type: "text", autocomplete: "off" });
    panel.append(h("h2", {}, "Delete this knowledge base"), h("form", { onsubmit: async (e) => {
      e.preventDefault();
      if (confirmName.value !== kb.name) return toast(`Type the name "${kb.name}" exactly to delete it.`);
      if ((await guarded(() => api("DELETE", kbPath()))) === undefined) return;
      state.kb = null;
      await loadKbs();
      if (state.kbs.length) openKb(state.kbs[0].id);
      else show(h("h1", {}, "No knowledge base yet"), h("p", {}, "Create one on the left."));
    } },
      h("p", {}, "Its documents, passages, keys and conversations are deleted. This cannot be undone."),
      labelled("Type its name to confirm", confirmName),
      h("p", {}, h("button", { class: "danger", type: "submit" }, "Delete knowledge base"))));
  }
}

$("signout").addEventListener("click", () => signOut());
start();
