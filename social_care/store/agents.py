"""Agents and their API tokens; a token is shown once and stored only as a hash."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from social_care.store.db import Database
from social_care.store.models import Agent, Role

TOKEN_PREFIX = "sc_"


class AgentExists(ValueError):
    """An agent with that name already exists."""


def hash_token(token: str) -> str:
    """SHA-256 of a token: tokens carry 256 random bits, so a slow KDF adds nothing here."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random API token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def add_agent(db: Database, name: str, role: str, *, display_name: str | None = None) -> tuple[Agent, str]:
    """Create an agent and return it with its API token (the only time the token is visible)."""
    if role not in {r.value for r in Role}:
        raise ValueError(f"unknown role {role!r}; choose one of: {', '.join(r.value for r in Role)}")
    if not name or len(name) > 100:
        raise ValueError("agent name must be 1 to 100 characters")
    token = new_token()
    async with db.write() as session:
        if await session.scalar(select(Agent.id).where(Agent.name == name)) is not None:
            raise AgentExists(f"agent {name!r} already exists")
        agent = Agent(name=name, role=role, display_name=display_name or name, token_hash=hash_token(token))
        session.add(agent)
    return agent, token


async def agent_for_token(db: Database, token: str) -> Agent | None:
    """The active agent owning `token`, or None."""
    async with db.read() as session:
        return await session.scalar(
            select(Agent).where(Agent.token_hash == hash_token(token), Agent.active.is_(True))
        )


async def rotate_token(db: Database, name: str) -> str:
    """Replace an agent's API token and return the new one (the old one stops working)."""
    token = new_token()
    async with db.write() as session:
        agent = await session.scalar(select(Agent).where(Agent.name == name))
        if agent is None:
            raise LookupError(f"no agent named {name!r}")
        agent.token_hash = hash_token(token)
    return token
