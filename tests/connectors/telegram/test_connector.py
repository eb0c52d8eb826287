"""The Telegram connector's lifecycle against the sandbox: no secret reaches any log, at any level."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import unused_port

from connectors.telegram.connector import TelegramConnector
from connectors.telegram.sandbox import TelegramSandbox
from tests.connectors.telegram.helpers import CHANNEL, Store, open_store

TOKEN = "123456789:SANDBOX-secret-bot-token"
SECRET = "webhook-SECRET_never-logged-42"


class _Everything(logging.Handler):
    """Keeps every record with its message, arguments and traceback rendered."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        rendered = record.getMessage()
        if record.exc_info:
            rendered += record.exc_text or logging.Formatter().formatException(record.exc_info)
        self.texts.append((record.name, f"{rendered} {record.args!r} {record.__dict__!r}"))


@pytest.fixture
def all_logs() -> Iterator[_Everything]:
    """Every logger of the process at DEBUG, captured by one handler on the root."""
    handler = _Everything()
    root = logging.getLogger()
    saved = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
             if isinstance(logger, logging.Logger)}
    saved_root = root.level
    for name in saved:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
async def store(tmp_path: Any) -> AsyncIterator[Store]:
    store = await open_store(tmp_path)
    yield store
    await store.db.dispose()


async def test_no_secret_in_any_log_while_registering_the_webhook(all_logs: _Everything, store: Store) -> None:
    async with TelegramSandbox(TOKEN) as sandbox:
        connector = TelegramConnector.from_config(
            CHANNEL,
            {"token": TOKEN, "mode": "webhook", "secret_token": SECRET,
             "public_url": f"http://127.0.0.1:{unused_port()}/", "api_base_url": sandbox.base_url},
            ingest=store.ingest, cursors=store.cursors,
        )
        await connector.start()
        await connector.stop()
        (set_webhook,) = [c for c in sandbox.requests if c.method == "setWebhook"]
        assert set_webhook.params["secret_token"] == SECRET  # it did reach Telegram

    token_part = TOKEN.split(":")[1]
    debug_lines = [name for name, _ in all_logs.texts if name.startswith("telegram")]
    assert debug_lines, "python-telegram-bot's DEBUG lines were captured"
    assert [(n, t) for n, t in all_logs.texts if SECRET in t] == []
    assert [(n, t) for n, t in all_logs.texts if token_part in t] == []
    # What the lines still say: which call, with the secret shown as redacted.
    assert any("setWebhook" in t and "<webhook-secret>" in t for _, t in all_logs.texts)
