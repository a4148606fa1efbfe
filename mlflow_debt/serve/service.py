"""The receiver's lifecycle: accept deliveries, coalesce, enforce on one worker, reconcile.

Request threads only verify, de-duplicate and enqueue (:meth:`Service.accept`: no I/O); one
worker thread runs enforcements one at a time, each retried with backoff on a server error and
then left to the next reconcile. The reconcile (at start, then every ``reconcile_every``
seconds) enqueues every model with a policy, because a delivery can be lost.

Two more jobs ride on the same worker, both optional: a version named by a
``model_version.created`` delivery gets its source's feature tags (``tag_version``) before its
model is enforced, and after the enforcements (the model enforced, or every model when several
were, once no model is pending: a burst is annotated once) and after each reconcile (every
model) the report's findings are written onto the registry (``annotate``,
``mlflow_debt.findings``; off with ``serve --no-annotate``). Their failures are logged, never
retried: the next event or reconcile tries again.

Shutdown (:meth:`Service.stop`): no new enforcement starts; the one running finishes (a prune
records every deletion before making it, so even a kill mid-way leaves a consistent audit that
the next reconcile completes); pending models are abandoned to the next start's reconcile.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from mlflow_debt.serve import verify
from mlflow_debt.serve.queue import Coalescer, Seen

#: Versions remembered per model between enforcements, and models with such versions: beyond,
#: new versions are left to ``mlflow-debt backfill`` (the pending queue is bounded the same way).
MAX_NEW_VERSIONS = 1_000
MAX_MODELS_WITH_NEW_VERSIONS = 10_000


class Log:
    """Structured log lines: one JSON object per line (``ts``, ``level``, ``event``, fields)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        doc = {
            "ts": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": level,
            "event": event,
            **fields,
        }
        line = json.dumps(doc, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


@dataclass
class Stats:
    accepted: int = 0
    rejected: int = 0
    duplicate: int = 0
    ignored: int = 0
    enforcements: int = 0
    enforcement_failures: int = 0
    #: Models looked at but not enforced: no policy, gone, or a policy that cannot apply.
    left_alone: int = 0
    versions_deleted: int = 0
    #: Versions given their source's feature tags; findings tags written or removed.
    versions_tagged: int = 0
    annotations: int = 0
    reconciles: int = 0
    last_error: str | None = None
    last_error_at: str | None = None
    rejected_by_status: dict[str, int] = field(default_factory=dict)


@dataclass
class Settings:
    secret: str | None
    settle: float = 1.0
    max_wait: float = 10.0
    reconcile_every: float = 3600.0
    #: Attempts per enforcement on a server error, and the first backoff (doubled each time).
    attempts: int = 4
    backoff: float = 1.0
    max_age: int = verify.MAX_AGE


class Service:
    """Deliveries in, enforcements out. ``enforce(model)`` and ``reconcile_models()`` do the I/O
    (:mod:`mlflow_debt.serve.enforce` bound to a client), so this class is testable without it."""

    def __init__(
        self,
        settings: Settings,
        enforce: Callable[[str], Any],
        reconcile_models: Callable[[], list[str]],
        log: Log | None = None,
        clock: Callable[[], float] = time.time,
        tag_version: Callable[[str, str], Any] | None = None,
        annotate: Callable[[str | None], Any] | None = None,
    ) -> None:
        self.settings = settings
        self._enforce = enforce
        self._reconcile_models = reconcile_models
        self._tag_version = tag_version
        self._annotate = annotate
        #: model -> versions created since its last enforcement (bounded like the queue).
        self._new_versions: dict[str, set[str]] = {}
        self._annotate_lock = threading.Lock()
        #: Models enforced since the last annotation (annotated once the queue is quiet).
        self._to_annotate: dict[str, None] = {}
        self.log = log or Log()
        self.clock = clock
        self.stats = Stats()
        self._lock = threading.Lock()
        self.seen = Seen(ttl=2 * settings.max_age + 60)
        self.queue = Coalescer(settings.settle, settings.max_wait)
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._timer: threading.Thread | None = None
        self.current: str | None = None

    # ---- request path (no I/O) --------------------------------------------------------------

    def accept(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one delivery. ``headers`` keys lower-case."""
        now = self.clock()
        try:
            delivery_id = verify.verify(
                headers, body, self.settings.secret, now, self.settings.max_age
            )
            event = verify.parse(body)
        except verify.Rejected as exc:
            self.reject(exc.status, exc.reason)
            # No detail to the sender: a forger learns nothing from the answer.
            return exc.status, {"error": "unauthorized" if exc.status == 401 else "bad request"}
        if not self.seen.add(delivery_id, now):
            self._count("duplicate")
            self.log("delivery.duplicate", delivery_id=delivery_id)
            return 200, {"status": "duplicate", "verified": True}
        if not event.enforce or event.model is None:
            self._count("ignored")
            self.log("delivery.ignored", delivery_id=delivery_id, webhook_event=event.name)
            return 200, {"status": "ignored", "verified": True}
        self._count("accepted")
        if event.version is not None and self._tag_version is not None:
            with self._lock:
                if len(self._new_versions) < MAX_MODELS_WITH_NEW_VERSIONS:
                    versions = self._new_versions.setdefault(event.model, set())
                    if len(versions) < MAX_NEW_VERSIONS:
                        versions.add(event.version)
        queued = self.queue.add(event.model, time.monotonic())
        self.log(
            "delivery.accepted",
            delivery_id=delivery_id,
            webhook_event=event.name,
            model=event.model,
            queued=queued,
        )
        return 202, {"status": "accepted", "verified": True}

    def reject(self, status: int, reason: str) -> None:
        with self._lock:
            self.stats.rejected += 1
            key = str(status)
            self.stats.rejected_by_status[key] = self.stats.rejected_by_status.get(key, 0) + 1
        self.log("delivery.rejected", level="warning", status=status, reason=reason)

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    def status(self) -> dict[str, Any]:
        with self._lock:
            doc: dict[str, Any] = {
                "deliveries": {
                    "accepted": self.stats.accepted,
                    "rejected": self.stats.rejected,
                    "duplicate": self.stats.duplicate,
                    "ignored": self.stats.ignored,
                    "rejected_by_status": dict(self.stats.rejected_by_status),
                },
                "enforcements": self.stats.enforcements,
                "enforcement_failures": self.stats.enforcement_failures,
                "left_alone": self.stats.left_alone,
                "versions_deleted": self.stats.versions_deleted,
                "versions_tagged": self.stats.versions_tagged,
                "annotations": self.stats.annotations,
                "reconciles": self.stats.reconciles,
                "last_error": self.stats.last_error,
                "last_error_at": self.stats.last_error_at,
            }
        doc["pending_models"] = self.queue.pending()
        doc["enforcing"] = self.current
        doc["stopping"] = self._stopping.is_set()
        return doc

    def healthy(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    # ---- worker -----------------------------------------------------------------------------

    def start(self) -> None:
        self._worker = threading.Thread(target=self._work, name="mlflow-debt-enforce")
        self._worker.start()
        if self.settings.reconcile_every > 0:
            self._timer = threading.Thread(
                target=self._reconcile_loop, name="mlflow-debt-reconcile", daemon=True
            )
            self._timer.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Start nothing new; wait for the running enforcement. True when it finished."""
        self._stopping.set()
        self.queue.close()
        if self._worker is not None:
            self._worker.join(timeout)
            alive = self._worker.is_alive()
        else:
            alive = False
        self.log(
            "service.stopped",
            abandoned_models=self.queue.pending(),
            finished=not alive,
        )
        return not alive

    def reconcile(self) -> int:
        """Enqueue every model with a policy, due at once; returns how many."""
        try:
            names = self._reconcile_models()
        except Exception as exc:  # noqa: BLE001  the daemon outlives one failed reconcile: logged
            message = " ".join(str(exc).split())[:500]
            self.log("reconcile.failed", level="error", error=message)
            self._error(f"reconcile: {message}")
            return 0
        now = time.monotonic()
        for name in names:
            self.queue.add(name, now, settle=False)
        self.queue.overflowed = False
        self._count("reconciles")
        self.log("reconcile.queued", models=len(names))
        self.annotate(None)
        return len(names)

    def annotate(self, model: str | None) -> None:
        """Write the findings of ``model`` (None: every model) onto the registry; logged."""
        if self._annotate is None:
            return
        started = time.monotonic()
        with self._annotate_lock:
            try:
                done = self._annotate(model)
            except Exception as exc:  # noqa: BLE001  the daemon outlives one failed annotation
                message = " ".join(str(exc).split())[:500]
                self.log("annotate.failed", level="warning", model=model, error=message)
                self._error(f"annotating: {message}")
                return
        changed = int(getattr(done, "written", 0)) + int(getattr(done, "removed", 0))
        self._count("annotations", changed)
        self.log(
            "annotate.done",
            model=model,
            written=getattr(done, "written", 0),
            removed=getattr(done, "removed", 0),
            seconds=round(time.monotonic() - started, 3),
        )

    def _tag_new_versions(self, model: str) -> None:
        """Copy each new version's source features onto it (before its model is pruned)."""
        with self._lock:
            versions = self._new_versions.pop(model, set())
        if self._tag_version is None:
            return
        for version in sorted(versions, key=int):
            try:
                done = self._tag_version(model, version)
            except Exception as exc:  # noqa: BLE001  logged; backfill or the next event tags it
                message = " ".join(str(exc).split())[:500]
                self.log(
                    "version.tag_failed",
                    level="warning",
                    model=model,
                    version=version,
                    error=message,
                )
                self._error(f'tagging "{model}" version {version}: {message}')
                continue
            status = getattr(done, "status", None)
            if status == "tagged":
                self._count("versions_tagged")
            self.log(
                "version.tagged" if status == "tagged" else "version.checked",
                model=model,
                version=version,
                status=status,
                source=getattr(done, "source", None),
                written=getattr(done, "written", 0),
            )

    def _reconcile_loop(self) -> None:
        every = self.settings.reconcile_every
        self.reconcile()
        while not self._stopping.wait(every):
            self.reconcile()

    def _work(self) -> None:
        while not self._stopping.is_set():
            if self.queue.overflowed:
                self.reconcile()
            if self._to_annotate and self.queue.pending() == 0:
                # Quiet: annotate what was enforced. Never in the middle of a burst, so its
                # enforcements still coalesce (one report read for the whole burst).
                models, self._to_annotate = list(self._to_annotate), {}
                self.annotate(models[0] if len(models) == 1 else None)
                continue
            model = self.queue.take(time.monotonic, timeout=0.5 if self._to_annotate else None)
            if model is None:
                continue
            self.current = model
            try:
                self._tag_new_versions(model)
                if self._run(model) and self._annotate is not None:
                    self._to_annotate[model] = None
            finally:
                self.current = None
                self.queue.finish(model)

    def _run(self, model: str) -> bool:
        """Enforce ``model`` (with retries); True when it was looked at (enforced or not)."""
        delay = self.settings.backoff
        for attempt in range(1, self.settings.attempts + 1):
            started = time.monotonic()
            try:
                outcome = self._enforce(model)
            except Exception as exc:  # noqa: BLE001  the daemon outlives one failed model: logged, retried
                message = " ".join(str(exc).split())[:500]
                last = attempt == self.settings.attempts or self._stopping.is_set()
                self.log(
                    "enforce.failed",
                    level="error" if last else "warning",
                    model=model,
                    attempt=attempt,
                    error=message,
                    retry_in=None if last else delay,
                )
                if last:
                    self._count("enforcement_failures")
                    self._error(f'enforcing "{model}": {message}')
                    return False  # left to the next reconcile
                if self._stopping.wait(delay):
                    return False
                delay *= 2
                continue
            status = getattr(outcome, "status", None)
            self._count("enforcements" if status == "enforced" else "left_alone")
            deleted = int(getattr(outcome, "deleted", 0))
            if deleted:
                self._count("versions_deleted", deleted)
            self.log(
                "enforce.done",
                model=model,
                status=status,
                deleted=deleted,
                skipped=getattr(outcome, "skipped", 0),
                vanished=getattr(outcome, "vanished", 0),
                prune_id=getattr(outcome, "prune_id", None),
                detail=getattr(outcome, "detail", "") or None,
                seconds=round(time.monotonic() - started, 3),
            )
            return status != "missing"
        return False

    def _error(self, message: str) -> None:
        with self._lock:
            self.stats.last_error = message
            self.stats.last_error_at = _dt.datetime.now(_dt.timezone.utc).isoformat(
                timespec="seconds"
            )
