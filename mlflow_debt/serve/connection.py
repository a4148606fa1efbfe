"""uvicorn's HTTP/1.1 protocol with a deadline for a request's headers (slow-loris).

uvicorn bounds an idle kept-alive connection (``timeout_keep_alive``) but not one that sends its
headers a byte at a time: hundreds of those stay open for ever. :func:`protocol` gives each
connection ``header_timeout`` seconds, from connecting (or from its previous answer), to deliver
a complete request head; then it is closed. The body has its own bound (``serve/app.py``).
Imported only by ``serve`` (it imports uvicorn).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class TimedH11Protocol(H11Protocol):
    """:class:`H11Protocol` closing a connection whose request headers are late."""

    header_timeout: float = 10.0
    #: Called once for each connection closed for being late (no request in flight).
    on_late: Callable[[], None] = staticmethod(lambda: None)
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self._in_flight():
            self._disarm()  # the headers are in: the body has its own timeout

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._in_flight():
            self._arm()  # a kept-alive connection: the next request's headers are due

    def _in_flight(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout, self._late)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self._in_flight():
            return
        self.on_late()
        with contextlib.suppress(h11.LocalProtocolError):
            self.conn.send(h11.ConnectionClosed())
        self.transport.close()


def protocol(header_timeout: float, on_late: Callable[[], None]) -> type[TimedH11Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)``, bound to these settings."""
    return type(
        "TimedH11Protocol",
        (TimedH11Protocol,),
        {"header_timeout": header_timeout, "on_late": staticmethod(on_late)},
    )
