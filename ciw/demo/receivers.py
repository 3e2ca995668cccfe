"""Local channel receivers for the demo run and the tests (loopback only).

One threaded HTTP server plays every HTTP channel the connectors talk to, the way real
providers behave: it checks the webhook's HMAC signature, de-duplicates on idempotency keys
(a retried request is acknowledged, not delivered twice), accepts part of a batch when some
records are invalid, refuses raw PII on the ad-audience endpoint, and can be told to fail:
HTTP errors, 429 with Retry-After, slow answers (client time-outs) and dropped connections.

Endpoints (JSON bodies):

* ``POST /webhook`` ``{"records": [{"key", "op", "data"}]}``, header ``X-Signature:
  t=<unix time>,n=<nonce>,v1=<hex HMAC-SHA256 of "<t>.<n>.<body>">``, ``Idempotency-Key``
  (batch); answers ``{"accepted": [key...], "rejected": [{"key", "error"}]}``; 401 for a
  missing, bad or stale signature (over SIGNATURE_TOLERANCE_SECONDS), 409 for a replay (a
  nonce seen before).
* ``POST /email/contacts/batch`` ``{"contacts": [{"key", "email", ...}]}``; answers
  ``{"results": [{"key", "status": "ok"|"error", "error"}]}`` (partial success).
* ``POST /sms/messages`` ``{"key", "to", "text"}``, one message per request; 422 for a number
  that is not E.164.
* ``POST /ads/audiences/<name>/members`` ``{"op": "add"|"remove", "members": [{"key",
  "email_sha256", "phone_sha256"}]}``; 400 if anything looks like a raw email or phone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from ciw.demo.loopback import LoopbackServer, send_json
from reverse_etl.connectors import (
    SIGNATURE_HEADER,
    SIGNATURE_TOLERANCE_SECONDS,
    ReplayGuard,
    verify_webhook,
)

E164 = re.compile(r"^\+[1-9]\d{7,14}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Delivery:
    channel: str
    key: str
    op: str
    data: dict


@dataclass
class ReceiverState:
    deliveries: list[Delivery] = field(default_factory=list)
    seen: set[tuple[str, str, str]] = field(default_factory=set)  # (channel, key, op)
    duplicates: Counter = field(default_factory=Counter)  # retried keys acknowledged again
    requests: list[tuple[str, int]] = field(default_factory=list)  # (path, status)


class ChannelReceivers(LoopbackServer):
    """The demo channels on one loopback port."""

    thread_name = "channel-receivers"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        secret: str,
        tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
    ):
        if not secret:
            raise ValueError("the webhook receiver needs a secret")
        self.secret = secret
        self.tolerance = tolerance
        self.replays = ReplayGuard(tolerance)
        self.state = ReceiverState()
        self._local = threading.local()
        super().__init__(host, port)

    def delivered(self, channel: str | None = None, op: str | None = None) -> list[Delivery]:
        with self._lock:
            return [
                d
                for d in self.state.deliveries
                if (channel is None or d.channel == channel) and (op is None or d.op == op)
            ]

    def delivery_counts(self, channel: str | None = None) -> Counter:
        """How many times each key was delivered (exactly once means every count is 1)."""
        return Counter(d.key for d in self.delivered(channel))

    # ------------------------------------------------------------------ internals
    def _deliver(
        self, channel: str, key: str, op: str, data: dict, idempotency_key: str | None = None
    ) -> None:
        """Deliver once per idempotency key (the record key when none is given)."""
        with self._lock:
            marker = (channel, idempotency_key or key, op)
            if marker in self.state.seen:
                self.state.duplicates[key] += 1
                return
            self.state.seen.add(marker)
            self.state.deliveries.append(Delivery(channel, key, op, data))

    def _handle(self, path: str, headers: Any, body: bytes) -> tuple[int, dict, dict]:
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return 400, {"error": "body is not JSON"}, {}
        if path == "/webhook":
            check = verify_webhook(
                self.secret, headers.get(SIGNATURE_HEADER, ""), body, tolerance=self.tolerance
            )
            if not check.ok:
                return 401, {"error": check.error}, {}
            if not self.replays.first_time(check.nonce, check.timestamp):
                return 409, {"error": "replayed request: this signature was used before"}, {}
            return 200, self._batch("webhook", payload.get("records", []), self._webhook_ok), {}
        if path == "/email/contacts/batch":
            results = self._batch("email", payload.get("contacts", []), self._email_ok)
            return 200, {"results": _as_results(results)}, {}
        if path == "/sms/messages":
            key, to = str(payload.get("key", "")), str(payload.get("to", ""))
            if not key:
                return 400, {"error": "key is required"}, {}
            if not E164.match(to):
                return 422, {"error": f"not an E.164 number: {to!r}"}, {}
            self._deliver("sms", key, "send", payload, payload.get("idempotency_key"))
            return 201, {"id": hashlib.sha1(key.encode()).hexdigest()[:12]}, {}
        match = re.fullmatch(r"/ads/audiences/([\w-]+)/members", path)
        if match:
            op = payload.get("op")
            if op not in ("add", "remove"):
                return 400, {"error": "op must be add or remove"}, {}
            for member in payload.get("members", []):
                for name, value in member.items():
                    if name in ("key", "idempotency_key") or value is None:
                        continue
                    if not SHA256_HEX.match(str(value)):
                        return 400, {"error": f"{name} is not a SHA-256 hash: raw PII refused"}, {}
            for member in payload.get("members", []):
                self._deliver(
                    f"ads:{match.group(1)}",
                    str(member["key"]),
                    op,
                    member,
                    member.get("idempotency_key"),
                )
            return 200, {"received": len(payload.get("members", []))}, {}
        return 404, {"error": f"no endpoint {path}"}, {}

    def _batch(self, channel: str, records: list[dict], valid) -> dict:
        accepted, rejected = [], []
        partial = getattr(self._local, "partial", False)
        for index, record in enumerate(records):
            key = str(record.get("key", ""))
            error = valid(record)
            if not error and partial and index % 2 == 1:
                error = "temporarily unavailable (partial batch)"
            if error:
                rejected.append({"key": key, "error": error})
                continue
            self._deliver(
                channel, key, record.get("op", "upsert"), record, record.get("idempotency_key")
            )
            accepted.append(key)
        return {"accepted": accepted, "rejected": rejected}

    @staticmethod
    def _webhook_ok(record: dict) -> str | None:
        if not record.get("key"):
            return "key is required"
        if record.get("op", "upsert") not in ("upsert", "delete"):
            return "op must be upsert or delete"
        return None

    @staticmethod
    def _email_ok(record: dict) -> str | None:
        if not record.get("key"):
            return "key is required"
        if record.get("op", "upsert") == "upsert" and "@" not in str(record.get("email", "")):
            return f"invalid email {record.get('email')!r}"
        return None

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, body: Any, headers: dict | None = None) -> None:
                with server._lock:
                    server.state.requests.append((self.path, status))
                send_json(self, status, body, headers)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = server._take_fault(self.path)
                server._local.partial = False
                if fault is not None:
                    if fault.delay:
                        time.sleep(fault.delay)
                    if fault.partial:
                        server._local.partial = True
                    elif fault.status == 0:
                        with server._lock:
                            server.state.requests.append((self.path, 0))
                        self.close_connection = True
                        with contextlib.suppress(OSError):
                            self.connection.shutdown(socket.SHUT_RDWR)
                        self.connection.close()
                        return
                    elif fault.status:
                        headers = {}
                        if fault.retry_after is not None:
                            headers["Retry-After"] = str(fault.retry_after)
                        self._send(fault.status, {"error": "injected fault"}, headers)
                        return
                status, answer, headers = server._handle(self.path, self.headers, body)
                self._send(status, answer, headers)

        return Handler


def _as_results(batch: dict) -> list[dict]:
    results = [{"key": key, "status": "ok"} for key in batch["accepted"]]
    results += [
        {"key": r["key"], "status": "error", "error": r["error"]} for r in batch["rejected"]
    ]
    return results
