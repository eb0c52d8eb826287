"""Tags on a conversation: chips to remove, suggestions to click, and a box where Enter adds exactly what was typed."""
from __future__ import annotations

from typing import Any, ClassVar

import param
from panel.custom import JSComponent

from social_care.actions import MAX_TAGS, TAG_PATTERN

LABEL_KEYS = ("tags.placeholder", "tags.remove", "tags.suggested", "tags.create", "tags.invalid", "tags.too_many")


def add_tag(chosen: list[str], typed: str) -> tuple[list[str], str | None, dict[str, Any]]:
    """`chosen` plus the typed tag, or (chosen, label key, values) saying why it cannot be added."""
    tag = typed.strip().lower()
    if not tag:
        return chosen, None, {}
    if not TAG_PATTERN.fullmatch(tag):
        return chosen, "tags.invalid", {"tag": typed.strip()[:40]}
    if tag in chosen:
        return chosen, None, {}
    if len(chosen) >= MAX_TAGS:
        return chosen, "tags.too_many", {"max": MAX_TAGS}
    return [*chosen, tag], None, {}


class TagPicker(JSComponent):
    """The tags being edited (`value`); the browser sends what the agent typed or clicked, never a guess."""

    value = param.List(default=[])
    suggestions = param.List(default=[], doc="tags offered as one-click chips (marketing's vocabulary)")
    labels = param.Dict(default={})
    problem = param.String(default="", doc="why the last typed tag was not added, in the agent's language")

    _esm = """
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function fmt(template, values) {
  return String(template || "").replace(/\\{(\\w+)\\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

export function render({model, el: root}) {
  const wrap = el("div", "sc-tagpicker");
  const chosen = el("ul", "sc-tag-chosen");
  const input = el("input", "sc-tag-input");
  input.type = "text";
  input.autocomplete = "off";
  input.spellcheck = false;
  input.maxLength = 64;
  const hint = el("div", "sc-tag-hint");
  const offered = el("div", "sc-tag-suggestions");
  const problem = el("div", "sc-tag-problem");
  problem.setAttribute("role", "alert");
  wrap.append(chosen, input, hint, offered, problem);
  root.appendChild(wrap);
  let sent = null;  // the tag Enter asked for: the box empties once it is in

  function add(tag) { sent = tag.trim().toLowerCase(); model.send_msg({type: "add", tag}); }

  function draw() {
    const L = model.labels;
    input.placeholder = L["tags.placeholder"] || "";
    input.setAttribute("aria-label", L["tags.placeholder"] || "");
    chosen.replaceChildren();
    for (const tag of model.value) {
      const li = el("li", "sc-tag-chip");
      li.dataset.tag = tag;
      li.appendChild(el("span", null, "#" + tag));
      const x = el("button", "sc-tag-remove", "×");
      x.type = "button";
      x.setAttribute("aria-label", fmt(L["tags.remove"], {tag}));
      x.addEventListener("click", () => model.send_msg({type: "remove", tag}));
      li.appendChild(x);
      chosen.appendChild(li);
    }
    const typed = input.value.trim().toLowerCase();
    offered.replaceChildren();
    const matching = model.suggestions.filter((s) => !model.value.includes(s) && s.startsWith(typed));
    if (matching.length) offered.appendChild(el("span", "sc-tag-label", L["tags.suggested"]));
    for (const s of matching) {
      const b = el("button", "sc-tag-suggestion", "+ #" + s);
      b.type = "button";
      b.dataset.tag = s;
      b.addEventListener("click", () => { input.value = ""; add(s); });
      offered.appendChild(b);
    }
    hint.textContent = typed && !model.value.includes(typed) ? fmt(L["tags.create"], {tag: typed}) : "";
    problem.textContent = model.problem;
    problem.hidden = !model.problem;
  }

  input.addEventListener("input", () => {
    if (model.problem) model.problem = "";
    draw();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    event.stopPropagation();
    if (input.value.trim()) add(input.value);
  });
  model.on(["value"], () => {
    if (sent !== null && model.value.includes(sent)) { input.value = ""; sent = null; }
    draw();
  });
  model.on(["suggestions", "labels", "problem"], draw);
  draw();
}
"""

    _stylesheets: ClassVar[list[str]] = ["""
.sc-tagpicker { font-size: 13px; display: flex; flex-wrap: wrap; align-items: center; gap: 4px; max-width: 420px; }
.sc-tag-chosen { list-style: none; padding: 0; margin: 0; display: contents; }
.sc-tag-chip { display: inline-flex; align-items: center; gap: 2px; background: #efe7fb; color: #5b2ea6;
  border-radius: 10px; padding: 1px 4px 1px 8px; }
.sc-tag-remove { border: 0; background: none; color: #5b2ea6; cursor: pointer; font-size: 14px; padding: 0 3px; }
.sc-tag-input { flex: 1 1 140px; min-width: 120px; padding: 4px 6px; border: 1px solid #c9ced8; border-radius: 4px; }
.sc-tag-hint { flex-basis: 100%; color: #4a5263; font-size: 12px; }
.sc-tag-hint:empty { display: none; }
.sc-tag-suggestions { flex-basis: 100%; display: flex; flex-wrap: wrap; gap: 4px; align-items: center; }
.sc-tag-label { color: #6b7385; font-size: 12px; }
.sc-tag-suggestion { border: 1px dashed #b9a5e0; background: #fff; color: #5b2ea6; border-radius: 10px; padding: 1px 8px;
  cursor: pointer; font-size: 12px; }
.sc-tag-problem { flex-basis: 100%; color: #a50e0e; background: #fde2e1; border-radius: 4px; padding: 3px 6px; }
"""]

    def _handle_msg(self, data: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("tag"), str):
            return
        if data.get("type") == "add":
            value, problem, values = add_tag(list(self.value), data["tag"])
            template = self.labels.get(problem, problem) if problem else ""
            self.param.update(value=value, problem=template.format(**values) if template else "")
        elif data.get("type") == "remove":
            self.param.update(value=[tag for tag in self.value if tag != data["tag"]], problem="")
