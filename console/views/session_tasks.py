"""Run a page's coroutine inside its browser session: on the session's next tick, with its document current."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import nullcontext

from bokeh.document import Document
from panel.io.state import set_curdoc


def run_in_session(doc: Document | None, work: Callable[[], Awaitable[object]],
                   on_error: Callable[[Exception], None]) -> None:
    """Schedule `work`; an exception goes to `on_error` (which logs and tells the user), never to Bokeh."""
    async def run() -> None:
        with set_curdoc(doc) if doc is not None else nullcontext():
            try:
                await work()
            except Exception as err:  # a page must survive whatever one command does
                on_error(err)

    if doc is not None and doc.session_context is not None:
        doc.add_next_tick_callback(run)
    else:
        asyncio.ensure_future(run())
