"""A tiny Qt-free signal for core objects.

Core objects (signaling client, audio engine, monitor…) expose ``Signal`` attributes. The
windows connect their own methods to them directly, with no Qt bridge: under qasync the
asyncio loop runs on Qt's thread, so a handler may touch widgets. Handlers run
synchronously in the emitter's thread, so a core object emits only from its asyncio loop
thread (never from an audio callback).

Not PySide6's ``Signal``, nor ``protocol.messages.PeerSignal``/``RelayedSignal`` (WebRTC
negotiation relayed by the server).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")
_log = logging.getLogger(__name__)


class Signal(Generic[P]):
    """A list of handlers called in order on ``emit``; one failing handler does not stop the rest."""

    def __init__(self) -> None:
        self._handlers: list[Callable[P, object]] = []

    def connect(self, handler: Callable[P, object]) -> Callable[[], None]:
        """Add ``handler``; returns a function that disconnects it again."""
        self._handlers.append(handler)

        def disconnect() -> None:
            if handler in self._handlers:
                self._handlers.remove(handler)

        return disconnect

    def emit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for handler in list(self._handlers):
            try:
                handler(*args, **kwargs)
            except Exception:
                # A broken observer (often UI) must never take the core down with it.
                _log.exception("signal handler %r failed", handler)

    def disconnect_all(self) -> None:
        self._handlers.clear()

    def __len__(self) -> int:
        return len(self._handlers)
