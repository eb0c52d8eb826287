"""The conversation: messages, delivery states, notes, clocks, timeline and the customer panel."""
from __future__ import annotations

from typing import ClassVar

import param
from panel.custom import JSComponent

from console.views.timefmt import HELPERS


class ThreadView(JSComponent):
    """Renders `thread`; retry and open-previous clicks come back as messages."""

    thread = param.Dict(default={})
    viewers = param.List(default=[])
    labels = param.Dict(default={})
    server_now = param.Number(default=0.0)

    _esm = HELPERS + """
export function render({model, el: root}) {
  const wrap = el("div", "sc-thread");
  root.appendChild(wrap);
  let skew = 0;
  let clock = null;
  let shownId = null;
  let timelineOpen = false;

  // The drafts (KeyBridge) follow the thread the agent sees, whenever the server's other messages arrive.
  function announce(id) {
    if (id === shownId) return;
    shownId = id;
    if (id) wrap.dataset.conversation = String(id); else delete wrap.dataset.conversation;
    document.dispatchEvent(new CustomEvent("sc-thread-shown", {detail: {id}}));
  }

  function draw() {
    const L = model.labels, t = model.thread;
    const old = wrap.querySelector(".sc-messages");
    const stick = !old || t.id !== shownId || old.scrollHeight - old.scrollTop - old.clientHeight < 40;
    skew = model.server_now ? model.server_now - Date.now() : 0;
    wrap.replaceChildren();
    clock = null;
    if (!t || !t.id) {
      wrap.appendChild(el("p", "sc-empty", L["thread.pick"]));
      announce(null);
      return;
    }
    const main = el("div", "sc-main");
    const side = el("aside", "sc-customer");
    wrap.append(main, side);

    const head = el("header", "sc-head");
    const title = el("h2", "sc-title");
    title.appendChild(isolated("bdi", "sc-name", t.customer.name));
    head.appendChild(title);
    const meta = el("div", "sc-meta");
    meta.append(el("span", "sc-pri sc-P" + t.priority, "P" + t.priority), el("span", "sc-chip", t.channel),
                el("span", "sc-chip sc-status-" + t.status, t.status_text), el("span", "sc-chip", t.queue_text));
    if (t.snoozed_until) meta.appendChild(el("span", "sc-chip", localTime(t.snoozed_until, L)));
    if (t.assignee_display) meta.appendChild(el("span", "sc-chip sc-assignee", t.assignee_display));
    head.appendChild(meta);
    if (t.priority_reasons.length) head.appendChild(el("div", "sc-reasons", t.priority_reasons.join(" · ")));
    clock = el("div", "sc-clock");
    head.appendChild(clock);
    if (model.viewers.length) head.appendChild(el("div", "sc-viewing", fmt(L["thread.viewing"], {names: model.viewers.join(", ")})));
    main.appendChild(head);

    const list = el("ol", "sc-messages");
    for (const m of t.messages) {
      const li = el("li", "sc-msg sc-" + m.direction + (m.automated ? " sc-automated" : ""));
      li.dataset.id = m.id;
      const line = el("div", "sc-msg-head");
      line.appendChild(isolated("bdi", "sc-author", m.direction === "note" ? m.author + " · " + L["thread.agent_note"] : m.author));
      line.appendChild(el("time", "sc-at", localTime(m.at, L)));
      if (m.public) line.appendChild(el("span", "sc-chip", L["flag.public"]));
      if (m.automated) line.appendChild(el("span", "sc-chip", L["thread.bot"]));
      if (m.edited) line.appendChild(el("span", "sc-chip", L["thread.edited"]));
      if (m.sentiment) line.appendChild(el("span", "sc-badge sc-mood-" + m.sentiment, m.sentiment_text));
      for (const f of (m.flags || [])) line.appendChild(el("span", "sc-flag", f));
      li.appendChild(line);
      if (m.text) li.appendChild(isolated("div", "sc-text", m.text));
      for (const a of m.attachments) li.appendChild(el("div", "sc-attachment", "📎 " + a));
      if (m.reasons && m.reasons.length) li.appendChild(el("div", "sc-reasons", m.reasons.join(" · ")));
      if (m.delivery) {
        const d = el("div", "sc-delivery sc-delivery-" + m.delivery.status);
        d.appendChild(isolated("span", "sc-delivery-label", m.delivery.label));
        if (m.delivery.help) d.appendChild(el("div", "sc-help", m.delivery.help));
        if (m.delivery.retry) {
          const b = el("button", "sc-retry", L["delivery.retry"]);
          b.type = "button";
          b.addEventListener("click", () => model.send_msg({type: "retry", id: m.id}));
          d.appendChild(b);
        }
        li.appendChild(d);
      }
      list.appendChild(li);
    }
    main.appendChild(list);
    if (stick) requestAnimationFrame(() => { list.scrollTop = list.scrollHeight; });
    announce(t.id);

    const timeline = el("details", "sc-timeline");
    timeline.open = timelineOpen;  // a live update redraws the thread: keep the timeline as the agent left it
    timeline.addEventListener("toggle", () => { timelineOpen = timeline.open; });
    timeline.appendChild(el("summary", null, L["thread.timeline"] + " (" + t.events.length + ")"));
    const events = el("ol");
    for (const e of t.events) {
      const li = el("li", "sc-event sc-event-" + e.kind);
      // A snooze's text carries {until}: the time goes in here, formatted like every other time.
      li.append(el("time", "sc-at", localTime(e.at, L)), el("span", null, " " + (e.until ? fmt(e.text, {until: localTime(e.until, L)}) : e.text)));
      if (e.by) li.appendChild(isolated("bdi", "sc-by", " · " + e.by));
      events.appendChild(li);
    }
    timeline.appendChild(events);
    main.appendChild(timeline);

    const c = t.customer;
    side.appendChild(el("h3", null, L["customer.title"]));
    side.appendChild(isolated("div", "sc-name", c.name));
    if (c.handle) side.appendChild(isolated("div", "sc-handle", "@" + c.handle));
    if (c.followers !== null && c.followers !== undefined) side.appendChild(el("div", "sc-followers", fmt(L["customer.followers"], {count: c.followers.toLocaleString()})));
    if (c.verified) side.appendChild(el("span", "sc-chip", L["customer.verified"]));
    side.appendChild(el("h4", null, L["customer.handles"]));
    const handles = el("ul", "sc-handles");
    for (const h of c.handles) {
      const li = el("li");
      li.append(el("span", "sc-chip", h.platform), isolated("bdi", null, " " + (h.handle ? "@" + h.handle : h.name)));
      if (h.followers !== null && h.followers !== undefined) li.appendChild(el("span", "sc-muted", " · " + fmt(L["customer.followers"], {count: h.followers.toLocaleString()})));
      handles.appendChild(li);
    }
    side.appendChild(handles);
    side.appendChild(el("h4", null, L["customer.previous"]));
    if (!c.previous.length) side.appendChild(el("p", "sc-muted", L["customer.none"]));
    const previous = el("ul", "sc-previous");
    for (const p of c.previous) {
      const li = el("li");
      const b = el("button", "sc-open-previous");
      b.type = "button";
      b.append(el("span", "sc-chip", p.platform), el("span", null, " " + localTime(p.created_at, L) + " · " + p.status + " · " + p.queue));
      b.appendChild(isolated("div", "sc-preview", p.preview));
      b.addEventListener("click", () => model.send_msg({type: "open", id: p.id}));
      li.appendChild(b);
      previous.appendChild(li);
    }
    side.appendChild(previous);
    tick();
  }

  function tick() {
    if (!clock) return;
    const L = model.labels, k = model.thread.clocks;
    const parts = [];
    if (k.waiting_since) parts.push(fmt(L["clock.waiting"], {duration: duration(since(k.waiting_since, skew), L)}));
    if (k.first_response_seconds !== null && k.first_response_seconds !== undefined)
      parts.push(fmt(L["clock.first_response"], {duration: duration(k.first_response_seconds, L)}));
    if (model.thread.sla_due) parts.push("SLA: " + slaText(model.thread.sla_due, skew, L));
    clock.textContent = parts.join(" · ");
    clock.dataset.waiting = k.waiting_since ? "yes" : "no";
  }

  draw();
  model.on(["thread", "viewers", "labels"], draw);
  const timer = setInterval(tick, 1000);
  model.on("remove", () => clearInterval(timer));
}
"""

    _stylesheets: ClassVar[list[str]] = ["""
.sc-thread { display: flex; gap: 16px; font-size: 14px; width: 100%; min-width: 0; }
.sc-main { flex: 1 1 auto; min-width: 0; }
.sc-customer { flex: 0 0 220px; min-width: 0; border-left: 1px solid #e3e6ec; padding-left: 12px; font-size: 13px;
  overflow-wrap: anywhere; }
.sc-head h2 { margin: 0 0 4px; font-size: 18px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.sc-meta { display: flex; gap: 4px; flex-wrap: wrap; }
.sc-chip, .sc-badge, .sc-flag { display: inline-block; font-size: 11px; padding: 1px 6px; border-radius: 8px;
  background: #eef0f4; margin-right: 3px; }
.sc-pri { font-weight: 700; padding: 1px 5px; border-radius: 4px; background: #eef0f4; font-size: 12px; }
.sc-P1 { background: #d93025; color: #fff; } .sc-P2 { background: #f29900; color: #fff; }
.sc-mood-negative { background: #fde2e1; color: #a50e0e; } .sc-mood-positive { background: #e3f4e8; color: #137333; }
.sc-reasons { color: #6b7385; font-size: 12px; margin-top: 2px; overflow-wrap: anywhere; }
.sc-clock { margin: 6px 0; font-weight: 600; color: #1d2330; }
.sc-clock[data-waiting="yes"] { color: #a15c00; }
.sc-viewing { color: #5b2ea6; font-size: 12px; }
.sc-messages { list-style: none; padding: 0; margin: 10px 0; max-height: 52vh; overflow-y: auto; }
.sc-msg { margin: 8px 0; padding: 8px 10px; border-radius: 8px; max-width: 85%; background: #f1f3f7; overflow-wrap: anywhere; }
.sc-outbound { margin-left: auto; background: #e4ecfd; }
.sc-note { margin-left: auto; background: #fff6d6; border: 1px dashed #e0b84c; }
.sc-automated { opacity: .8; }
.sc-msg-head { display: flex; gap: 6px; align-items: baseline; flex-wrap: wrap; font-size: 12px; color: #4a5263; }
.sc-author { font-weight: 600; max-width: 60%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; unicode-bidi: isolate; }
.sc-text { white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; margin-top: 3px; unicode-bidi: isolate;
  max-height: 40vh; overflow-y: auto; }
.sc-delivery { font-size: 12px; margin-top: 4px; color: #4a5263; }
.sc-delivery-sent { color: #137333; } .sc-delivery-failed { color: #a50e0e; } .sc-delivery-unknown { color: #a15c00; }
.sc-help { font-size: 11px; }
.sc-retry { margin-left: 6px; font-size: 12px; }
.sc-timeline { font-size: 12px; color: #4a5263; }
.sc-timeline ol { padding-left: 18px; }
.sc-name, .sc-handle, .sc-preview, .sc-by { unicode-bidi: isolate; overflow: hidden; text-overflow: ellipsis; }
.sc-customer .sc-name { font-weight: 600; white-space: nowrap; }
.sc-handles, .sc-previous { list-style: none; padding: 0; }
.sc-open-previous { text-align: left; width: 100%; background: none; border: 1px solid #e3e6ec; border-radius: 6px;
  padding: 4px 6px; margin: 3px 0; cursor: pointer; font-size: 12px; }
.sc-open-previous .sc-preview { white-space: nowrap; color: #4a5263; }
.sc-muted { color: #6b7385; }
.sc-empty { color: #6b7385; padding: 24px 8px; }
"""]
