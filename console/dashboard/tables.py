"""Plain HTML tables of report rows: every cell escaped (channel keys and agent names come from outside)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from console.dashboard.model import inbox_link

Translate = Callable[..., str]

STYLE = """
.sc-dash-table { border-collapse: collapse; font-size: 13px; width: 100%; font-family: system-ui, sans-serif; }
.sc-dash-table th, .sc-dash-table td { padding: 4px 8px; border-bottom: 1px solid #e3e6eb; text-align: left; }
.sc-dash-table th { background: #f4f5f7; font-weight: 600; }
.sc-dash-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
.sc-dash-empty { color: #6b7280; font-size: 13px; }
.sc-kpis { display: flex; flex-wrap: wrap; gap: 10px; font-family: system-ui, sans-serif; }
.sc-kpi { background: #fff; border: 1px solid #e3e6eb; border-radius: 8px; padding: 8px 12px; min-width: 170px; }
.sc-kpi .label { color: #4a5263; font-size: 12px; } .sc-kpi .value { font-size: 20px; font-weight: 600; }
.sc-kpi.bad .value { color: #c62828; }
"""


def duration(seconds: float | None) -> str:
    """A duration for people: 45s, 12m, 2h 05m, 3d 4h."""
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def cell(column: str, value: Any, zone: ZoneInfo) -> tuple[str, bool]:
    """A value as escaped HTML, and whether it is a number (right-aligned)."""
    if value is None:
        return "–", False
    if column == "conversation_id" or column == "oldest_waiting_conversation_id":
        return f'<a href="{escape(inbox_link(int(value)))}" target="_top">#{int(value)}</a>', True
    if column.endswith("_seconds") and isinstance(value, int | float):
        return escape(duration(value)), True
    if (column.startswith("share_") or column == "compliance") and isinstance(value, float):
        return escape(percent(value)), True
    if isinstance(value, float):
        return f"{value:.3f}", True
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), True
    if (column.endswith(("_at", "_since")) and isinstance(value, str)) or column == "bucket":
        try:
            return escape(datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M")), False
        except ValueError:
            pass
    return escape(str(value)), False


def html_table(rows: Sequence[dict[str, Any]], t: Translate, zone: ZoneInfo, *, css: str,
               columns: Sequence[str] | None = None, limit: int = 200) -> str:
    """Rows as a table (at most `limit`; the CSV has them all)."""
    if not rows:
        return f'<p class="sc-dash-empty {escape(css)}">{escape(t("dash.empty"))}</p>'
    header = list(columns or rows[0].keys())
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in header)
    body = []
    for row in rows[:limit]:
        cells = []
        for column in header:
            text, number = cell(column, row.get(column), zone)
            cells.append(f'<td class="num">{text}</td>' if number else f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = f'<p class="sc-dash-empty">… {len(rows) - limit} more in the CSV</p>' if len(rows) > limit else ""
    return f'<table class="sc-dash-table {escape(css)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{more}'


def kpi_html(items: Sequence[tuple[str, str, bool]]) -> str:
    """Headline figures as cards: (label, value, bad)."""
    cards = "".join(f'<div class="sc-kpi{" bad" if bad else ""}"><div class="label">{escape(label)}</div>'
                    f'<div class="value">{escape(value)}</div></div>' for label, value, bad in items)
    return f'<div class="sc-kpis">{cards}</div>'
