"""The JavaScript both list and thread use to show ticking durations; text only, never HTML."""
from __future__ import annotations

# Every component gets the same helpers; customer text is only ever set with textContent.
HELPERS = r"""
function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function isolated(tag, cls, text) {
  // Customer text in its own bidi island: an RTL override cannot flip the layout around it.
  const node = el(tag, cls, text);
  node.setAttribute("dir", "auto");
  return node;
}
function fmt(template, values) {
  return String(template).replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}
function duration(seconds, L) {
  seconds = Math.max(0, Math.floor(seconds));
  if (seconds < 60) return fmt(L["time.s"], {n: seconds});
  let minutes = Math.floor(seconds / 60);
  if (minutes < 60) return fmt(L["time.m"], {n: minutes});
  let hours = Math.floor(minutes / 60); minutes = minutes % 60;
  if (hours < 24) return fmt(L["time.h"], {h: hours, m: String(minutes).padStart(2, "0")});
  const days = Math.floor(hours / 24); hours = hours % 24;
  return fmt(L["time.d"], {d: days, h: hours});
}
function since(iso, skew) { return (Date.now() + skew - Date.parse(iso)) / 1000; }
function slaState(iso, skew, nearSeconds) {
  if (!iso) return "none";
  const left = (Date.parse(iso) - Date.now() - skew) / 1000;
  if (left < 0) return "breached";
  return left <= nearSeconds ? "near" : "ok";
}
function slaText(iso, skew, L) {
  if (!iso) return L["sla.none"];
  const left = (Date.parse(iso) - Date.now() - skew) / 1000;
  return left < 0 ? fmt(L["sla.breached"], {ago: duration(-left, L)}) : fmt(L["sla.due_in"], {left: duration(left, L)});
}
function localTime(iso, L) {
  // In the agent's language (labels carry it as "locale"), in the browser's time zone.
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d.getTime())) return "";
  const locale = L && L.locale ? [L.locale] : [];
  return d.toLocaleString(locale, {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"});
}
"""

LABEL_KEYS = (
    "time.s", "time.m", "time.h", "time.d", "sla.none", "sla.breached", "sla.due_in",
)
