"""Canned replies: searchable by name, with {customer_name}, {agent_name} and {brand} filled in.

They live in a TOML file until the store has a table for them (the model is proposed in the report).
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).with_name("canned_replies.toml")
ENV_FILE = "SOCIAL_CARE_CANNED_REPLIES"
VARIABLES = ("customer_name", "agent_name", "brand")
_VARIABLE = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class CannedReply:
    name: str
    text: str
    language: str | None = None


def load_canned(path: str | Path | None = None) -> list[CannedReply]:
    """The replies in `path`, $SOCIAL_CARE_CANNED_REPLIES, or the shipped file."""
    source = Path(path or os.environ.get(ENV_FILE) or DEFAULT_FILE)
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    replies = []
    for index, entry in enumerate(data.get("reply", [])):
        name, text = entry.get("name"), entry.get("text")
        if not isinstance(name, str) or not isinstance(text, str) or not name.strip() or not text.strip():
            raise ValueError(f"{source}: reply[{index}] needs a name and a text")
        language = entry.get("language")
        replies.append(CannedReply(name.strip(), text, language if isinstance(language, str) else None))
    return replies


def search(replies: list[CannedReply], query: str, *, language: str | None = None) -> list[CannedReply]:
    """Replies whose name contains every word of `query`; the agent's language first."""
    words = query.lower().split()
    found = [r for r in replies if all(word in r.name.lower() for word in words)]
    return sorted(found, key=lambda r: (r.language not in (None, language), r.name.lower()))


def fill(text: str, values: dict[str, str]) -> str:
    """Replace known {variables}; unknown braces stay as typed, so the agent sees and edits them."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        return values[key] if values.get(key) else match.group(0)

    return _VARIABLE.sub(replace, text)
