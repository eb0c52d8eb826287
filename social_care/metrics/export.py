"""CSV and JSON of every table of a report (instants in UTC ISO 8601, durations in seconds)."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from social_care.metrics.report import ROW_TYPES, MetricsReport, columns


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def rows(report: MetricsReport, name: str, *, by: str | None = None) -> list[dict[str, Any]]:
    """One table as JSON-ready dicts; with `by`, only the overall rows and that dimension's."""
    result = []
    for row in report.table(name):
        if by is not None and hasattr(row, "dimension") and row.dimension not in ("all", by):
            continue
        result.append({f.name: _value(getattr(row, f.name)) for f in fields(row)})
    return result


def report_dict(report: MetricsReport, *, by: str | None = None, tables: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The whole report as one JSON-ready dict."""
    return {
        "since": _value(report.since),
        "until": _value(report.until),
        "now": _value(report.now),
        "timezone": report.timezone,
        "interval": report.interval,
        "business_hours": report.business_hours,
        "tables": {name: rows(report, name, by=by) for name in (tables or report.TABLES)},
    }


def to_json(report: MetricsReport, *, by: str | None = None, tables: tuple[str, ...] | None = None) -> str:
    """The report as indented JSON."""
    return json.dumps(report_dict(report, by=by, tables=tables), indent=2, ensure_ascii=False) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def table_csv(report: MetricsReport, name: str, *, by: str | None = None) -> str:
    """One table as CSV with a header row (empty cells for missing values)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = columns(ROW_TYPES[name])
    writer.writerow(header)
    for row in rows(report, name, by=by):
        writer.writerow([_cell(row[column]) for column in header])
    return out.getvalue()


def to_csv(report: MetricsReport, *, by: str | None = None, tables: tuple[str, ...] | None = None) -> str:
    """Several tables in one stream: each one after a `# name` line, separated by a blank line."""
    return "\n".join(f"# {name}\n{table_csv(report, name, by=by)}" for name in (tables or report.TABLES))


def write_csv_dir(report: MetricsReport, directory: Path, *, by: str | None = None,
                  tables: tuple[str, ...] | None = None) -> list[Path]:
    """Write one `<table>.csv` per table into `directory` (created if needed); returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in tables or report.TABLES:
        path = directory / f"{name}.csv"
        path.write_text(table_csv(report, name, by=by), encoding="utf-8")
        written.append(path)
    return written
