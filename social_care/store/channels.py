"""Channel rows for the brand accounts in the configuration, and a cache of their ids."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from social_care.store.db import Database
from social_care.store.models import Channel


class UnknownChannel(LookupError):
    """A record names a channel that is not configured."""


@dataclass
class ChannelDirectory:
    """Maps (platform, channel key) to channel ids; channels are created on first registration."""

    db: Database
    _ids: dict[tuple[str, str], int] = field(default_factory=dict)

    async def register(self, platform: str, key: str, name: str | None = None) -> int:
        """Create the channel row if needed and return its id."""
        async with self.db.write() as session:
            found = await session.scalar(select(Channel).where(Channel.platform == platform, Channel.key == key))
            if found is None:
                found = Channel(platform=platform, key=key, name=name or f"{platform}:{key}")
                session.add(found)
                await session.flush()
            elif name and found.name != name:
                found.name = name
            channel_id = found.id
        self._ids[(platform, key)] = channel_id
        return channel_id

    async def id_of(self, platform: str, key: str) -> int:
        """The id of a registered channel; raises UnknownChannel otherwise."""
        cached = self._ids.get((platform, key))
        if cached is not None:
            return cached
        async with self.db.read() as session:
            channel_id = await session.scalar(
                select(Channel.id).where(Channel.platform == platform, Channel.key == key)
            )
        if channel_id is None:
            raise UnknownChannel(f"{platform}:{key}")
        self._ids[(platform, key)] = channel_id
        return channel_id
