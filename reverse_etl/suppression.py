"""The last check before anything leaves: the sync engine drops, at send time, every audience
row whose customer asked to be forgotten since the build (reverse_etl.erasure_requests, the
hashed tombstones of `ciw forget`), whose contact point is a placeholder
(seeds/identifier_blocklist.csv) or an email address that hard-bounced, and every message on a
channel the customer opted out of in a statement loaded after the build (docs/erasure.md).
The audiences already leave them out; this guard covers a forget or an opt-out between the
build and the sync, and a contact point that slipped through."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ciw.warehouse import relation_exists

log = logging.getLogger(__name__)

# audience columns that hold a contact point
CONTACT_COLUMNS = ("contact_point", "email", "phone")


def _sha256(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def _first_existing(cur: Any, candidates: Iterable[str]) -> str | None:
    """The first of ``candidates`` that exists, or None."""
    return next((relation for relation in candidates if relation_exists(cur, relation)), None)


@dataclass
class SendGuard:
    erased_customers: set[int] = field(default_factory=set)
    erased_values: set[str] = field(default_factory=set)
    tombstones: set[str] = field(default_factory=set)
    blocklist: set[str] = field(default_factory=set)
    bounced: set[str] = field(default_factory=set)
    # (customer_id, channel) of opt-outs loaded after the build
    opted_out: set[tuple[int, str]] = field(default_factory=set)

    @classmethod
    def load(cls, cur: Any, relations: dict[str, Iterable[str]]) -> SendGuard:
        """Read the suppressions now; ``relations``: candidate relations of the blocklist seed,
        the ESP events staging model and what _opt_outs_since_build reads (the first that exists
        is read; none: no check)."""
        guard = cls()
        if relation_exists(cur, "reverse_etl.erasure_requests"):
            cur.execute("select customer_id, email, phone from reverse_etl.erasure_requests")
            for customer_id, email, phone in cur.fetchall():
                if customer_id is not None:
                    guard.erased_customers.add(int(customer_id))
                if email:
                    guard.erased_values.add(email.strip().lower())
                if phone and len(re.sub(r"\D", "", phone)) >= 7:
                    guard.erased_values.add(re.sub(r"\D", "", phone).lstrip("0")[-10:])
        if relation_exists(cur, "reverse_etl.erasure_tombstones"):
            cur.execute(
                "select tombstone_sha256 from reverse_etl.erasure_tombstones "
                "where identifier_type in ('email', 'phone')"
            )
            guard.tombstones = {row[0] for row in cur.fetchall()}
        blocklist = _first_existing(cur, relations.get("blocklist", ()))
        if blocklist:
            cur.execute(f"select lower(btrim(identifier_value)) from {blocklist}")
            guard.blocklist = {row[0] for row in cur.fetchall()}
        email_events = _first_existing(cur, relations.get("email_events", ()))
        if email_events:
            cur.execute(
                f"select distinct email_normalized from {email_events} "
                f"where event_type = 'bounce' and email_normalized is not null"
            )
            guard.bounced = {row[0] for row in cur.fetchall()}
        guard.opted_out = _opt_outs_since_build(cur, relations)
        return guard

    def reason(self, row: dict[str, Any]) -> str | None:
        """Why this row must not be sent, or None."""
        customer_id = row.get("customer_id")
        if customer_id is not None and int(customer_id) in self.erased_customers:
            return "erased"
        channel = row.get("channel")
        if customer_id is not None and (int(customer_id), channel) in self.opted_out:
            return "opted_out"
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


def _opt_outs_since_build(cur: Any, relations: dict[str, Iterable[str]]) -> set[tuple[int, str]]:
    """(customer_id, channel) whose latest consent statement loaded after the build of
    dim_customers (its latest computed_at) is an opt-out: a shop marketing preference (per
    account and channel) or an email-provider contact that is no longer subscribed (email).
    The staging views read the raw tables as they are now; identity_map names each record's
    customer. Statements loaded before the build are the audiences' business (they read
    dim_customers' consents, which weigh every record of the customer)."""
    found = {
        name: _first_existing(cur, relations.get(name, ()))
        for name in ("dim_customers", "identity_map", "marketing_preferences", "email_contacts")
    }
    if not (found["dim_customers"] and found["identity_map"]):
        return set()
    cur.execute(f"select max(computed_at) from {found['dim_customers']}")
    built_at = cur.fetchone()[0]
    if built_at is None:
        return set()
    statements = []
    if found["marketing_preferences"]:
        statements.append(
            "select 'shop' as source_system, 'accounts' as source_table, "
            "account_id::text as source_record_id, consent_channel as channel, is_opted_in, "
            f"updated_at from {found['marketing_preferences']} where loaded_at > %(built_at)s"
        )
    if found["email_contacts"]:
        statements.append(
            "select 'esp', 'contacts', contact_id::text, 'email', is_subscribed, updated_at "
            f"from {found['email_contacts']} where loaded_at > %(built_at)s"
        )
    if not statements:
        return set()
    # the latest statement per record and channel; two at one instant that disagree: opt-out
    cur.execute(
        "select distinct on (statements.source_system, statements.source_table, "
        "statements.source_record_id, statements.channel) identities.customer_id, "
        "statements.channel, statements.is_opted_in "
        f"from ({' union all '.join(statements)}) as statements "
        f"inner join {found['identity_map']} as identities "
        "on identities.source_system = statements.source_system "
        "and identities.source_table = statements.source_table "
        "and identities.source_record_id = statements.source_record_id "
        "order by statements.source_system, statements.source_table, "
        "statements.source_record_id, statements.channel, statements.updated_at desc, "
        "statements.is_opted_in asc",
        {"built_at": built_at},
    )
    return {
        (int(customer_id), channel)
        for customer_id, channel, is_opted_in in cur.fetchall()
        if not is_opted_in
    }
