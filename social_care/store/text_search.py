"""Substring search over customer messages, served by an index instead of a scan of every message.

SQLite: an FTS5 table with the trigram tokenizer (https://sqlite.org/fts5.html#the_trigram_tokenizer)
over inbound messages, kept in step by triggers; a quoted phrase matches any substring of three or
more characters, case-insensitively. PostgreSQL: a pg_trgm GIN index on inbound messages' text, which
the planner uses for ILIKE '%…%' (https://www.postgresql.org/docs/15/pgtrgm.html). Both are created by
migration 0004; they are not models, so schema comparisons leave them out (`is_search_object`).
"""
from __future__ import annotations

from sqlalchemy import Select, literal_column, select, text

from social_care.store.models import Message

FTS_TABLE = "messages_fts"
PG_INDEX = "ix_messages_text_trgm"
MIN_INDEXED = 3  # trigrams: a shorter term cannot use either index


def like_pattern(term: str) -> str:
    """A LIKE pattern matching `term` anywhere, with the user's % and _ taken literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def fts_phrase(term: str) -> str:
    """`term` as one FTS5 string: no operator or wildcard in it means anything."""
    return '"' + term.replace('"', '""') + '"'


def conversations_with_text(term: str, dialect: str) -> Select[tuple[int]]:
    """Ids of conversations with a customer message containing `term` (case-insensitive)."""
    if dialect == "sqlite" and len(term) >= MIN_INDEXED:
        matching = (select(literal_column("rowid")).select_from(text(FTS_TABLE))
                    .where(text(f"{FTS_TABLE} MATCH :fts_phrase").bindparams(fts_phrase=fts_phrase(term))))
        return select(Message.conversation_id).where(Message.id.in_(matching))
    return select(Message.conversation_id).where(Message.direction == "inbound",
                                                 Message.text.ilike(like_pattern(term), escape="\\"))


def is_search_object(name: str | None) -> bool:
    """Whether a table or index belongs to the search index (FTS5 also makes shadow tables)."""
    return bool(name) and (name == PG_INDEX or name.startswith(FTS_TABLE))  # type: ignore[union-attr]
