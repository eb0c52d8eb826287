"""`social-care triage` end to end: JSON lines in, one JSON line out per input line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from triage.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_every_line_gets_a_result_or_a_numbered_error(tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b'{"text": "my card was charged twice, refund me now!", "channel": "x", "public": true}\n'
        b"\xff\xfe not utf-8\n"
        b'{"text": "thank you, lovely service"}\n'
        b"not json\n"
        b'{"channel": "x"}\n'
        b"\n"
        b'{"text": "", "channel": "unknown-network", "author_followers": 12}\n'
    )
    assert main([str(source)]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 6
    assert out[0]["queue"] == "support" and out[0]["public_complaint"] is True
    assert out[1] == {"line": 2, "error": "invalid UTF-8 at byte 0"}
    assert out[2]["queue"] == "marketing"
    assert out[3]["line"] == 4 and "invalid JSON" in out[3]["error"]
    assert out[4]["line"] == 5 and "text" in out[4]["error"]
    assert out[5]["queue"] == "other" and out[5]["priority"] == "P4"


def test_stdin_through_a_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "triage.cli", "-"],
        input='{"text": "@brand worst service ever, I am switching to your competitor", "public": true}\n'.encode(),
        capture_output=True, cwd=REPO, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(proc.stdout)
    assert result["angry"] is True and result["reasons"][0] == "public complaint"


def test_bad_usage_exits_2_with_a_message(tmp_path, capsys):
    assert main(["a.jsonl", "b.jsonl"]) == 2
    assert main(["eval", "--folds", "1"]) == 2
    assert main(["train", "--data-dir", str(tmp_path / "missing")]) == 2
    assert main(["--no-such-flag"]) == 2
    assert main([str(tmp_path / "missing.jsonl")]) == 2
    assert "usage" in capsys.readouterr().err
