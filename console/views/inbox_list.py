"""The inbox table: rows drawn with textContent, SLA and waiting times ticking in the browser."""
from __future__ import annotations

from typing import ClassVar

import param
from panel.custom import JSComponent

from console.format import SLA_NEAR_SECONDS
from console.views.timefmt import HELPERS


class InboxList(JSComponent):
    """Renders `rows`; a click or Enter opens a row, reported back as {"type": "open", "id": ...}."""

    rows = param.List(default=[])
    cursor = param.Integer(default=0)
    open_id = param.Integer(default=None, allow_None=True)
    labels = param.Dict(default={})
    server_now = param.Number(default=0.0, doc="server epoch ms when rows were sent, to correct clock skew")

    _esm = HELPERS + """
const COLUMNS = ["priority", "customer", "message", "flags", "queue", "sla", "assignee"];

export function render({model, el: root}) {
  const wrap = el("div", "sc-inbox");
  root.appendChild(wrap);
  let skew = 0;
  const ticking = [];

  function draw() {
    const L = model.labels;
    skew = model.server_now ? model.server_now - Date.now() : 0;
    ticking.length = 0;
    wrap.replaceChildren();
    if (!model.rows.length) {
      wrap.appendChild(el("p", "sc-empty", L["inbox.empty"]));
      return;
    }
    const table = el("table", "sc-table");
    table.setAttribute("role", "grid");
    const head = el("tr");
    for (const c of COLUMNS) head.appendChild(el("th", "col-" + c, L["col." + c]));
    table.appendChild(el("thead")).appendChild(head);
    const body = el("tbody");
    model.rows.forEach((row, index) => {
      const tr = el("tr", "sc-row");
      tr.dataset.id = row.id;
      tr.tabIndex = -1;
      if (index === model.cursor) tr.classList.add("sc-cursor");
      if (row.id === model.open_id) tr.classList.add("sc-open");
      if (row.mine) tr.classList.add("sc-mine");
      const pri = el("td", "col-priority"); pri.appendChild(el("span", "sc-pri sc-" + row.priority, row.priority));
      if (row.priority_reasons && row.priority_reasons.length) pri.title = row.priority_reasons.join(" · ");
      tr.appendChild(pri);
      const who = el("td", "col-customer");
      who.appendChild(isolated("bdi", "sc-name", row.customer));
      const sub = el("span", "sc-sub");
      sub.appendChild(el("span", "sc-channel", row.channel));
      if (row.handle) sub.appendChild(isolated("bdi", "sc-handle", " @" + row.handle));
      who.appendChild(sub);
      tr.appendChild(who);
      const msg = el("td", "col-message"); msg.appendChild(isolated("bdi", "sc-preview", row.preview));
      if (row.handoff) msg.appendChild(isolated("bdi", "sc-handoff", "↪ " + row.handoff));
      tr.appendChild(msg);
      const flags = el("td", "col-flags");
      if (row.sentiment) flags.appendChild(el("span", "sc-badge sc-mood-" + row.sentiment, row.sentiment_text));
      for (const f of row.flags) flags.appendChild(el("span", "sc-flag sc-flag-" + f.key, f.label));
      for (const tag of row.tags || []) flags.appendChild(el("span", "sc-tag", "#" + tag));
      tr.appendChild(flags);
      tr.appendChild(el("td", "col-queue", row.queue));
      const times = el("td", "col-sla");
      const sla = el("span", "sc-sla");
      const waiting = el("span", "sc-waiting");
      times.append(sla, waiting);
      tr.appendChild(times);
      ticking.push([row, waiting, sla]);
      const owner = el("td", "col-assignee");
      owner.appendChild(el("span", "sc-assignee", row.assignee || "—"));
      for (const name of row.viewers) owner.appendChild(el("span", "sc-viewer", "👁 " + name));
      tr.appendChild(owner);
      tr.addEventListener("click", () => model.send_msg({type: "open", id: row.id}));
      body.appendChild(tr);
    });
    table.appendChild(body);
    wrap.appendChild(table);
    tick();
    const current = wrap.querySelector(".sc-cursor");
    if (current && current.scrollIntoView) current.scrollIntoView({block: "nearest"});
  }

  function tick() {
    const L = model.labels;
    for (const [row, waiting, sla] of ticking) {
      waiting.textContent = row.waiting_since ? fmt(L["col.waiting"], {}) + " " + duration(since(row.waiting_since, skew), L) : "";
      sla.textContent = slaText(row.sla_due, skew, L);
      sla.dataset.state = slaState(row.sla_due, skew, %(near)d);
    }
  }

  draw();
  model.on(["rows", "cursor", "open_id", "labels"], draw);
  const timer = setInterval(tick, 1000);
  model.on("remove", () => clearInterval(timer));
}
""".replace("%(near)d", str(SLA_NEAR_SECONDS))

    _stylesheets: ClassVar[list[str]] = ["""
.sc-inbox { font-size: 13px; width: 100%; overflow-x: hidden; }
.sc-table { width: 100%; border-collapse: collapse; table-layout: fixed; }
.sc-table th { text-align: left; font-weight: 600; color: #4a5263; border-bottom: 1px solid #d9dde5; padding: 6px 4px; }
.sc-table td { padding: 5px 4px; border-bottom: 1px solid #eef0f4; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; vertical-align: top; max-width: 0; }
.sc-row { cursor: pointer; }
.sc-row:hover { background: #f5f7fb; }
.sc-row.sc-cursor { outline: 2px solid #2457d6; outline-offset: -2px; }
.sc-row.sc-open { background: #e8effd; }
.col-priority { width: 40px; } .col-customer { width: 22%; } .col-flags { width: 110px; white-space: normal !important; }
.col-queue { width: 70px; } .col-sla { width: 118px; } .col-assignee { width: 84px; }
.sc-name, .sc-sub, .sc-preview, .sc-handoff, .sc-sla, .sc-waiting, .sc-assignee, .sc-viewer { display: block; overflow: hidden;
  text-overflow: ellipsis; white-space: nowrap; unicode-bidi: isolate; }
.sc-sub, .sc-waiting { color: #6b7385; font-size: 12px; }
.sc-handoff { color: #5b2ea6; font-size: 12px; }
.sc-name { font-weight: 600; }
.sc-sla { border-radius: 4px; padding: 0 3px; }
.sc-pri { font-weight: 700; padding: 1px 4px; border-radius: 4px; background: #eef0f4; }
.sc-P1 { background: #d93025; color: #fff; } .sc-P2 { background: #f29900; color: #fff; }
.sc-viewer { color: #5b2ea6; font-size: 11px; }
.sc-badge, .sc-flag, .sc-tag { display: inline-block; font-size: 11px; padding: 1px 5px; margin: 0 2px 2px 0;
  border-radius: 8px; background: #eef0f4; }
.sc-mood-negative { background: #fde2e1; color: #a50e0e; } .sc-mood-positive { background: #e3f4e8; color: #137333; }
.sc-flag-angry, .sc-flag-urgent { background: #fde2e1; color: #a50e0e; } .sc-flag-vip { background: #fff1c2; }
.sc-flag-public { background: #e8effd; color: #1a4fb8; }
.sc-tag { background: #efe7fb; color: #5b2ea6; }
.sc-sla[data-state="near"] { color: #a15c00; background: #fff4e0; font-weight: 600; }
.sc-sla[data-state="breached"] { color: #fff; background: #d93025; font-weight: 600; }
.sc-empty { color: #6b7385; padding: 24px 8px; }
"""]
