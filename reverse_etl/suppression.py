"""The last check before anything leaves: the sync engine drops, at send time, every audience
row whose customer asked to be forgotten since the build (reverse_etl.erasure_requests, the
hashed tombstones of `ciw forget`), whose contact point is a placeholder
(seeds/identifier_blocklist.csv) or an email address that hard-bounced (docs/erasure.md).
The audiences already leave them out; this guard covers a forget between the build and the
sync, and a contact point that slipped through."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# audience columns that hold a contact point
CONTACT_COLUMNS = ("contact_point", "email", "phone")


def _sha256(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def _exists(cur: Any, relation: str) -> bool:
    cur.execute("select to_regclass(%s)", (relation,))
    return cur.fetchone()[0] is not None


@dataclass
class SendGuard:
    erased_customers: set[int] = field(default_factory=set)
    erased_values: set[str] = field(default_factory=set)
    tombstones: set[str] = field(default_factory=set)
    blocklist: set[str] = field(default_factory=set)
    bounced: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, cur: Any, relations: dict[str, Iterable[str]]) -> SendGuard:
        """Read the suppressions now; ``relations``: candidate relations of the blocklist seed
        and of the ESP events staging model (the first that exists is read; none: no check)."""
        guard = cls()
        if _exists(cur, "reverse_etl.erasure_requests"):
            cur.execute("select customer_id, email, phone from reverse_etl.erasure_requests")
            for customer_id, email, phone in cur.fetchall():
                if customer_id is not None:
                    guard.erased_customers.add(int(customer_id))
                if email:
                    guard.erased_values.add(email.strip().lower())
                if phone and len(re.sub(r"\D", "", phone)) >= 7:
                    guard.erased_values.add(re.sub(r"\D", "", phone).lstrip("0")[-10:])
        if _exists(cur, "reverse_etl.erasure_tombstones"):
            cur.execute(
                "select tombstone_sha256 from reverse_etl.erasure_tombstones "
                "where identifier_type in ('email', 'phone')"
            )
            guard.tombstones = {row[0] for row in cur.fetchall()}
        for relation in relations.get("blocklist", ()):
            if _exists(cur, relation):
                cur.execute(f"select lower(btrim(identifier_value)) from {relation}")
                guard.blocklist = {row[0] for row in cur.fetchall()}
                break
        for relation in relations.get("email_events", ()):
            if _exists(cur, relation):
                cur.execute(
                    f"select distinct email_normalized from {relation} "
                    f"where event_type = 'bounce' and email_normalized is not null"
                )
                guard.bounced = {row[0] for row in cur.fetchall()}
                break
        return guard

    def reason(self, row: dict[str, Any]) -> str | None:
        """Why this row must not be sent, or None."""
        customer_id = row.get("customer_id")
        if customer_id is not None and int(customer_id) in self.erased_customers:
            return "erased"
        for column in CONTACT_COLUMNS:
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                continue
            text = value.strip()
            lowered = text.lower()
            if (
                _sha256("email", lowered) in self.tombstones
                or _sha256("phone", text) in self.tombstones
                or lowered in self.erased_values
                or (text.startswith("+") and re.sub(r"\D", "", text)[-10:] in self.erased_values)
            ):
                return "erased"
            if lowered in self.blocklist:
                return "blocklisted"
            if "@" in lowered and lowered in self.bounced:
                return "hard_bounced"
        return None
