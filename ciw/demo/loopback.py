"""A threaded loopback HTTP server with fault injection: the base of the demo source APIs
(ciw/demo/servers.py) and the demo channel receivers (ciw/demo/receivers.py)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def send_json(
    handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict | None = None
) -> None:
    """Answer ``handler``'s request with ``status`` and ``body`` as JSON; a client that gave up
    (its time-out) closes the connection instead of failing the server thread."""
    data = json.dumps(body).encode()
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True


@dataclass
class Fault:
    """The next ``times`` requests under ``path_prefix`` (after ``skip`` good ones) fail with
    ``status`` (0 drops the connection), answer after ``delay`` seconds, or, with ``partial``,
    have part of their batch rejected."""

    path_prefix: str
    status: int
    times: int
    retry_after: int | None
    delay: float
    skip: int
    partial: bool = False


class LoopbackServer:
    """Start / stop a ThreadingHTTPServer in a daemon thread; inject and take faults."""

    thread_name = "loopback-server"

    def __init__(self, host: str, port: int) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    def _handler_class(self):  # pragma: no cover - provided by subclasses
        raise NotImplementedError

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},  # quick stop()
                name=self.thread_name,
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject_fault(
        self,
        path_prefix: str,
        status: int = 500,
        times: int = 1,
        retry_after: int | None = None,
        delay: float = 0.0,
        after_requests: int = 0,
        partial: bool = False,
    ) -> None:
        """The next ``times`` matching requests (after ``after_requests`` good ones) fail with
        ``status``; ``status=0`` drops the connection; ``delay`` answers late."""
        with self._lock:
            self._faults.append(
                Fault(path_prefix, status, times, retry_after, delay, after_requests, partial)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if not path.startswith(fault.path_prefix) or fault.times <= 0:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                fault.times -= 1
                return fault
        return None
