"""Run a page's coroutine inside its browser session: on the session's next tick, with its document current."""
from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any

from bokeh.document import Document
from panel.io.state import set_curdoc

logger = logging.getLogger(__name__)

_closed: weakref.WeakSet[Document] = weakref.WeakSet()


def run_in_session(doc: Document | None, work: Callable[[], Awaitable[object]],
                   on_error: Callable[[Exception], None]) -> None:
    """Schedule `work`; an exception goes to `on_error` (which logs and tells the user), never to Bokeh."""
    if doc is not None and doc in _closed:
        return  # the browser went away: nothing is left to update

    async def run() -> None:
        if doc is not None and doc in _closed:
            return
        with set_curdoc(doc) if doc is not None else nullcontext():
            try:
                await work()
            except Exception as err:  # a page must survive whatever one command does
                on_error(err)

    if doc is not None and doc.session_context is not None:
        doc.add_next_tick_callback(run)
    else:
        _keep(asyncio.ensure_future(run()))


_running: set[asyncio.Future[Any]] = set()


def _keep(task: asyncio.Future[Any]) -> None:
    # The loop holds tasks weakly: keep each one until it ends, so none is collected mid-run.
    _running.add(task)
    task.add_done_callback(_running.discard)


def guard_websocket_writes() -> None:
    """Have every console websocket write report its own failure, once, instead of leaking it to asyncio.

    Panel sends a patch as tornado write tasks and awaits them in a later task. When the browser leaves
    while a page is still drawing (going from /dashboard to /canned mid-render), tornado fails those
    writes with WebSocketClosedError and Panel can drop them unread: asyncio then logs "Task exception
    was never retrieved" with a traceback. A browser leaving is normal; the write's outcome is read here
    (a closed socket at debug level, anything else as a warning), and Panel still awaits it as before.
    """
    from tornado.websocket import WebSocketProtocol13

    original = WebSocketProtocol13.write_message
    if getattr(original, "_sc_guarded", False):
        return

    def write_message(self: Any, message: Any, binary: bool = False) -> Any:
        future = original(self, message, binary)
        if isinstance(future, asyncio.Future):
            future.add_done_callback(_read_outcome)
        return future

    write_message._sc_guarded = True  # type: ignore[attr-defined]
    WebSocketProtocol13.write_message = write_message  # type: ignore[method-assign]


def close_session(doc: Document | None) -> None:
    """The session ended: start no more work for it (what is queued for its next tick is skipped)."""
    if doc is not None:
        _closed.add(doc)


def _read_outcome(future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        return
    from tornado.iostream import StreamClosedError
    from tornado.websocket import WebSocketClosedError

    error = future.exception()  # reading it is what ends the "never retrieved" complaint
    if isinstance(error, (WebSocketClosedError, StreamClosedError)):
        logger.debug("a write to a console session whose browser left failed: %r", error)
    elif error is not None:
        logger.warning("a write to a console session failed: %r", error)


guard_websocket_writes()
