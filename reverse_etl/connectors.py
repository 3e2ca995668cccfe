"""Channel connectors: how a batch of records reaches a destination.

Each connector takes records (key, op, data) and answers one outcome per record, so a batch
that is accepted in part is recorded in part. HTTP connectors share one client that retries
429 (honouring Retry-After), 5xx, time-outs and dropped connections with exponential backoff,
keeps to a per-channel request rate, and sends an ``Idempotency-Key`` with every request so a
retried request is never a second message at the receiver.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests


class ConnectorError(RuntimeError):
    """The destination cannot take the batch (after retries, or a permanent refusal)."""


class ConfigError(ValueError):
    """A sync or connector is configured wrongly (unknown type, missing setting)."""


@dataclass(frozen=True)
class Record:
    key: str  # the business key at the destination (e.g. the audience row's key)
    op: str  # "upsert" or "delete"
    data: dict[str, Any]
    idempotency_key: str = ""  # what the destination de-duplicates on (default: key)

    @property
    def dedupe_key(self) -> str:
        return self.idempotency_key or self.key


@dataclass(frozen=True)
class Outcome:
    key: str
    ok: bool
    error: str | None = None


def batch_key(sync_name: str, records: Sequence[Record]) -> str:
    """Deterministic idempotency key of a batch: the same records give the same key."""
    digest = hashlib.sha256(sync_name.encode())
    for record in sorted(records, key=lambda r: (r.key, r.op)):
        digest.update(f"\x1f{record.dedupe_key}\x1e{record.op}".encode())
    return digest.hexdigest()[:32]


class RateLimiter:
    """At most ``per_second`` requests per second (token bucket, thread-safe)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second and per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


class HttpClient:
    """POST JSON with retries, backoff, Retry-After, time-outs and a rate limit."""

    def __init__(
        self,
        max_retries: int = 5,
        timeout: float = 10.0,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        rate_limit: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.limiter = RateLimiter(rate_limit)
        self.sleep = sleep
        self.session = requests.Session()
        self.retries_done = 0

    def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str] | Callable[[], dict[str, str]],
    ) -> requests.Response:
        """The final response (2xx or a permanent 4xx); raises ConnectorError when retries
        run out. ``headers`` may be a function, called for every attempt (a signature that
        covers the time of sending is made again for a retry)."""
        last_error = ""
        for attempt in range(self.max_retries + 1):
            self.limiter.wait()
            try:
                response = self.session.post(
                    url,
                    data=body,
                    headers={
                        "Content-Type": "application/json",
                        **(headers() if callable(headers) else headers),
                    },
                    timeout=self.timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                wait = self._backoff(attempt)
            else:
                if response.status_code < 400:
                    return response
                if response.status_code == 429 or response.status_code >= 500:
                    last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                    wait = self._retry_after(response) or self._backoff(attempt)
                else:
                    return response  # permanent: the caller turns it into record errors
            if attempt < self.max_retries:
                self.retries_done += 1
                self.sleep(wait)
        raise ConnectorError(f"{url}: gave up after {self.max_retries + 1} attempts ({last_error})")

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff * (2**attempt), self.max_backoff)

    def _retry_after(self, response: requests.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        try:
            return min(float(value), self.max_backoff * 4)
        except ValueError:
            return None


def _json(body: Any) -> bytes:
    return json.dumps(body, default=str, separators=(",", ":")).encode()


def _require(settings: dict, *names: str) -> None:
    missing = [n for n in names if not settings.get(n)]
    if missing:
        raise ConfigError(f"connector {settings.get('type')!r} needs {', '.join(missing)}")


class Connector:
    """Base: ``send(records)`` -> one Outcome per record."""

    type = "base"
    channel = "base"

    def __init__(self, sync_name: str, settings: dict, client: HttpClient | None) -> None:
        self.sync_name = sync_name
        self.settings = settings
        self.client = client

    def send(self, records: Sequence[Record]) -> list[Outcome]:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        return None

    def _post(self, url: str, body: Any, records: Sequence[Record], extra: dict | None = None):
        data = _json(body)
        headers = {"Idempotency-Key": batch_key(self.sync_name, records), **(extra or {})}
        return self.client.post(url, data, headers), data

    @staticmethod
    def _all(records: Sequence[Record], error: str | None) -> list[Outcome]:
        return [Outcome(r.key, error is None, error) for r in records]


SIGNATURE_HEADER = "X-Signature"
# how old (or how far ahead of the receiver's clock) a signed request may be
SIGNATURE_TOLERANCE_SECONDS = 300


def sign_webhook(
    secret: str, body: bytes, timestamp: int | None = None, nonce: str | None = None
) -> str:
    """The ``X-Signature`` of a webhook request: ``t=<unix seconds>,n=<nonce>,v1=<hex>``, where
    hex is the HMAC-SHA256, keyed with the shared secret, of ``<t>.<n>.<body>``. The time lets
    a receiver refuse a stale request; the nonce, new for every attempt, a replayed one."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(16)
    message = f"{timestamp}.{nonce}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},n={nonce},v1={digest}"


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    error: str | None = None
    timestamp: int = 0
    nonce: str = ""


def verify_webhook(
    secret: str,
    header: str,
    body: bytes,
    now: float | None = None,
    tolerance: float = SIGNATURE_TOLERANCE_SECONDS,
) -> SignatureCheck:
    """Check a signature made by sign_webhook: well formed, the HMAC matches (in constant
    time) and its time is within ``tolerance`` seconds of ``now``. A receiver must also
    refuse a nonce it has seen within the tolerance (a replay): ReplayGuard."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, nonce, digest = fields.get("t", ""), fields.get("n", ""), fields.get("v1", "")
    if not (timestamp.isdigit() and nonce and digest):
        return SignatureCheck(False, "missing or malformed signature")
    expected = sign_webhook(secret, body, int(timestamp), nonce).rsplit("v1=", 1)[1]
    if not hmac.compare_digest(digest, expected):
        return SignatureCheck(False, "bad signature")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return SignatureCheck(False, "stale signature: outside the time tolerance")
    return SignatureCheck(True, None, int(timestamp), nonce)


class ReplayGuard:
    """The nonces of the signed requests seen within the time tolerance: a nonce seen again is
    a replay. Older ones are forgotten (their signatures are stale anyway)."""

    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def first_time(self, nonce: str, timestamp: int, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            for old in [n for n, t in self._seen.items() if t < now - 2 * self.tolerance]:
                del self._seen[old]
            if nonce in self._seen:
                return False
            self._seen[nonce] = timestamp
            return True


class WebhookConnector(Connector):
    """Signed JSON webhook: ``X-Signature: t=<time>,n=<nonce>,v1=<HMAC-SHA256>`` over the time,
    the nonce and the body (sign_webhook), made again for every attempt. The secret has no
    default: set it (``${CIW_WEBHOOK_SECRET}`` in syncs.yml)."""

    type = "webhook"
    channel = "webhook"

    def __init__(self, sync_name: str, settings: dict, client: HttpClient | None) -> None:
        super().__init__(sync_name, settings, client)
        _require(settings, "url", "secret")

    def send(self, records: Sequence[Record]) -> list[Outcome]:
        body = {
            "sync": self.sync_name,
            "sent_at": dt.datetime.now(dt.UTC).isoformat(),
            "records": [
                {"key": r.key, "idempotency_key": r.dedupe_key, "op": r.op, "data": r.data}
                for r in records
            ],
        }
        data = _json(body)
        idempotency_key = batch_key(self.sync_name, records)

        def headers() -> dict[str, str]:
            return {
                "Idempotency-Key": idempotency_key,
                SIGNATURE_HEADER: sign_webhook(self.settings["secret"], data),
            }

        response = self.client.post(self.settings["url"], data, headers)
        if response.status_code >= 400:
            return self._all(records, f"HTTP {response.status_code}: {response.text[:200]}")
        answer = response.json()
        rejected = {r["key"]: r.get("error", "rejected") for r in answer.get("rejected", [])}
        return [Outcome(r.key, r.key not in rejected, rejected.get(r.key)) for r in records]


class EmailServiceConnector(Connector):
    """An email service's batch upsert API (contacts with attributes; partial success)."""

    type = "email_service"
    channel = "email"

    def __init__(self, sync_name: str, settings: dict, client: HttpClient | None) -> None:
        super().__init__(sync_name, settings, client)
        _require(settings, "url")

    def send(self, records: Sequence[Record]) -> list[Outcome]:
        contacts = [
            {"key": r.key, "idempotency_key": r.dedupe_key, "op": r.op, **r.data} for r in records
        ]
        response, _ = self._post(
            self.settings["url"].rstrip("/") + "/contacts/batch", {"contacts": contacts}, records
        )
        if response.status_code >= 400:
            return self._all(records, f"HTTP {response.status_code}: {response.text[:200]}")
        results = {r["key"]: r for r in response.json().get("results", [])}
        outcomes = []
        for record in records:
            result = results.get(record.key)
            if result is None:
                outcomes.append(Outcome(record.key, False, "no result for this record"))
            else:
                ok = result.get("status") == "ok"
                outcomes.append(Outcome(record.key, ok, None if ok else result.get("error")))
        return outcomes


class SmsConnector(Connector):
    """An SMS API: one message per request, text from a template of the record's fields."""

    type = "sms"
    channel = "sms"

    def __init__(self, sync_name: str, settings: dict, client: HttpClient | None) -> None:
        super().__init__(sync_name, settings, client)
        _require(settings, "url", "template")

    def send(self, records: Sequence[Record]) -> list[Outcome]:
        outcomes = []
        url = self.settings["url"].rstrip("/") + "/messages"
        for record in records:
            if record.op == "delete":
                outcomes.append(Outcome(record.key, True))  # nothing to take back from a phone
                continue
            try:
                text = self.settings["template"].format(**record.data)
            except KeyError as exc:
                outcomes.append(Outcome(record.key, False, f"template needs field {exc}"))
                continue
            body = {
                "key": record.key,
                "idempotency_key": record.dedupe_key,
                "to": record.data.get("to"),
                "text": text,
            }
            try:
                response, _ = self._post(url, body, [record])
            except ConnectorError as exc:
                outcomes.append(Outcome(record.key, False, str(exc)))
                continue
            ok = response.status_code < 400
            outcomes.append(
                Outcome(
                    record.key,
                    ok,
                    None if ok else f"HTTP {response.status_code}: {response.text[:200]}",
                )
            )
        return outcomes


def normalise_email(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return text or None


def normalise_phone(value: Any) -> str | None:
    text = "".join(ch for ch in str(value or "") if ch.isdigit() or ch == "+")
    return text or None


def sha256_hex(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if value else None


class AdAudienceConnector(Connector):
    """Ad-platform audience upload: only SHA-256 hashes of normalised email and phone leave."""

    type = "ad_audience"
    channel = "ads"

    def __init__(self, sync_name: str, settings: dict, client: HttpClient | None) -> None:
        super().__init__(sync_name, settings, client)
        _require(settings, "url", "audience")

    def send(self, records: Sequence[Record]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        base = self.settings["url"].rstrip("/") + f"/audiences/{self.settings['audience']}/members"
        for op, wanted in (("add", "upsert"), ("remove", "delete")):
            batch = [r for r in records if r.op == wanted]
            if not batch:
                continue
            members = [
                {
                    "key": r.key,
                    "idempotency_key": r.dedupe_key,
                    "email_sha256": sha256_hex(normalise_email(r.data.get("email"))),
                    "phone_sha256": sha256_hex(normalise_phone(r.data.get("phone"))),
                }
                for r in batch
            ]
            response, _ = self._post(base, {"op": op, "members": members}, batch)
            error = (
                None
                if response.status_code < 400
                else (f"HTTP {response.status_code}: {response.text[:200]}")
            )
            outcomes.extend(self._all(batch, error))
        return outcomes


# the mode of the files of personal data the connectors write on this machine
PRIVATE_FILE = 0o600


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol


class CsvDropConnector(Connector):
    """A CSV file per batch in a folder or fsspec URL (e.g. a mailing house's drop). The file
    name is the batch's idempotency key, so re-sending a batch rewrites the same file."""

    type = "csv_drop"
    channel = "file"

    def __init__(self, sync_name: str, settings: dict, client: HttpClient | None) -> None:
        super().__init__(sync_name, settings, client)
        _require(settings, "path")

    def send(self, records: Sequence[Record]) -> list[Outcome]:
        import fsspec

        columns = ["key", "op", *sorted({k for r in records for k in r.data})]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({"key": record.key, "op": record.op, **record.data})
        folder = self.settings["path"].rstrip("/")
        name = f"{self.sync_name}-{batch_key(self.sync_name, records)}.csv"
        fs, root = fsspec.core.url_to_fs(folder)
        fs.makedirs(root, exist_ok=True)
        partial = f"{root}/.{name}.partial"
        if _is_local(fs):  # personal data: owner only, from the moment the file exists
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
            os.fchmod(descriptor, PRIVATE_FILE)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(buffer.getvalue())
        else:
            with fs.open(partial, "w") as handle:  # write, then rename: no half files
                handle.write(buffer.getvalue())
        fs.mv(partial, f"{root}/{name}")
        return self._all(records, None)


class CrmTableConnector(Connector):
    """Upsert / delete rows of a table in another database (PostgreSQL or MariaDB, any
    SQLAlchemy URL); the table is created on first use with the key as primary key."""

    type = "crm_table"
    channel = "crm"

    def __init__(self, sync_name: str, settings: dict, client: HttpClient | None) -> None:
        super().__init__(sync_name, settings, client)
        _require(settings, "url", "table")
        self._engine = None

    def _table(self, columns: Sequence[str]):
        import sqlalchemy as sa

        if self._engine is None:
            url = sa.engine.make_url(self.settings["url"])
            if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
                # a local file of personal data: owner only (SQLite gives its journal the same)
                database = Path(url.database)
                database.parent.mkdir(parents=True, exist_ok=True)
                database.touch(mode=PRIVATE_FILE)
                database.chmod(PRIVATE_FILE)
            self._engine = sa.create_engine(url)
        metadata = sa.MetaData()
        table = sa.Table(
            self.settings["table"],
            metadata,
            sa.Column("record_key", sa.String(200), primary_key=True),
            *[sa.Column(c, sa.Text) for c in columns],
            sa.Column("synced_at", sa.DateTime(timezone=True)),
        )
        metadata.create_all(self._engine, checkfirst=True)
        return table

    def send(self, records: Sequence[Record]) -> list[Outcome]:
        import sqlalchemy as sa

        columns = sorted({k for r in records for k in r.data})
        table = self._table(columns)
        now = dt.datetime.now(dt.UTC)
        upserts = [r for r in records if r.op == "upsert"]
        deletes = [r.key for r in records if r.op == "delete"]
        with self._engine.begin() as conn:
            if deletes:
                conn.execute(sa.delete(table).where(table.c.record_key.in_(deletes)))
            if upserts:
                keys = [r.key for r in upserts]
                conn.execute(sa.delete(table).where(table.c.record_key.in_(keys)))
                conn.execute(
                    sa.insert(table),
                    [
                        {
                            "record_key": r.key,
                            "synced_at": now,
                            **{
                                c: None if r.data.get(c) is None else str(r.data[c])
                                for c in columns
                            },
                        }
                        for r in upserts
                    ],
                )
        return self._all(records, None)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


CONNECTORS: dict[str, type[Connector]] = {
    c.type: c
    for c in (
        WebhookConnector,
        EmailServiceConnector,
        SmsConnector,
        AdAudienceConnector,
        CsvDropConnector,
        CrmTableConnector,
    )
}


def make_connector(sync_name: str, settings: dict, client: HttpClient | None) -> Connector:
    kind = settings.get("type")
    if kind not in CONNECTORS:
        raise ConfigError(
            f"sync {sync_name!r}: unknown connector type {kind!r}; known: {', '.join(CONNECTORS)}"
        )
    return CONNECTORS[kind](sync_name, settings, client)
