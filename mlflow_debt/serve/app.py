"""The HTTP app (Starlette and uvicorn, both installed by MLflow's own server).

``POST /webhook`` answers within milliseconds: the body is read up to ``max_body`` bytes (413
past it, before anything else) and within ``body_timeout`` seconds (408 after), then
:meth:`Service.accept` verifies and enqueues; the enforcement runs on the service's worker.
``GET /healthz`` (200 while the worker lives, else 503) and ``GET /status`` (counters, JSON).

Hostile clients: a connection that has not sent a request's headers within ``header_timeout``
seconds of connecting (or of its previous answer) is closed (slow-loris), and uvicorn's own log
lines become JSON lines like every other (no tracebacks on stderr).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlflow_debt.errors import InputError
from mlflow_debt.serve.service import Service

#: Largest accepted delivery body. MLflow's payloads are a few hundred bytes (tags included).
MAX_BODY = 1024 * 1024
#: Seconds a connection gets to send a request's headers (from connecting, or from the previous
#: answer on a kept-alive connection), and a request its body. The user can change them.
HEADER_TIMEOUT_ENV = "MLFLOW_DEBT_SERVE_HEADER_TIMEOUT"
BODY_TIMEOUT_ENV = "MLFLOW_DEBT_SERVE_BODY_TIMEOUT"
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 10.0


def timeout_setting(name: str, default: float) -> float:
    """Seconds from the environment variable ``name``; :class:`InputError` (exit 2) when bad."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise InputError(f"{name} must be a number of seconds from 0 to 3600, not {raw!r}")
    return value


class _BodyTooLarge(Exception):
    pass


#: An oversized body is read and dropped up to this many times the limit before the 413.
DRAIN_FACTOR = 16


async def read_body(request: Request, max_body: int) -> bytes:
    """The request's body, at most ``max_body`` bytes; :class:`_BodyTooLarge` past that."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            # Past the limit nothing is kept, but the rest is read (up to DRAIN_FACTOR times
            # the limit, within the body timeout) so that a client still sending reads the
            # 413 instead of a connection reset.
            chunks.clear()
            if size > DRAIN_FACTOR * max_body:
                break
            continue
        chunks.append(chunk)
    if size > max_body:
        raise _BodyTooLarge
    return b"".join(chunks)


def create_app(
    service: Service, max_body: int = MAX_BODY, body_timeout: float = BODY_TIMEOUT
) -> Starlette:
    async def webhook(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body):
            service.reject(413, "body too large")
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            body = await asyncio.wait_for(read_body(request, max_body), body_timeout)
        except _BodyTooLarge:
            service.reject(413, "body too large")
            return JSONResponse({"error": "body too large"}, status_code=413)
        except asyncio.TimeoutError:
            service.reject(408, f"body not received within {body_timeout:g} s")
            return JSONResponse(
                {"error": "request timeout"}, status_code=408, headers={"connection": "close"}
            )
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            status, doc = service.accept(headers, body)
        except Exception as exc:  # noqa: BLE001  one JSON line and a 500, never a traceback
            service.log("delivery.failed", level="error", error=type(exc).__name__)
            return JSONResponse({"error": "internal error"}, status_code=500)
        return JSONResponse(doc, status_code=status)

    async def healthz(request: Request) -> Response:  # noqa: ARG001  Starlette's endpoint signature
        ok = service.healthy()
        return JSONResponse({"status": "ok" if ok else "worker stopped"}, 200 if ok else 503)

    async def status(request: Request) -> Response:  # noqa: ARG001  Starlette's endpoint signature
        return JSONResponse(service.status())

    return Starlette(
        routes=[
            Route("/webhook", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/status", status, methods=["GET"]),
        ]
    )


class _JsonLines(logging.Handler):
    """uvicorn's log records as the service's JSON lines: one line each, no traceback."""

    def __init__(self, service: Service) -> None:
        super().__init__(logging.WARNING)
        self.service = service

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = " ".join(record.getMessage().split())[:300]
            if record.exc_info and record.exc_info[0] is not None:
                message = f"{message} ({record.exc_info[0].__name__})"
            level = "error" if record.levelno >= logging.ERROR else "warning"
            self.service.log("http.server", level=level, detail=message)
        except Exception:  # noqa: BLE001  logging must never break serving
            self.handleError(record)


def _route_uvicorn_logs(service: Service) -> None:
    """uvicorn's loggers, and asyncio's (a failed socket write, a lost task), to JSON lines."""
    handler = _JsonLines(service)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "asyncio"):
        logger = logging.getLogger(name)
        top = name in ("uvicorn", "asyncio")
        logger.handlers = [handler] if top else []
        logger.propagate = not top
        logger.setLevel(logging.WARNING)


def run(service: Service, host: str, port: int, max_body: int = MAX_BODY) -> None:
    """Serve until SIGTERM/SIGINT, then stop the service (waiting for the running enforcement).

    uvicorn stops accepting, finishes in-flight requests and returns; then the worker finishes
    the enforcement it is running (further signals are ignored meanwhile; SIGKILL still works,
    and the prune's record-first audit keeps even that consistent).
    """
    import uvicorn

    from mlflow_debt.serve.connection import protocol

    header_timeout = timeout_setting(HEADER_TIMEOUT_ENV, HEADER_TIMEOUT)
    body_timeout = timeout_setting(BODY_TIMEOUT_ENV, BODY_TIMEOUT)
    _route_uvicorn_logs(service)
    config = uvicorn.Config(
        create_app(service, max_body, body_timeout),
        host=host,
        port=port,
        http=protocol(
            header_timeout,
            lambda: service.reject(
                408, f"request headers not received within {header_timeout:g} s"
            ),
        ),
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    # Bind first: a taken port is an OSError for the command to report, before anything starts.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    port = int(sock.getsockname()[1])

    def on_signal(sig: int, frame: object) -> None:  # noqa: ARG001  a signal handler's signature
        # uvicorn handles the signal while it serves, then restores this handler and raises the
        # signal again: it must not kill the process before the worker has finished.
        server.should_exit = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    service.start()
    service.log("service.started", host=host, port=port)
    try:
        server.run(sockets=[sock])
    finally:
        try:
            service.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
