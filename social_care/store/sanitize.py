"""Make inbound records storable on every database, replacing what cannot be stored and saying what changed.

Platforms (and attackers posing as them) send JSON that parses but that a database refuses: lone UTF-16
surrogates, NUL characters, NaN and infinities, integers beyond 64 bits, names longer than their column,
nesting deeper than anyone reads. Refusing the whole delivery makes the platform send it again forever,
so ingest stores a cleaned copy instead, and the list of changes goes into the message's timeline.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from social_care.domain import Attachment, Author, ContactSignal, Inbound
from social_care.store.models import Contact, Conversation, Identity, Message

REPLACEMENT = "\ufffd"
ELLIPSIS = "…"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Integer columns (followers) are 32-bit on PostgreSQL.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_DEPTH = 32  # Telegram and X payloads nest about 6 deep
MAX_CHANGES = 20  # recorded per record; the rest are counted
MAX_PATH_PART = 40

_DIGEST_CHARS = 32


def _length(column: Any) -> int:
    length = column.type.length
    assert isinstance(length, int)
    return length


# Ids that are too long are shortened to a digest, not cut: two different long ids must stay different,
# and the same id must map to the same stored value every time (deduplication, reply chains).
SOURCE_ID_LENGTH = _length(Message.__table__.c.platform_message_id)
IN_REPLY_TO_LENGTH = _length(Message.__table__.c.in_reply_to)
USER_ID_LENGTH = _length(Identity.__table__.c.platform_user_id)
THREAD_KEY_LENGTH = _length(Conversation.__table__.c.thread_key)
NAME_LENGTH = min(_length(Identity.__table__.c.display_name), _length(Contact.__table__.c.name))
HANDLE_LENGTH = _length(Identity.__table__.c.handle)


@dataclasses.dataclass
class Changes:
    """What sanitizing changed in one record: the first MAX_CHANGES as "path: change" lines, and a count of all."""

    items: list[str] = dataclasses.field(default_factory=list)
    count: int = 0

    def add(self, path: str, what: str) -> None:
        """Record that the value at `path` was changed, and how."""
        self.count += 1
        if len(self.items) < MAX_CHANGES:
            self.items.append(f"{path}: {what}")

    def as_json(self) -> list[str]:
        """The recorded changes, with a last line counting those left out."""
        if self.count > len(self.items):
            return [*self.items, f"… and {self.count - len(self.items)} more"]
        return list(self.items)

    def __bool__(self) -> bool:
        return self.count > 0


def sanitize(record: Inbound) -> tuple[Inbound, Changes]:
    """A copy of `record` that every supported database can store, and what was changed to get it.

    A record that needs no change is returned as it is (the common case, so it copies nothing).
    """
    changes = Changes()
    author = _author(record.author, changes)
    raw = _raw(record.raw, changes)
    if isinstance(record, ContactSignal):
        return (dataclasses.replace(record, author=author, raw=raw), changes) if changes else (record, changes)
    fields: dict[str, Any] = {
        "source_id": _identifier(record.source_id, SOURCE_ID_LENGTH, "source_id", changes),
        "thread_key": _identifier(record.thread_key, THREAD_KEY_LENGTH, "thread_key", changes),
        "in_reply_to": None if record.in_reply_to is None
        else _identifier(record.in_reply_to, IN_REPLY_TO_LENGTH, "in_reply_to", changes),
        "text": clean_text(record.text, "text", changes),
        "attachments": tuple(_attachment(a, f"attachments[{i}]", changes) for i, a in enumerate(record.attachments)),
    }
    if not changes:
        return record, changes
    return dataclasses.replace(record, author=author, raw=raw, **fields), changes


def clean_text(value: str, path: str, changes: Changes) -> str:
    """`value` without lone surrogates or NUL characters (each becomes U+FFFD)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Through UTF-16 so that a surrogate pair split in two code points is joined, not replaced.
            value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
            changes.add(path, "lone surrogates replaced")
    if "\x00" in value:
        value = value.replace("\x00", REPLACEMENT)
        changes.add(path, "NUL characters replaced")
    return value


def _identifier(value: str, limit: int, path: str, changes: Changes) -> str:
    value = clean_text(value, path, changes)
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:_DIGEST_CHARS]
    changes.add(path, f"longer than {limit} characters, shortened with a digest")
    return f"{value[: limit - _DIGEST_CHARS - 1]}~{digest}"


def _bounded(value: str | None, limit: int, path: str, changes: Changes) -> str | None:
    if value is None:
        return None
    value = clean_text(value, path, changes)
    if len(value) <= limit:
        return value
    changes.add(path, f"cut to {limit} characters")
    return value[: limit - 1] + ELLIPSIS


def _author(author: Author, changes: Changes) -> Author:
    before = changes.count
    followers = author.followers
    if followers is not None and not INT32_MIN <= followers <= INT32_MAX:
        changes.add("author.followers", "out of range, dropped")
        followers = None
    fields = {
        "platform_id": _identifier(author.platform_id, USER_ID_LENGTH, "author.platform_id", changes),
        "name": _bounded(author.name, NAME_LENGTH, "author.name", changes),
        "handle": _bounded(author.handle, HANDLE_LENGTH, "author.handle", changes),
        "language": None if author.language is None else clean_text(author.language, "author.language", changes),
    }
    if changes.count == before:
        return author
    return dataclasses.replace(author, followers=followers, **fields)


def _attachment(attachment: Attachment, path: str, changes: Changes) -> Attachment:
    def text(value: str | None, field: str) -> str | None:
        return None if value is None else clean_text(value, f"{path}.{field}", changes)

    before = changes.count
    size = attachment.size
    if size is not None and not INT64_MIN <= size <= INT64_MAX:
        changes.add(f"{path}.size", "beyond 64 bits, dropped")
        size = None
    extra: Any = attachment.extra
    if extra and not _storable(extra):
        extra = clean_json(extra, f"{path}.extra", changes)
    fields = {
        "kind": clean_text(attachment.kind, f"{path}.kind", changes),
        "file_id": text(attachment.file_id, "file_id"),
        "name": text(attachment.name, "name"),
        "mime_type": text(attachment.mime_type, "mime_type"),
    }
    if changes.count == before:
        return attachment
    return dataclasses.replace(attachment, size=size, extra=extra if isinstance(extra, Mapping) else {}, **fields)


def _raw(raw: Mapping[str, Any], changes: Changes) -> Mapping[str, Any]:
    if _storable(raw):
        return raw
    cleaned = clean_json(raw, "raw", changes)
    return cleaned if isinstance(cleaned, Mapping) else {"value": cleaned}


# A JSON number token of 19 digits or more, which may not fit 64 bits (digits inside strings follow a quote).
_LONG_NUMBER = re.compile(r"(?:^|[:\[,])\s*-?\d{19}")


def _storable(value: Any) -> bool:
    """Whether clean_json would leave `value` as it is: one pass of the C JSON encoder, and no allocation per node.

    Every test errs on the safe side: a false "no" only costs the careful walk.
    """
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, check_circular=False)
    except (ValueError, TypeError, RecursionError):
        return False  # NaN or infinity, something not JSON, or absurd nesting
    if "\\u0000" in text or _LONG_NUMBER.search(text) or text.count("{") + text.count("[") >= MAX_DEPTH:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False  # a lone surrogate
    return True


def clean_json(value: Any, path: str, changes: Changes, depth: int = 0) -> Any:
    """A JSON value every database stores and every JSON reader reads back; the input is not modified."""
    if isinstance(value, str):
        return clean_text(value, path, changes)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return value
        # Kept as its digits: readers in other languages would round it, and some stores refuse it.
        changes.add(path, "integer beyond 64 bits kept as a string")
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        changes.add(path, f"{value} replaced by null")
        return None
    if isinstance(value, Mapping | list | tuple) and depth >= MAX_DEPTH:
        changes.add(path, f"nested deeper than {MAX_DEPTH} levels, removed")
        return None
    if isinstance(value, Mapping):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            name = clean_text(str(key), path, changes)
            cleaned[name] = clean_json(item, f"{path}.{_part(name)}", changes, depth + 1)
        return cleaned
    if isinstance(value, list | tuple):
        return [clean_json(item, f"{path}[{i}]", changes, depth + 1) for i, item in enumerate(value)]
    # Not from a JSON parser: a connector's bug, which storing will report rather than hide.
    return value


def _part(name: str) -> str:
    return name if len(name) <= MAX_PATH_PART else name[: MAX_PATH_PART - 1] + ELLIPSIS
