"""Keyboard shortcuts, drafts kept in the browser (localStorage), and navigation the server asks for."""
from __future__ import annotations

from typing import ClassVar

import param
from panel.custom import JSComponent

SHORTCUTS = (("j", "shortcuts.j"), ("k", "shortcuts.k"), ("Enter", "shortcuts.enter"), ("r", "shortcuts.r"),
             ("e", "shortcuts.e"), ("a", "shortcuts.a"), ("Ctrl+Enter", "shortcuts.send"), ("?", "shortcuts.help"))


class KeyBridge(JSComponent):
    """Sends {"type": "key", "key": ...} for shortcuts; keeps one draft per conversation in localStorage."""

    conversation_id = param.Integer(default=None, allow_None=True)
    draft_key = param.String(default="", doc="localStorage prefix, per agent so drafts never cross accounts")
    help = param.List(default=[], doc="[key, description] pairs shown by '?'")
    help_title = param.String(default="")

    _esm = """
function deepFind(root, selector) {
  const direct = root.querySelector(selector);
  if (direct) return direct;
  for (const node of root.querySelectorAll("*")) {
    if (node.shadowRoot) {
      const found = deepFind(node.shadowRoot, selector);
      if (found) return found;
    }
  }
  return null;
}
function composer() {
  const host = deepFind(document, ".sc-composer");
  if (!host) return null;
  return (host.shadowRoot && host.shadowRoot.querySelector("textarea")) || host.querySelector("textarea");
}
function inComposer(event) {
  return event.composedPath().some((n) => n.classList && n.classList.contains("sc-composer"));
}
function typing(event) {
  const target = event.composedPath()[0];
  if (!target || !target.tagName) return false;
  return ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable;
}

export function render({model, el: root}) {
  // The conversation whose thread is on screen (ThreadView announces it), not the server's idea of what is
  // open: on a slow link the two can differ for seconds, and a draft must be kept under what the agent sees.
  let shownId = null;
  const keyOf = (id) => id ? model.draft_key + ":" + id : null;
  const key = () => keyOf(shownId);
  const overlay = document.createElement("div");
  overlay.className = "sc-help";
  overlay.hidden = true;
  overlay.setAttribute("role", "dialog");
  root.appendChild(overlay);

  function drawHelp() {
    overlay.replaceChildren();
    const h = document.createElement("h2");
    h.textContent = model.help_title;
    overlay.appendChild(h);
    const list = document.createElement("dl");
    for (const [k, text] of model.help) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = text;
      list.append(dt, dd);
    }
    overlay.appendChild(list);
  }
  drawHelp();
  model.on(["help", "help_title"], drawHelp);

  // The conversation the agent typed for since its thread was shown: what they typed is theirs, and a draft
  // restored late (the composer drawn after the switch, a retry) must never replace it.
  let typedFor = null;

  function restore(attempt = 0) {
    // Show the draft saved for the thread on screen (or nothing); the input event tells the server.
    const box = composer();
    if (!box) { if (attempt < 10) setTimeout(() => restore(attempt + 1), 200); return; }
    if (typedFor !== null && typedFor === shownId) return;  // onInput already keeps it as this thread's draft
    const k = key();
    const saved = (k && window.localStorage.getItem(k)) || "";
    if (box.value !== saved) {
      box.value = saved;
      box.dispatchEvent(new Event("input", {bubbles: true, composed: true}));
      box.dispatchEvent(new Event("change", {bubbles: true, composed: true}));
    }
  }
  const onThreadShown = (event) => {
    const id = event.detail ? event.detail.id : null;
    if (id === shownId) return;
    shownId = id;
    if (typedFor !== id) typedFor = null;
    restore();
  };
  document.addEventListener("sc-thread-shown", onThreadShown);
  const thread = deepFind(document, ".sc-thread[data-conversation]");
  shownId = thread ? Number(thread.dataset.conversation) : null;
  restore();

  const onInput = (event) => {
    if (!inComposer(event)) return;
    if (event.isTrusted) typedFor = shownId;  // the agent, not restore() or the server's set-composer
    const k = key();
    const box = event.composedPath()[0];
    if (!k || !box || box.value === undefined) return;
    if (box.value) window.localStorage.setItem(k, box.value); else window.localStorage.removeItem(k);
  };
  const onKey = (event) => {
    if (event.key === "Escape") { overlay.hidden = true; return; }
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      if (inComposer(event)) {
        event.preventDefault();
        const box = composer();
        model.send_msg({type: "key", key: "send", text: box ? box.value : null});
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
    if (event.key === "?") { overlay.hidden = !overlay.hidden; event.preventDefault(); return; }
    if (event.key === "r") {
      const box = composer();
      if (box) { box.focus(); event.preventDefault(); }
      return;
    }
    if (event.key === "Enter") {
      // Open what the agent sees highlighted, even if a row arrived above it a moment ago.
      event.preventDefault();
      const row = deepFind(document, ".sc-row.sc-cursor");
      const id = row ? Number(row.dataset.id) : NaN;
      model.send_msg(Number.isInteger(id) ? {type: "key", key: "Enter", id} : {type: "key", key: "Enter"});
      return;
    }
    if (["j", "k", "e", "a"].includes(event.key)) {
      event.preventDefault();
      model.send_msg({type: "key", key: event.key});
    }
  };
  document.addEventListener("input", onInput, true);
  document.addEventListener("keydown", onKey, true);
  model.on("msg:custom", (msg) => {
    if (msg.type === "clear-draft" && msg.id) window.localStorage.removeItem(model.draft_key + ":" + msg.id);
    if (msg.type === "redirect" && typeof msg.url === "string" && msg.url.startsWith("/") && !msg.url.startsWith("//")) {
      window.location.assign(msg.url);
    }
    if (msg.type === "set-composer" && typeof msg.text === "string") {
      const box = composer();
      if (box && box.value !== msg.text) {
        box.value = msg.text;
        box.dispatchEvent(new Event("input", {bubbles: true, composed: true}));
        box.dispatchEvent(new Event("change", {bubbles: true, composed: true}));
      }
    }
    if (msg.type === "reveal" && typeof msg.selector === "string") {
      // After the server drew it: bring a warning into view next to the button it is about.
      setTimeout(() => {
        const node = deepFind(document, msg.selector);
        if (node && node.scrollIntoView) node.scrollIntoView({block: "nearest"});
      }, 50);
    }
    if (msg.type === "url" && typeof msg.url === "string" && msg.url.startsWith("/")) {
      window.history.replaceState(null, "", msg.url);
    }
  });
  model.on("remove", () => {
    document.removeEventListener("input", onInput, true);
    document.removeEventListener("sc-thread-shown", onThreadShown);
    document.removeEventListener("keydown", onKey, true);
  });
}
"""

    _stylesheets: ClassVar[list[str]] = ["""
.sc-help { position: fixed; top: 15vh; left: 50%; transform: translateX(-50%); background: #fff; z-index: 1000;
  padding: 16px 24px; border-radius: 10px; box-shadow: 0 8px 30px rgba(0,0,0,.25); min-width: 320px; }
.sc-help dl { display: grid; grid-template-columns: auto 1fr; gap: 6px 16px; }
.sc-help dt { font-family: monospace; font-weight: 700; }
.sc-help dd { margin: 0; }
"""]

    def send(self, message: dict[str, object]) -> None:
        """Send a message to the browser (redirects, draft clearing)."""
        self._send_msg(message)
