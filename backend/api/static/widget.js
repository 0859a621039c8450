/*
 * kbchat widget: one <script> tag on any page, no build step, no dependencies.
 *
 *   <script src="https://YOUR-KBCHAT/widget.js" data-key="kbw_..." async></script>
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
  var conversationId = null;

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
    ".me{text-align:right;color:#333}.bot{color:#111}.cites{font-size:12px;margin:4px 0 0;padding-left:18px}" +
    ".cites a{color:inherit}.rate button{border:0;background:none;cursor:pointer;font-size:16px}" +
    ".note{font-size:12px;color:#a33}form{display:flex;border-top:1px solid #eee}" +
    "input{flex:1;border:0;padding:12px;font:inherit;outline:none}form button{border:0;padding:0 14px;color:#fff;cursor:pointer}" +
    "</style>" +
    "<button class='launcher' part='launcher'>Ask</button>" +
    "<div class='panel' role='dialog'><div class='head'></div><div class='log' aria-live='polite'></div>" +
    "<form><input name='q' autocomplete='off' maxlength='2000' placeholder='Type your question…'>" +
    "<button type='submit'>Send</button></form></div>";
  var $ = function (sel) { return root.querySelector(sel); };
  var log = $(".log");

  function add(cls, text) {
    var el = document.createElement("div");
    el.className = "msg " + cls;
    el.textContent = text;
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
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
        fetch(base + "/messages/" + encodeURIComponent(messageId) + "/feedback", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ rating: pair[0] }),
        }).then(function () { bar.textContent = "Thanks for the feedback."; });
      };
      bar.appendChild(b);
    });
    el.appendChild(bar);
  }

  async function ask(question) {
    add("me", question);
    var answer = add("bot", "…");
    var response = await fetch(base + "/chat", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ message: question, conversation_id: conversationId, stream: true }),
    });
    if (!response.ok) {
      var problem = await response.json().catch(function () { return {}; });
      var wait = response.headers.get("Retry-After");
      answer.textContent = "";
      add("note", ((problem.error && problem.error.message) || "Something went wrong.") +
        (wait ? " (try again in " + wait + " s)" : ""));
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
        } else if (type === "error") add("note", payload.message || "The answer was interrupted.");
      });
      log.scrollTop = log.scrollHeight;
    }
  }

  fetch(base + "/config").then(function (r) { return r.ok ? r.json() : Promise.reject(r); }).then(function (cfg) {
    [".launcher", ".head", "form button"].forEach(function (sel) { $(sel).style.background = cfg.primary_color; });
    $(".head").textContent = cfg.assistant_name;
    $(".launcher").textContent = cfg.assistant_name;
    add("bot", cfg.greeting);
    $(".launcher").onclick = function () { $(".panel").classList.toggle("open"); $("input").focus(); };
    $("form").onsubmit = function (event) {
      event.preventDefault();
      var q = $("input").value.trim();
      if (!q) return;
      $("input").value = "";
      ask(q).catch(function () { add("note", "The assistant could not be reached."); });
    };
    document.body.appendChild(host);
  }).catch(function () {
    console.error("kbchat widget: this page's origin is not in the knowledge base's widget.allowed_origins, or the key is wrong");
  });
})();
