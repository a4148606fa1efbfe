"""The HTTP app (Starlette and uvicorn, both installed by MLflow's own server).

``POST /webhook`` answers within milliseconds: the body is read up to ``max_body`` bytes (413
past it, before anything else), then :meth:`Service.accept` verifies and enqueues; the
enforcement runs on the service's worker. ``GET /healthz`` (200 while the worker lives, else
503) and ``GET /status`` (counters, JSON).
"""

from __future__ import annotations

import signal
import socket

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mlflow_debt.serve.service import Service

#: Largest accepted delivery body. MLflow's payloads are a few hundred bytes (tags included).
MAX_BODY = 1024 * 1024


def create_app(service: Service, max_body: int = MAX_BODY) -> Starlette:
    async def webhook(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_body):
            service.reject(413, "body too large")
            return JSONResponse({"error": "body too large"}, status_code=413)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                service.reject(413, "body too large")
                return JSONResponse({"error": "body too large"}, status_code=413)
            chunks.append(chunk)
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, doc = service.accept(headers, b"".join(chunks))
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


def run(service: Service, host: str, port: int, max_body: int = MAX_BODY) -> None:
    """Serve until SIGTERM/SIGINT, then stop the service (waiting for the running enforcement).

    uvicorn stops accepting, finishes in-flight requests and returns; then the worker finishes
    the enforcement it is running (further signals are ignored meanwhile; SIGKILL still works,
    and the prune's record-first audit keeps even that consistent).
    """
    import uvicorn

    config = uvicorn.Config(
        create_app(service, max_body),
        host=host,
        port=port,
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
