"""Local demo REST APIs for the helpdesk and the email service provider (loopback only).

Paginated, bearer-token protected, with ``updated_since`` / ``since`` cursors, and a fault
injector (HTTP errors, 429 with Retry-After, slow answers, dropped connections) for tests.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime as dt
import json
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ciw.demo.loopback import LoopbackServer, send_json

KINDS = {
    # kind: (file, id field, cursor field)
    "tickets": ("helpdesk/tickets.json", "ticket_id", "updated_at"),
    "contacts": ("esp/contacts.json", "contact_id", "updated_at"),
    "events": ("esp/events.json", "event_id", "occurred_at"),
}


MIN_TS = dt.datetime.min.replace(tzinfo=dt.UTC)
MAX_PAGE_SIZE = 10_000


class BadRequest(ValueError):
    """A query parameter the API cannot use (answered with HTTP 400)."""


def _parse_ts(value: Any, strict: bool = False) -> dt.datetime:
    text = str(value).strip().replace("Z", "+00:00").replace(" ", "T", 1)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        if strict:
            raise BadRequest(f"not an ISO timestamp: {value!r}") from None
        return MIN_TS
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _int_param(query: dict[str, list[str]], name: str, default: int, minimum: int) -> int:
    raw = query.get(name, [None])[0]
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise BadRequest(f"{name} must be at least {minimum}")
    return value


class DemoApiServer(LoopbackServer):
    """Threaded HTTP server serving the demo data of ``data_dir``."""

    thread_name = "demo-api"

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "demo-token",
        page_size: int = 100,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.token = token
        self.page_size = page_size
        self._records: dict[str, dict[str, dict]] = {}
        for kind, (rel, id_field, _) in KINDS.items():
            path = self.data_dir / rel
            rows = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
            store: dict[str, dict] = {}
            for index, row in enumerate(rows):
                key = row.get(id_field)
                store[f"{key}" if key is not None else f"__noid_{index}"] = row
            self._records[kind] = store
        self._sorted: dict[str, tuple[list[dict], list[dt.datetime]]] = {}
        self.request_log: list[tuple[str, str, int]] = []
        super().__init__(host, port)

    def upsert(self, kind: str, records: list[dict]) -> None:
        """Replace records by id (``ticket_id`` / ``contact_id`` / ``event_id``) or add them."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
        _, id_field, _ = KINDS[kind]
        with self._lock:
            store = self._records[kind]
            for row in records:
                key = row.get(id_field)
                store[str(key) if key is not None else f"__noid_{len(store)}_{id(row)}"] = row
            self._sorted.pop(kind, None)

    # ------------------------------------------------------------------ serving
    def _log(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.request_log.append((method, path, status))

    def _page(self, kind: str, query: dict[str, list[str]]) -> tuple[list, int, int]:
        """(all rows in cursor order, index of the first row after the cursor, rows after it).
        The rows are not sliced here: copying the tail for every page made a full read
        quadratic (minutes per page at millions of events)."""
        _, id_field, cursor_field = KINDS[kind]
        since_name = "since" if kind == "events" else "updated_since"
        since = query.get(since_name, [None])[0]
        since_ts = _parse_ts(since, strict=True) if since else None
        with self._lock:
            cached = self._sorted.get(kind)
            if cached is None:
                ordered = sorted(
                    self._records[kind].values(),
                    key=lambda r: (_parse_ts(r.get(cursor_field)), str(r.get(id_field))),
                )
                cached = (ordered, [_parse_ts(r.get(cursor_field)) for r in ordered])
                self._sorted[kind] = cached
        rows, keys = cached
        start = bisect.bisect_left(keys, since_ts) if since_ts is not None else 0
        return rows, start, len(rows) - start

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                return

            def _send(self, status: int, body: Any, headers: dict | None = None) -> None:
                server._log(self.command, self.path, status)
                send_json(self, status, body, headers)

            def _drop(self) -> None:
                server._log(self.command, self.path, 0)
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.connection.close()

            def do_GET(self) -> None:  # noqa: N802
                try:
                    self._get()
                except BadRequest as exc:
                    self._send(400, {"error": str(exc)})

            def _get(self) -> None:
                parts = urlsplit(self.path)
                fault = server._take_fault(parts.path)
                if fault is not None:
                    if fault.delay:
                        time.sleep(fault.delay)
                    if fault.status == 0:
                        self._drop()
                        return
                    if fault.status != 200:
                        headers = (
                            {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
                        )
                        self._send(fault.status, {"error": "injected fault"}, headers)
                        return
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._send(401, {"error": "missing or invalid bearer token"})
                    return
                query = parse_qs(parts.query)
                base = f"{server.url}{parts.path}"
                if parts.path.rstrip("/") == "/helpdesk/api/v2/tickets":
                    rows, start, total = server._page("tickets", query)
                    page = _int_param(query, "page", 1, 1)
                    size = min(_int_param(query, "per_page", server.page_size, 1), MAX_PAGE_SIZE)
                    first = start + (page - 1) * size
                    chunk = rows[first : first + size]
                    next_page = None
                    if page * size < total:
                        params = {k: v[0] for k, v in query.items()}
                        params["page"] = str(page + 1)
                        next_page = f"{base}?{urlencode(params)}"
                    self._send(
                        200,
                        {"tickets": chunk, "page": page, "next_page": next_page, "count": total},
                    )
                    return
                for kind in ("contacts", "events"):
                    if parts.path.rstrip("/") == f"/esp/v1/{kind}":
                        rows, start, total = server._page(kind, query)
                        offset = _int_param(query, "cursor", 0, 0)
                        size = min(_int_param(query, "limit", server.page_size, 1), MAX_PAGE_SIZE)
                        first = start + offset
                        chunk = rows[first : first + size]
                        nxt = str(offset + size) if offset + size < total else None
                        self._send(200, {"data": chunk, "next_cursor": nxt})
                        return
                self._send(404, {"error": f"no such endpoint {parts.path}"})

        return Handler


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - manual use
    """``python -m ciw.demo.servers --data DIR --port 8765``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(description="serve the demo helpdesk and ESP APIs")
    parser.add_argument("--data", default=".warehouse/demo", help="generated demo data folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args(argv)
    server = DemoApiServer(
        Path(args.data),
        host=args.host,
        port=args.port,
        token=args.token,
        page_size=args.page_size,
    )
    with server:
        sys.stderr.write(f"serving the demo helpdesk and ESP APIs on {server.url} (Ctrl-C stops)\n")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
