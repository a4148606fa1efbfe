"""Bounded memory for the receiver: delivery ids seen, and models waiting for enforcement (pure).

:class:`Seen` remembers delivery ids only as long as a delivery can be valid (the timestamp
window) and at most ``capacity`` of them. :class:`Coalescer` keeps at most one pending entry per
model: a burst of events for one model becomes one enforcement, started once the model has been
quiet for ``settle`` seconds (or ``max_wait`` after its first event, for a model that never goes
quiet). A model being enforced is not handed out again until :meth:`Coalescer.finish`; events
that arrive meanwhile make it pending once more, so nothing registered during an enforcement is
missed. Past ``max_models`` pending models, new ones are dropped and :attr:`Coalescer.overflowed`
is set: the service then reconciles every model instead.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


class Seen:
    """Delivery ids of the last ``ttl`` seconds, at most ``capacity`` (oldest forgotten first)."""

    def __init__(self, ttl: float, capacity: int = 100_000) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._ids: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, delivery_id: str, now: float) -> bool:
        """Remember ``delivery_id``; False when it was already seen (a duplicate)."""
        with self._lock:
            while self._ids:
                oldest, at = next(iter(self._ids.items()))
                if now - at <= self.ttl and len(self._ids) < self.capacity:
                    break
                del self._ids[oldest]
            if delivery_id in self._ids:
                return False
            self._ids[delivery_id] = now
            return True

    def __len__(self) -> int:
        return len(self._ids)


@dataclass
class _Pending:
    first: float
    last: float
    events: int


class Coalescer:
    """Models waiting for enforcement, one entry each; thread-safe, with a blocking :meth:`take`."""

    def __init__(self, settle: float, max_wait: float, max_models: int = 10_000) -> None:
        self.settle = settle
        self.max_wait = max(max_wait, settle)
        self.max_models = max_models
        self.overflowed = False
        self._pending: dict[str, _Pending] = {}
        self._running: set[str] = set()
        self._cond = threading.Condition()
        self._closed = False

    def add(self, model: str, now: float, *, settle: bool = True) -> bool:
        """Ask for an enforcement of ``model``; False when dropped (too many pending models).

        ``settle=False`` (reconcile) makes it due at once.
        """
        with self._cond:
            p = self._pending.get(model)
            if p is None:
                if len(self._pending) >= self.max_models:
                    self.overflowed = True
                    return False
                start = now if settle else now - self.max_wait
                self._pending[model] = _Pending(start, start, 1)
            else:
                p.last = now if settle else min(p.last, now - self.settle)
                p.events += 1
            self._cond.notify_all()
            return True

    def _due(self, p: _Pending) -> float:
        return min(p.last + self.settle, p.first + self.max_wait)

    def poll(self, now: float) -> tuple[str | None, float | None]:
        """(a due model, now running) or (None, seconds until the next is due; None: none)."""
        with self._cond:
            return self._poll(now)

    def _poll(self, now: float) -> tuple[str | None, float | None]:
        best: tuple[float, str] | None = None
        for model, p in self._pending.items():
            if model in self._running:
                continue
            due = self._due(p)
            if best is None or due < best[0]:
                best = (due, model)
        if best is None:
            return None, None
        if best[0] <= now:
            del self._pending[best[1]]
            self._running.add(best[1])
            return best[1], None
        return None, best[0] - now

    def take(
        self, clock: Callable[[], float] = time.monotonic, timeout: float | None = None
    ) -> str | None:
        """Block until a model is due (returned, now running), :meth:`close`, or ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                model, wait = self._poll(clock())
                if model is not None:
                    return model
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)
            return None

    def finish(self, model: str) -> None:
        with self._cond:
            self._running.discard(model)
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every :meth:`take`; none hands out a model again."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def running(self) -> int:
        with self._cond:
            return len(self._running)
