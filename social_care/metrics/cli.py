"""`social-care metrics`: recompute every figure offline from the event log, as CSV, JSON or a table."""
from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from social_care.metrics import export
from social_care.metrics.business_hours import BusinessHours, BusinessHoursError
from social_care.metrics.engine import MetricsError, compute, report_zone
from social_care.metrics.figures import INTERVALS
from social_care.metrics.report import DIMENSIONS, MetricsReport
from social_care.store.types import utcnow

EXIT_USAGE = 2
EXIT_FAILED = 1
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# What `--format table` prints unless --table asks otherwise; the per-cycle audit tables are long.
SUMMARY_TABLES = ("response_times", "sla", "backlog", "breaches_now", "volume", "sentiment", "public_complaints")


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    """The `metrics` sub-command's arguments."""
    p = _Parser(
        prog="social-care metrics",
        description="Recompute response times, SLA compliance, backlog, sentiment trends and volume from the "
                    "event log (definitions in docs/metrics.md).",
    )
    p.add_argument("--since", required=True, help="start of the range: a date (local midnight) or an ISO date-time")
    p.add_argument("--until", help="end of the range: a date (included whole) or an ISO date-time (excluded); "
                                   "default now")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument("--by", choices=DIMENSIONS, help="only the overall rows and this dimension's")
    p.add_argument("--interval", choices=INTERVALS, default="day", help="trend buckets (default day)")
    p.add_argument("--timezone", help="zone days are cut in and dates are read in (default: the [business_hours] "
                                      "zone, else UTC)")
    p.add_argument("--table", action="append", choices=MetricsReport.TABLES,
                   help="print only this table (repeatable); default all (table format: the summaries)")
    p.add_argument("--output", type=Path, help="with --format csv: write one <table>.csv per table in this folder")
    p.add_argument("--now", help="the instant backlog and breaches are judged at (ISO date-time; default now)")
    p.add_argument("--no-business-hours", action="store_true", help="ignore [business_hours]: wall-clock time")
    return p


def parse_instant(text: str, zone: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    """A date (midnight in `zone`, or the next midnight for an inclusive end) or an ISO date-time."""
    if _DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError as err:
            raise UsageError(f"{text!r} is not a valid date") from err
        if end_of_day:
            day += timedelta(days=1)
        return datetime.combine(day, time(0), tzinfo=zone)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise UsageError(f"{text!r} is not an ISO date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM[+HH:MM])") from err
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def business_hours_of(settings: Any) -> BusinessHours | None:
    """The calendar from `settings.business_hours` (a parsed calendar or the TOML table), if any."""
    value = getattr(settings, "business_hours", None)
    if value is None or isinstance(value, BusinessHours):
        return value
    if isinstance(value, Mapping):
        return BusinessHours.from_dict(value) if value else None
    raise BusinessHoursError("business_hours must be a table")


def main(argv: Sequence[str], *, settings: Any) -> int:
    """Run `social-care metrics ARGS` against the configured store; 0, or 2 for bad input, 1 on failure."""
    try:
        args = parser().parse_args(list(argv))
        request = _request(args, settings)
    except (UsageError, MetricsError, BusinessHoursError, ValueError) as err:
        print(f"social-care metrics: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = asyncio.run(_compute(settings, request))
    except MetricsError as err:
        print(f"social-care metrics: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (SQLAlchemyError, OSError) as err:
        print(f"social-care metrics: error: cannot read the store: {err}", file=sys.stderr)
        return EXIT_FAILED
    tables = tuple(args.table) if args.table else None
    if args.format == "json":
        sys.stdout.write(export.to_json(report, by=args.by, tables=tables))
    elif args.format == "csv" and args.output is not None:
        for path in export.write_csv_dir(report, args.output, by=args.by, tables=tables):
            print(path)
    elif args.format == "csv":
        sys.stdout.write(export.to_csv(report, by=args.by, tables=tables))
    else:
        sys.stdout.write(render_tables(report, by=args.by, tables=tables or SUMMARY_TABLES))
    return 0


def _request(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    from triage import TriageRules

    if args.output is not None and args.format != "csv":
        raise UsageError("--output needs --format csv")
    calendar = business_hours_of(settings)
    business_hours = None if args.no_business_hours else calendar
    # The calendar's zone is the brand's: days are cut there even when its opening hours are ignored.
    zone = report_zone(args.timezone, calendar)
    now = parse_instant(args.now, zone) if args.now else utcnow()
    since = parse_instant(args.since, zone)
    until = parse_instant(args.until, zone, end_of_day=True) if args.until else now
    if until <= since:
        raise UsageError("--until must be after --since")
    rules = TriageRules.from_dict(getattr(settings, "triage", None))
    return {"since": since, "until": until, "now": now, "rules": rules, "business_hours": business_hours,
            "interval": args.interval, "timezone": zone.key}


async def _compute(settings: Any, request: dict[str, Any]) -> MetricsReport:
    from social_care.store.db import Database

    db = Database(settings.database_url)
    try:
        return await compute(db, **request)
    finally:
        await db.dispose()


def render_tables(report: MetricsReport, *, by: str | None = None, tables: Sequence[str] = SUMMARY_TABLES) -> str:
    """Human-readable, aligned tables: durations as H:MM:SS, shares as percentages, times in the report zone."""
    zone = ZoneInfo(report.timezone)
    lines = [f"metrics from {_when(report.since, zone)} to {_when(report.until, zone)} ({report.timezone}), "
             f"judged at {_when(report.now, zone)}; "
             + ("business hours only" if report.business_hours else "wall-clock time")]
    for name in tables:
        data = export.rows(report, name, by=by)
        lines += ["", f"{name.replace('_', ' ')} ({len(data)} rows)"]
        if not data:
            continue
        header = list(data[0])
        cells = [[_show(column, row[column], zone) for column in header] for row in data]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def _when(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _show(column: str, value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return "-"
    if column.endswith("_seconds") and isinstance(value, int | float):
        seconds = round(value)
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if (column.startswith("share_") or column == "compliance") and isinstance(value, float):
        return f"{100 * value:.1f}%"
    if isinstance(value, float):
        return f"{value:.3f}"
    if column.endswith(("_at", "_since")) and isinstance(value, str):
        return _when(datetime.fromisoformat(value), zone)
    return str(value)
