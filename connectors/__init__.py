"""Platform connectors; the registry lists the built-in ones explicitly."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlatformInfo:
    """What the core must know about a platform without importing its connector."""

    slug: str
    title: str
    connector: str  # "module:Class"
    max_reply_length: int
    reply_modes: tuple[str, ...] = ("private",)
    length_of: str | None = None  # "module:function" counting characters the platform's way; len() if None
    public_reply_length: int | None = None  # a tighter limit for public replies (X: 280); None = same

    def measure(self, text: str) -> int:
        """The length of `text` as the platform counts it."""
        if self.length_of is None:
            return len(text)
        import importlib

        module_name, _, function = self.length_of.partition(":")
        return int(getattr(importlib.import_module(module_name), function)(text))


PLATFORMS: dict[str, PlatformInfo] = {
    "telegram": PlatformInfo("telegram", "Telegram", "connectors.telegram.connector:TelegramConnector", 4096),
    # DMs allow 10,000 characters; public replies 280 weighted ones
    # (https://docs.x.com/resources/fundamentals/counting-characters).
    "x": PlatformInfo("x", "X", "connectors.x.connector:XConnector", 10_000,
                      reply_modes=("public", "private", "move_to_dm"),
                      length_of="connectors.x.text:weighted_length", public_reply_length=280),
}


def platform_info(slug: str) -> PlatformInfo:
    """The registry entry for `slug`; raises KeyError for unknown platforms."""
    return PLATFORMS[slug]


def connector_class(slug: str) -> type:
    """Import and return the connector class registered for `slug`."""
    import importlib

    module_name, _, class_name = platform_info(slug).connector.partition(":")
    return getattr(importlib.import_module(module_name), class_name)
