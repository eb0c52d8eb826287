"""Bokeh figures for the dashboard, built per session from the view-model's series (never shared between sessions)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bokeh.models import ColumnDataSource, FactorRange, HoverTool, LinearAxis, NumeralTickFormatter, Range1d
from bokeh.palettes import Category10_10
from bokeh.plotting import figure
from bokeh.transform import dodge

from console.dashboard.model import CountSeries, SentimentSeries

Translate = Callable[..., str]
COLOURS = {"negative": "#c62828", "neutral": "#9e9e9e", "positive": "#2e7d32"}
COMPOUND = "#1a237e"
COMPLAINT = "#e65100"
TOTAL = "#455a64"
MEDIAN, P90 = "#1565c0", "#90caf9"
HEIGHT = 300


def _x(buckets: Sequence[str], interval: str) -> list[datetime]:
    # The middle of each bucket, so a bar covers its hour or day; local wall time without the offset, so
    # Bokeh's datetime axis reads in the report's zone.
    half = (timedelta(hours=1) if interval == "hour" else timedelta(days=1)) / 2
    return [datetime.fromisoformat(b).replace(tzinfo=None) + half for b in buckets]


def local_span(since: datetime, until: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The report's range as the axis shows it (local wall time), so a quiet week is not drawn as one fat bar."""
    return since.astimezone(zone).replace(tzinfo=None), until.astimezone(zone).replace(tzinfo=None)


def _labels(buckets: Sequence[str], interval: str) -> list[str]:
    """Each bucket as the hover names it: its day, or its day and starting hour."""
    pattern = "%Y-%m-%d %H:%M" if interval == "hour" else "%Y-%m-%d"
    return [datetime.fromisoformat(b).strftime(pattern) for b in buckets]


def _width(interval: str) -> float:
    return (timedelta(hours=1) if interval == "hour" else timedelta(days=1)).total_seconds() * 1000 * 0.8


def _x_range(span: tuple[datetime, datetime] | None) -> dict[str, Any]:
    return {"x_range": Range1d(*span)} if span is not None else {}


def _figure(title: str, *, x_label: str, y_label: str, css: str, **extra: Any) -> Any:
    plot = figure(title=title, height=HEIGHT, sizing_mode="stretch_width", toolbar_location="above",
                  tools="pan,wheel_zoom,box_zoom,reset,save", x_axis_label=x_label, y_axis_label=y_label,
                  css_classes=[css], **extra)
    plot.title.text_font_size = "14px"
    plot.xgrid.grid_line_color = None
    return plot


def _legend(plot: Any) -> None:
    plot.legend.location = "top_left"
    plot.legend.orientation = "horizontal"
    plot.legend.click_policy = "hide"
    plot.legend.background_fill_alpha = 0.7


def sentiment_chart(series: SentimentSeries, t: Translate, *, interval: str, zone: str,
                    span: tuple[datetime, datetime] | None = None) -> Any:
    """Stacked shares of negative / neutral / positive per bucket, with the mean compound on a second axis."""
    data = {"x": _x(series.buckets, interval), "label": _labels(series.buckets, interval), "negative": list(series.share_negative), "neutral": list(series.share_neutral),
            "positive": list(series.share_positive), "messages": list(series.messages),
            "compound": [float("nan") if v is None else v for v in series.mean_compound]}
    source = ColumnDataSource(data)
    plot = _figure(t("dash.chart.sentiment"), x_label=t("dash.chart.when", zone=zone), y_label=t("dash.chart.share"),
                   css="sc-chart-sentiment", x_axis_type="datetime", y_range=Range1d(0, 1.15), **_x_range(span))
    labels = ("negative", "neutral", "positive")
    plot.vbar_stack(labels, x="x", width=_width(interval), source=source, color=[COLOURS[k] for k in labels],
                    legend_label=[t(f"sentiment.{k}") for k in labels], alpha=0.85)
    plot.yaxis[0].formatter = NumeralTickFormatter(format="0%")
    plot.extra_y_ranges = {"compound": Range1d(-1, 1.3)}
    plot.add_layout(LinearAxis(y_range_name="compound", axis_label=t("dash.chart.compound")), "right")
    plot.line("x", "compound", source=source, y_range_name="compound", color=COMPOUND, line_width=2,
              legend_label=t("dash.chart.compound"))
    plot.scatter("x", "compound", source=source, y_range_name="compound", color=COMPOUND, size=5)
    plot.add_tools(HoverTool(tooltips=[("", "@label"), (t("dash.chart.count"), "@messages"),
                                       (t("sentiment.negative"), "@negative{0%}"),
                                       (t("sentiment.neutral"), "@neutral{0%}"),
                                       (t("sentiment.positive"), "@positive{0%}"),
                                       (t("dash.chart.compound"), "@compound{0.00}")], mode="vline"))
    _legend(plot)
    return plot


def count_chart(series: CountSeries, t: Translate, *, title: str, y_label: str, interval: str, zone: str, css: str,
                colour: str, per_group: bool = False, span: tuple[datetime, datetime] | None = None) -> Any:
    """Bars of the total per bucket, and with `per_group` one line per channel."""
    x = _x(series.buckets, interval)
    plot = _figure(title, x_label=t("dash.chart.when", zone=zone), y_label=y_label, css=css, x_axis_type="datetime",
                   **_x_range(span))
    total = series.groups.get("all", ())
    labels = _labels(series.buckets, interval)
    source = ColumnDataSource({"x": x, "label": labels, "count": list(total)})
    plot.vbar(x="x", top="count", width=_width(interval), source=source, color=colour, alpha=0.8,
              legend_label=t("dash.total"))
    if per_group:
        for index, (group, values) in enumerate(g for g in series.groups.items() if g[0] != "all"):
            colour_of = Category10_10[index % len(Category10_10)]
            line = ColumnDataSource({"x": x, "label": labels, "count": list(values)})
            plot.line("x", "count", source=line, color=colour_of, line_width=2, legend_label=group)
            plot.scatter("x", "count", source=line, color=colour_of, size=5)
    plot.y_range.start = 0
    plot.add_tools(HoverTool(tooltips=[("", "@label"), (y_label, "@count")]))
    _legend(plot)
    return plot


def duration_chart(rows: Sequence[dict[str, Any]], t: Translate, *, dimension: str) -> Any:
    """Median and p90 first response (hours) per group, side by side."""
    groups = [str(r["group"]) for r in rows]
    hours = lambda v: None if v is None else v / 3600  # noqa: E731
    source = ColumnDataSource({"group": groups, "median": [hours(r["median_seconds"]) for r in rows],
                               "p90": [hours(r["p90_seconds"]) for r in rows],
                               "count": [r["count"] for r in rows]})
    plot = _figure(t("dash.chart.response", dimension=t(f"dash.dim.{dimension}")), x_label=t(f"dash.dim.{dimension}"),
                   y_label=t("dash.chart.hours"), css="sc-chart-response", x_range=FactorRange(*groups))
    plot.vbar(x=dodge("group", -0.18, range=plot.x_range), top="median", width=0.34, source=source, color=MEDIAN,
              legend_label=t("dash.median"))
    plot.vbar(x=dodge("group", 0.18, range=plot.x_range), top="p90", width=0.34, source=source, color=P90,
              legend_label=t("dash.p90"))
    plot.y_range.start = 0
    plot.add_tools(HoverTool(tooltips=[("", "@group"), (t("dash.median"), "@median{0.00} h"),
                                       (t("dash.p90"), "@p90{0.00} h"), ("n", "@count")]))
    _legend(plot)
    return plot


def sla_chart(rows: Sequence[dict[str, Any]], t: Translate, *, dimension: str) -> Any:
    """First-response SLA compliance per group, as a percentage."""
    rows = [r for r in rows if r["compliance"] is not None]
    groups = [str(r["group"]) for r in rows]
    source = ColumnDataSource({"group": groups, "compliance": [r["compliance"] for r in rows],
                               "met": [r["met"] for r in rows], "breached": [r["breached"] for r in rows]})
    plot = _figure(t("dash.chart.sla", dimension=t(f"dash.dim.{dimension}")), x_label=t(f"dash.dim.{dimension}"),
                   y_label=t("dash.chart.percent"), css="sc-chart-sla", x_range=FactorRange(*groups),
                   y_range=Range1d(0, 1.05))
    plot.vbar(x="group", top="compliance", width=0.6, source=source, color=COLOURS["positive"], alpha=0.85)
    plot.yaxis[0].formatter = NumeralTickFormatter(format="0%")
    plot.add_tools(HoverTool(tooltips=[("", "@group"), ("%", "@compliance{0.0%}"), ("met", "@met"),
                                       ("breached", "@breached")]))
    return plot
