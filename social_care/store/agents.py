"""Agents and their API tokens; a token is shown once and stored only as a hash."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from social_care.store.db import Database
from social_care.store.models import Agent, Role
from social_care.store.sessions import bump_epoch, current_epoch

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


# scrypt parameters: n=2**14, r=8 needs 16 MiB and about 50 ms here (https://www.rfc-editor.org/rfc/rfc7914).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """A salted scrypt hash in the form scrypt$n$r$p$salt$hash (base64)."""
    import base64

    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    encode = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encode(salt)}${encode(digest)}"


def password_matches(password: str, stored: str | None) -> bool:
    """Check a password against a stored hash in constant time; False for malformed or missing hashes."""
    import base64
    import hmac

    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


async def set_password(db: Database, name: str, password: str) -> None:
    """Store a new password hash for an agent and end all their console sessions (in every process)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    hashed = hash_password(password)
    async with db.write() as session:
        agent = await session.scalar(select(Agent).where(Agent.name == name))
        if agent is None:
            raise LookupError(f"no agent named {name!r}")
        agent.password_hash = hashed
        await bump_epoch(session, agent.id)


@dataclass(frozen=True)
class SignIn:
    """An agent whose password matched, with the session epoch read together with the password hash."""

    agent: Agent
    session_epoch: int


async def sign_in(db: Database, name: str, password: str) -> SignIn | None:
    """The active agent and its session epoch when name and password match, else None (same work either way).

    The epoch is read with the hash: a password change committed meanwhile bumps it, so a cookie issued
    for the old password is refused at once.
    """
    import asyncio

    async with db.read() as session:
        agent = await session.scalar(select(Agent).where(Agent.name == name, Agent.active.is_(True)))
        epoch = await current_epoch(session, agent.id) if agent is not None else None
    stored = agent.password_hash if agent is not None else _DUMMY_HASH
    ok = await asyncio.to_thread(password_matches, password, stored)
    return SignIn(agent, epoch) if ok and agent is not None and epoch is not None else None


async def agent_for_login(db: Database, name: str, password: str) -> Agent | None:
    """The active agent when name and password match, else None (same work either way)."""
    signed_in = await sign_in(db, name, password)
    return signed_in.agent if signed_in is not None else None


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))  # so unknown names cost as much as wrong passwords
