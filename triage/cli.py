"""`social-care triage [FILE|-]`, `social-care triage eval` and `social-care triage train`.

Triage reads JSON lines (`text` required; `channel`, `public`, `author_followers`, `author_handle`,
`waiting_seconds` optional) and writes one JSON line per input line to stdout, in order. A line that
cannot be used (invalid UTF-8, not JSON, no `text`) yields `{"line": N, "error": "..."}` on stdout in
its place, so outputs stay aligned with inputs; the exit code is then 1. Blank lines are skipped.
Bad usage exits with 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from triage.rules import TriageRules
from triage.triager import Triager
from triage.types import TriageInput

USAGE = "social-care triage [FILE|-] | eval [--data-dir DIR] [--folds K] | train [--corrections FILE] [--data-dir DIR] [--out DIR]"


class InputError(ValueError):
    """One input line is unusable; the message says why."""


def parse_line(raw: bytes) -> TriageInput:
    """Turn one raw JSON line into a TriageInput, or raise InputError."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"invalid UTF-8 at byte {err.start}") from err
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON: {err.msg} at column {err.colno}") from err
    if not isinstance(data, dict):
        raise InputError("expected a JSON object")
    text = data.get("text")
    if not isinstance(text, str):
        raise InputError("missing or non-string 'text'")
    followers = data.get("author_followers")
    if followers is not None and (isinstance(followers, bool) or not isinstance(followers, (int, float))):
        raise InputError("'author_followers' must be a number")
    waiting = data.get("waiting_seconds", 0.0)
    if isinstance(waiting, bool) or not isinstance(waiting, (int, float)):
        raise InputError("'waiting_seconds' must be a number")
    channel = data.get("channel")
    handle = data.get("author_handle")
    return TriageInput(
        text=text,
        channel=None if channel is None else str(channel),
        public=bool(data.get("public", False)),
        author_followers=None if followers is None else int(followers),
        author_handle=None if handle is None else str(handle),
        waiting_seconds=float(waiting),
    )


def run_lines(triager: Triager, lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """One output dict per non-blank input line: a triage result or a {line, error} record."""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            inp = parse_line(raw.rstrip(b"\r\n"))
        except InputError as err:
            yield {"line": number, "error": str(err)}
            continue
        yield triager.triage(inp).as_json()


def _triage(source: str, rules: TriageRules, out: IO[str]) -> int:
    try:
        stream = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
    except OSError as err:
        print(f"social-care triage: cannot read {source}: {err.strerror}", file=sys.stderr)
        return 2
    failed = False
    with stream:
        triager = Triager(rules)
        for record in run_lines(triager, stream):
            failed = failed or "error" in record
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="social-care triage", usage=USAGE, add_help=True)
    parser.add_argument("args", nargs="*")
    parser.add_argument("--data-dir", default=None, help="dev/training data (default ../shared/data)")
    parser.add_argument("--corrections", default=None, help="train: agents' corrections as JSON lines")
    parser.add_argument("--out", default=None, help="train: write the models here instead of the packages")
    parser.add_argument("--folds", type=int, default=10, help="eval: cross-validation folds")
    return parser


class _UsageError(Exception):
    pass


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = _parser()

    def fail(message: str) -> None:
        raise _UsageError(message)

    parser.error = fail  # type: ignore[method-assign]
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, *, rules: TriageRules | None = None) -> int:
    """Entry point; `rules` are the brand's `[triage]` rules (the app passes them from its config)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: {USAGE}")
        return 0
    try:
        ns = _parse(argv)
    except _UsageError as err:
        print(f"social-care triage: {err}\nusage: {USAGE}", file=sys.stderr)
        return 2
    command = ns.args[0] if ns.args else "-"
    if command in ("eval", "train"):
        if len(ns.args) > 1:
            print(f"social-care triage {command}: unexpected argument {ns.args[1]!r}\nusage: {USAGE}", file=sys.stderr)
            return 2
        return _eval(ns) if command == "eval" else _train(ns)
    if len(ns.args) > 1 or ns.corrections or ns.out or ns.data_dir:
        print(f"social-care triage: give one FILE or - (and no options)\nusage: {USAGE}", file=sys.stderr)
        return 2
    return _triage(command, rules or TriageRules(), sys.stdout)


def _data_root(ns: argparse.Namespace) -> Path | None:
    from triage.datasets import data_dir

    root = data_dir(ns.data_dir)
    if not root.is_dir():
        print(f"social-care triage: data directory {root} not found (use --data-dir or SOCIAL_CARE_DATA_DIR)", file=sys.stderr)
        return None
    return root


def _eval(ns: argparse.Namespace) -> int:
    if ns.corrections or ns.out:
        print(f"social-care triage eval: --corrections and --out belong to train\nusage: {USAGE}", file=sys.stderr)
        return 2
    if ns.folds < 2:
        print("social-care triage eval: --folds must be at least 2", file=sys.stderr)
        return 2
    root = _data_root(ns)
    if root is None:
        return 2
    from triage.evaluate import evaluate

    print(f"triage eval on {root}")
    evaluate(root, ns.folds, emit=lambda line: print(line, flush=True))
    return 0


def _train(ns: argparse.Namespace) -> int:
    root = _data_root(ns)
    if root is None:
        return 2
    corrections = Path(ns.corrections) if ns.corrections else None
    if corrections is not None and not corrections.is_file():
        print(f"social-care triage train: corrections file {corrections} not found", file=sys.stderr)
        return 2
    try:
        from triage.train import train_all
    except ImportError as err:
        print(f"social-care triage train: needs the training extra ({err.name} missing)", file=sys.stderr)
        return 2
    try:
        written = train_all(root, Path(ns.out) if ns.out else None, corrections)
    except ValueError as err:
        print(f"social-care triage train: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
