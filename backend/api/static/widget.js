/*
 * kbchat widget: one <script> tag on any page, no build step, no dependencies.
 *
 *   <script src="https://YOUR-KBCHAT/widget.js" data-key="kbw_..." async></script>
 *
 * Signed-in visitors: add data-visitor-token="<JWT your server signed>" to the tag, or call
 * KBChat.identify(token) when you have a fresh one (tokens are short-lived).
 *
 * It talks only to /v1/widget/<key>/... on the server it was loaded from, renders inside a shadow
 * root (the host page's CSS cannot reach it, and its CSS cannot leak out), and writes server text
 * with textContent only, so nothing an answer or a document contains can run as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.key) {
    console.error("kbchat widget: add data-key=\"kbw_...\" to the script tag");
    return;
  }
  var base = new URL(script.src).origin + "/v1/widget/" + encodeURIComponent(script.dataset.key);
  var visitorToken = script.dataset.visitorToken || null;
  var conversationId = null;
  var polling = null, lastSeen = null, shown = {};
  var POLL_MS = 4000;

  window.KBChat = window.KBChat || {};
  window.KBChat.identify = function (token) { visitorToken = token || null; };

  function call(path, body) {
    var headers = { "Content-Type": "application/json" };
    if (visitorToken) headers["X-Visitor-Token"] = visitorToken;
    return fetch(base + path, body === undefined ? { headers: headers } :
      { method: "POST", headers: headers, body: JSON.stringify(body) });
  }

  var host = document.createElement("div");
  host.id = "kbchat-widget";
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" +
    ":host{all:initial}" +
    ".launcher{position:fixed;bottom:20px;right:20px;border:0;border-radius:24px;padding:12px 18px;" +
    "color:#fff;font:600 14px system-ui,sans-serif;cursor:pointer;box-shadow:0 4px 12px rgba(0,0,0,.2)}" +
    ".panel{position:fixed;bottom:76px;right:20px;width:340px;max-height:70vh;display:none;flex-direction:column;" +
    "background:#fff;border-radius:12px;box-shadow:0 8px 28px rgba(0,0,0,.25);font:14px system-ui,sans-serif;color:#222}" +
    ".panel.open{display:flex}.head{padding:12px 14px;color:#fff;border-radius:12px 12px 0 0;font-weight:600}" +
    ".log{flex:1;overflow-y:auto;padding:10px 14px}.msg{margin:8px 0;white-space:pre-wrap}" +
    ".me{text-align:right;color:#333}.bot{color:#111}.agent{color:#064;font-style:italic}" +
    ".cites{font-size:12px;margin:4px 0 0;padding-left:18px}" +
    ".cites a{color:inherit}.rate button{border:0;background:none;cursor:pointer;font-size:16px}" +
    ".note{font-size:12px;color:#a33}.ok{font-size:12px;color:#064}" +
    ".tools{display:flex;gap:12px;padding:4px 14px;font-size:12px}" +
    ".tools button{border:0;background:none;padding:0;color:#555;text-decoration:underline;cursor:pointer;font:inherit}" +
    ".lead{display:flex;flex-direction:column;gap:6px;margin:8px 0}" +
    ".lead input{border:1px solid #ccc;border-radius:6px;padding:6px;font:inherit}" +
    ".lead button{align-self:flex-end;border:0;border-radius:6px;padding:6px 12px;color:#fff;cursor:pointer}" +
    "form.ask{display:flex;border-top:1px solid #eee}" +
    "form.ask input{flex:1;border:0;padding:12px;font:inherit;outline:none}" +
    "form.ask button{border:0;padding:0 14px;color:#fff;cursor:pointer}" +
    "</style>" +
    "<button class='launcher' part='launcher'>Ask</button>" +
    "<div class='panel' role='dialog'><div class='head'></div><div class='log' aria-live='polite'></div>" +
    "<div class='tools'><button type='button' class='leave-email'>Leave your email</button>" +
    "<button type='button' class='human'>Talk to a person</button></div>" +
    "<form class='ask'><input name='q' autocomplete='off' maxlength='2000' placeholder='Type your question…'>" +
    "<button type='submit'>Send</button></form></div>";
  var $ = function (sel) { return root.querySelector(sel); };
  var log = $(".log");
  var color = "#2457d6";

  function add(cls, text) {
    var el = document.createElement("div");
    el.className = "msg " + cls;
    el.textContent = text;
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  async function problem(response) {
    var body = await response.json().catch(function () { return {}; });
    var wait = response.headers.get("Retry-After");
    return ((body.error && body.error.message) || "Something went wrong.") +
      (wait ? " (try again in " + wait + " s)" : "");
  }

  function citations(el, list) {
    if (!list || !list.length) return;
    var ol = document.createElement("ol");
    ol.className = "cites";
    list.forEach(function (c) {
      var li = document.createElement("li");
      var source = String(c.source || "");
      if (/^https?:\/\//.test(source)) {
        var a = document.createElement("a");
        a.href = source; a.target = "_blank"; a.rel = "noopener noreferrer";
        a.textContent = c.title || source;
        li.appendChild(a);
      } else {
        li.textContent = c.title || source;
      }
      ol.appendChild(li);
    });
    el.appendChild(ol);
  }

  function feedback(el, messageId) {
    var bar = document.createElement("div");
    bar.className = "rate";
    [["up", "👍"], ["down", "👎"]].forEach(function (pair) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = pair[1]; b.setAttribute("aria-label", "rate " + pair[0]);
      b.onclick = function () {
        call("/messages/" + encodeURIComponent(messageId) + "/feedback", { rating: pair[0] })
          .then(function (r) { bar.textContent = r.ok ? "Thanks for the feedback." : "Feedback not saved."; });
      };
      bar.appendChild(b);
    });
    el.appendChild(bar);
  }

  // After a handoff, a person's replies arrive as "agent" messages: poll for them.
  function startPolling() {
    if (polling || !conversationId) return;
    lastSeen = lastSeen || new Date().toISOString();
    polling = setInterval(function () {
      var path = "/conversations/" + encodeURIComponent(conversationId) + "/messages?since=" +
        encodeURIComponent(lastSeen);
      call(path).then(function (r) { return r.ok ? r.json() : []; }).then(function (messages) {
        messages.forEach(function (m) {
          lastSeen = m.created_at;
          if (m.role === "agent" && !shown[m.id]) { shown[m.id] = true; add("agent", m.content); }
        });
      }).catch(function () { /* offline for a moment: the next poll catches up */ });
    }, POLL_MS);
  }

  function stopPolling() {
    if (polling) { clearInterval(polling); polling = null; }
  }

  function handedOff() {
    add("ok", "A person will reply here.");
    startPolling();
  }

  async function ask(question) {
    add("me", question);
    var answer = add("bot", "…");
    var response = await call("/chat", { message: question, conversation_id: conversationId, stream: true });
    if (!response.ok) {
      answer.textContent = "";
      add("note", await problem(response));
      return;
    }
    var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "", text = "";
    answer.textContent = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var events = buffer.split("\n\n");
      buffer = events.pop();
      events.forEach(function (raw) {
        var type = "message", data = "";
        raw.split("\n").forEach(function (line) {
          if (line.indexOf("event:") === 0) type = line.slice(6).trim();
          else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
        });
        if (!data) return;
        var payload = JSON.parse(data);
        if (type === "token") { text += payload.text; answer.textContent = text; }
        else if (type === "citations") citations(answer, payload.citations);
        else if (type === "done") {
          conversationId = payload.conversation_id || conversationId;
          if (payload.message_id) feedback(answer, payload.message_id);
          stopPolling(); // the assistant answers again: the person released the conversation
        } else if (type === "handoff") {
          conversationId = payload.conversation_id || conversationId;
          answer.remove();
          handedOff();
        } else if (type === "error") add("note", payload.message || "The answer was interrupted.");
      });
      log.scrollTop = log.scrollHeight;
    }
  }

  function leadForm() {
    if ($(".lead")) return;
    var form = document.createElement("form");
    form.className = "lead";
    form.noValidate = true; // the server validates; its answer is shown in the widget's own style
    [["name", "text", "Your name (optional)"], ["email", "email", "Your email"]].forEach(function (f) {
      var input = document.createElement("input");
      input.name = f[0]; input.type = f[1]; input.placeholder = f[2]; input.maxLength = f[0] === "email" ? 320 : 200;
      form.appendChild(input);
    });
    var send = document.createElement("button");
    send.type = "submit"; send.textContent = "Send"; send.style.background = color;
    form.appendChild(send);
    form.onsubmit = function (event) {
      event.preventDefault();
      var body = { email: form.elements.email.value.trim(), conversation_id: conversationId };
      if (form.elements.name.value.trim()) body.name = form.elements.name.value.trim();
      call("/leads", body).then(async function (r) {
        if (r.ok) { form.remove(); add("ok", "Thanks! We'll be in touch."); }
        else add("note", r.status === 422 ? "Please check the email address." : await problem(r));
      });
    };
    log.appendChild(form);
    log.scrollTop = log.scrollHeight;
    form.elements.email.focus();
  }

  function askForPerson() {
    if (!conversationId) { add("note", "Ask a question first, then a person can pick up the conversation."); return; }
    call("/conversations/" + encodeURIComponent(conversationId) + "/handoff", {}).then(async function (r) {
      if (r.ok) handedOff(); else add("note", await problem(r));
    });
  }

  call("/config").then(function (r) { return r.ok ? r.json() : Promise.reject(r); }).then(function (cfg) {
    color = cfg.primary_color;
    [".launcher", ".head", "form.ask button"].forEach(function (sel) { $(sel).style.background = color; });
    $(".head").textContent = cfg.assistant_name;
    $(".launcher").textContent = cfg.assistant_name;
    add("bot", cfg.greeting);
    $(".launcher").onclick = function () { $(".panel").classList.toggle("open"); $("form.ask input").focus(); };
    $(".leave-email").onclick = leadForm;
    $(".human").onclick = askForPerson;
    $("form.ask").onsubmit = function (event) {
      event.preventDefault();
      var q = $("form.ask input").value.trim();
      if (!q) return;
      $("form.ask input").value = "";
      ask(q).catch(function () { add("note", "The assistant could not be reached."); });
    };
    document.body.appendChild(host);
  }).catch(function () {
    console.error("kbchat widget: this page's origin is not in the knowledge base's widget.allowed_origins, " +
      "the key is wrong, or a visitor token is missing or expired");
  });
})();
