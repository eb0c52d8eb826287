"""Canned replies in the store: validated list, create, update and delete, each recorded as an event."""
from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from social_care.actions import Conflict, Forbidden, Invalid, NotFound
from social_care.permissions import SUPERVISORS
from social_care.store.models import Agent, CannedReply, Event
from social_care.store.types import utcnow

NAME_LIMIT = 100
TEXT_LIMIT = 4096
LANGUAGES = ("en", "it")
SEEDED_EVENT = "canned_seeded"
TOPIC = "canned.changed"  # the bus topic every change is announced on, after its commit
_SEED_LOCK = 0x5C_CA_77_ED  # PostgreSQL advisory lock: two console processes starting at once seed once


class Refusal(Exception):
    """A refusal with a code and values, so the console can say it in the agent's language."""

    def __init__(self, code: str, message: str, **values: object) -> None:
        super().__init__(message)
        self.code = code
        self.values = values


class InvalidReply(Refusal, Invalid):
    pass


class NameTaken(Refusal, Conflict):
    pass


class StaleEdit(Refusal, Conflict):
    pass


class NotAnEditor(Refusal, Forbidden):
    pass


class ReplyNotFound(Refusal, NotFound):
    pass


@dataclass(frozen=True)
class Draft:
    """A validated name, text and language."""

    name: str
    text: str
    language: str | None


def name_key(name: str) -> str:
    """The form names are compared in: case-insensitive, Unicode-normalized."""
    return unicodedata.normalize("NFKC", name).casefold()


def clean_name(value: object) -> str:
    """A reply name: 1 to 100 characters on one line, surrounding spaces dropped."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidReply("name_empty", "the name must be a non-empty string")
    name = value.strip()
    if len(name) > NAME_LIMIT:
        raise InvalidReply("name_long", f"the name is {len(name)} characters; the limit is {NAME_LIMIT}",
                           used=len(name), limit=NAME_LIMIT)
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        raise InvalidReply("name_line", "the name must be one line without control characters")
    return name


def clean_text(value: object) -> str:
    """A reply text: 1 to 4096 characters, not only spaces; kept exactly as written."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidReply("text_empty", "the text must be a non-empty string")
    if len(value) > TEXT_LIMIT:
        raise InvalidReply("text_long", f"the text is {len(value)} characters; the limit is {TEXT_LIMIT}",
                           used=len(value), limit=TEXT_LIMIT)
    return value


def clean_language(value: object) -> str | None:
    """en, it, or None (null or an empty string) for a reply usable in any language."""
    if value is None or value == "":
        return None
    if value not in LANGUAGES:
        raise InvalidReply("language", f"the language must be one of {', '.join(LANGUAGES)}, or null for any language")
    return str(value)


def validate(name: object, text_: object, language: object = None) -> Draft:
    """Check all three fields, raising Invalid with the first problem found."""
    return Draft(clean_name(name), clean_text(text_), clean_language(language))


def require_editor(agent: Agent) -> None:
    """Raise Forbidden unless the agent is a manager or an admin."""
    if agent.role not in SUPERVISORS:
        raise NotAnEditor("forbidden", "only managers and admins edit canned replies")


def _record(session: AsyncSession, agent: Agent | None, kind: str, **data: Any) -> None:
    session.add(Event(agent_id=agent.id if agent else None, kind=kind, at=utcnow(), data=data))


async def _check_unique(session: AsyncSession, name: str, *, other_than: int | None = None) -> None:
    query = select(CannedReply.name).where(CannedReply.name_key == name_key(name))
    if other_than is not None:
        query = query.where(CannedReply.id != other_than)
    existing = await session.scalar(query)
    if existing is not None:
        raise NameTaken("name_taken", f"a canned reply named {existing!r} already exists (names ignore case)",
                        name=existing)


async def _flush(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError as err:  # another writer took the name between our check and this insert
        raise NameTaken("name_taken", f"a canned reply named {name!r} already exists (names ignore case)",
                        name=name) from err


async def list_replies(session: AsyncSession, query: str = "") -> list[CannedReply]:
    """Every reply (or those whose name or text contains each word of `query`), by name."""
    replies = (await session.scalars(select(CannedReply).order_by(CannedReply.name_key, CannedReply.id))).all()
    words = name_key(query).split()
    if not words:
        return list(replies)
    return [r for r in replies if all(w in r.name_key or w in name_key(r.text) for w in words)]


async def get_reply(session: AsyncSession, reply_id: int) -> CannedReply:
    """One reply, or NotFound."""
    reply = await session.get(CannedReply, reply_id)
    if reply is None:
        raise ReplyNotFound("not_found", f"canned reply {reply_id} not found", id=reply_id)
    return reply


def _check_version(reply: CannedReply, version: object) -> None:
    if version is None:
        return
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidReply("version", "version must be an integer")
    if version != reply.version:
        raise StaleEdit("stale", f"canned reply {reply.name!r} was changed by someone else since you opened it "
                                 f"(version {reply.version} now, yours is {version}); reload it and try again",
                        name=reply.name)


async def create_reply(session: AsyncSession, agent: Agent, name: object, text_: object,
                       language: object = None) -> CannedReply:
    """Add a reply; managers and admins only."""
    require_editor(agent)
    draft = validate(name, text_, language)
    await _check_unique(session, draft.name)
    now = utcnow()
    reply = CannedReply(name=draft.name, name_key=name_key(draft.name), text=draft.text, language=draft.language,
                        version=1, created_by=agent.id, updated_by=agent.id, created_at=now, updated_at=now)
    session.add(reply)
    await _flush(session, draft.name)
    _record(session, agent, "canned_created", canned_reply_id=reply.id, name=reply.name, language=reply.language)
    return reply


async def update_reply(session: AsyncSession, agent: Agent, reply_id: int, changes: dict[str, object], *,
                       version: object = None) -> CannedReply:
    """Change a reply's name, text and/or language; a stale `version` is refused with Conflict."""
    require_editor(agent)
    unknown = set(changes) - {"name", "text", "language"}
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}; a canned reply has name, text, language")
    if not changes:
        raise Invalid("nothing to change: give name, text and/or language")
    cleaners: dict[str, Callable[[object], object]] = {"name": clean_name, "text": clean_text,
                                                       "language": clean_language}
    clean = {field: cleaners[field](value) for field, value in changes.items()}
    reply = await get_reply(session, reply_id)
    _check_version(reply, version)
    if "name" in clean:
        await _check_unique(session, str(clean["name"]), other_than=reply.id)
    changed = {field: value for field, value in clean.items() if getattr(reply, field) != value}
    if not changed:
        return reply
    previous = {field: getattr(reply, field) for field in changed if field != "text"}
    for field, value in changed.items():
        setattr(reply, field, value)
    if "name" in changed:
        reply.name_key = name_key(reply.name)
    reply.version += 1
    reply.updated_by = agent.id
    reply.updated_at = utcnow()
    await _flush(session, reply.name)
    _record(session, agent, "canned_updated", canned_reply_id=reply.id, name=reply.name,
            changed=sorted(changed), previous=previous, version=reply.version)
    return reply


async def delete_reply(session: AsyncSession, agent: Agent, reply_id: int, *, version: object = None) -> None:
    """Remove a reply; the event keeps its name and text, so a deletion can be undone by hand."""
    require_editor(agent)
    reply = await get_reply(session, reply_id)
    _check_version(reply, version)
    _record(session, agent, "canned_deleted", canned_reply_id=reply.id, name=reply.name, text=reply.text,
            language=reply.language)
    await session.delete(reply)


async def seed_once(session: AsyncSession, load: Callable[[], Sequence[tuple[str, str, str | None]]], *,
                    source: str) -> int:
    """On the first start only, fill an empty table with `load()`; returns how many were added.

    An event marks that seeding happened, so replies deleted later never come back.
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEED_LOCK})
    if await session.scalar(select(Event.id).where(Event.kind == SEEDED_EVENT).limit(1)) is not None:
        return 0
    added = 0
    if not await session.scalar(select(func.count()).select_from(CannedReply)):
        seen: set[str] = set()
        now = utcnow()
        for index, (name, body, language) in enumerate(load()):
            try:
                draft = validate(name, body, language)
            except Invalid as err:
                raise Invalid(f"{source}: reply {index + 1}: {err}") from err
            if name_key(draft.name) in seen:
                raise Invalid(f"{source}: reply {index + 1}: the name {draft.name!r} is used twice")
            seen.add(name_key(draft.name))
            session.add(CannedReply(name=draft.name, name_key=name_key(draft.name), text=draft.text,
                                    language=draft.language, version=1, created_at=now, updated_at=now))
            added += 1
    _record(session, None, SEEDED_EVENT, count=added, source=source)
    return added
