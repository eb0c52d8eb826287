"""Telegram connector: Bot API updates in (webhook or our own getUpdates loop), replies out via python-telegram-bot."""
from __future__ import annotations

from connectors.telegram.connector import TelegramConfigError, TelegramConnector, TelegramSettings

__all__ = ["TelegramConfigError", "TelegramConnector", "TelegramSettings"]
