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


PLATFORMS: dict[str, PlatformInfo] = {
    "telegram": PlatformInfo("telegram", "Telegram", "connectors.telegram.connector:TelegramConnector", 4096),
}


def platform_info(slug: str) -> PlatformInfo:
    """The registry entry for `slug`; raises KeyError for unknown platforms."""
    return PLATFORMS[slug]


def connector_class(slug: str) -> type:
    """Import and return the connector class registered for `slug`."""
    import importlib

    module_name, _, class_name = platform_info(slug).connector.partition(":")
    return getattr(importlib.import_module(module_name), class_name)
