"""Sync configuration: which audience goes to which channel, how, with which fields.

``reverse_etl/syncs.yml`` (or the file in $CIW_SYNCS_FILE / ``--config``)::

    defaults: {batch_size: 500, max_retries: 5, timeout_seconds: 10, rate_limit_per_second: 20,
               max_delete_share: 0.25, max_attempts: 5}
    syncs:
      - name: welcome_email               # unique
        audience: audience_welcome        # a dbt model (public audience mart)
        filter: {channel: email}          # equality filters on the audience's columns
        kind: message                     # message: exactly once per key (send ledger)
                                          # list: diff against the last sync (sync state)
        mode: upsert                      # list only: upsert, or mirror (also removes)
        key: idempotency_key              # the audience column that identifies a row
        connector: {type: email_service, url: "${CIW_CHANNEL_URL}/email"}
        fields: {email: contact_point, first_name: first_name, campaign: "=welcome"}

``${VAR}`` / ``${VAR:-default}`` are read from the environment (secrets, URLs); a field value
starting with ``=`` is a constant. ``enabled: false`` switches a sync off.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reverse_etl.connectors import CONNECTORS, ConfigError

DEFAULTS = {
    "batch_size": 500,
    "max_retries": 5,
    "timeout_seconds": 10.0,
    "rate_limit_per_second": 20.0,
    "max_delete_share": 0.25,
    "max_attempts": 5,
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def expand(value: Any) -> Any:
    """${VAR} / ${VAR:-default} from the environment, recursively; unset without default is
    an error (a sync must never run against a half-configured destination)."""
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found is None or found == "":
            if default is None:
                raise ConfigError(f"environment variable {name} is not set (used in syncs)")
            return default
        return found

    return _VAR.sub(substitute, value)


@dataclass(frozen=True)
class SyncConfig:
    name: str
    audience: str
    connector: dict[str, Any]
    fields: dict[str, str]
    kind: str = "message"
    mode: str = "upsert"
    key: str = "idempotency_key"
    filter: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    batch_size: int = 500
    max_retries: int = 5
    timeout_seconds: float = 10.0
    rate_limit_per_second: float = 20.0
    max_delete_share: float = 0.25
    max_attempts: int = 5

    @property
    def audience_label(self) -> str:
        """welcome / thank_you / win_back: how the send ledger and the marts name it."""
        return self.audience.removeprefix("audience_")

    def columns(self) -> list[str]:
        """The audience columns the sync reads."""
        wanted = [self.key, *(c for c in self.fields.values() if not str(c).startswith("="))]
        wanted += list(self.filter)
        if self.kind == "message":
            wanted += ["customer_id", "reason"]
        return list(dict.fromkeys(wanted))


def _sync(raw: dict, defaults: dict) -> SyncConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"a sync must be a mapping, got {raw!r}")
    name = raw.get("name")
    if not name or not NAME.match(str(name)):
        raise ConfigError(f"sync name {name!r} must be lower_snake_case")
    for required in ("audience", "connector", "fields"):
        if not raw.get(required):
            raise ConfigError(f"sync {name!r}: {required} is required")
    if not NAME.match(str(raw["audience"])):
        raise ConfigError(f"sync {name!r}: audience {raw['audience']!r} is not a model name")
    kind = raw.get("kind", "message")
    if kind not in ("message", "list"):
        raise ConfigError(f"sync {name!r}: kind must be message or list, got {kind!r}")
    mode = raw.get("mode", "upsert")
    if mode not in ("upsert", "mirror"):
        raise ConfigError(f"sync {name!r}: mode must be upsert or mirror, got {mode!r}")
    if kind == "message" and mode == "mirror":
        raise ConfigError(f"sync {name!r}: a message cannot be taken back: use kind list")
    connector = raw["connector"]
    if not isinstance(connector, dict) or connector.get("type") not in CONNECTORS:
        given = connector.get("type") if isinstance(connector, dict) else connector
        raise ConfigError(
            f"sync {name!r}: unknown connector type {given!r}; known: {', '.join(CONNECTORS)}"
        )
    fields = raw["fields"]
    if not isinstance(fields, dict) or not all(
        NAME.match(str(c)) or str(c).startswith("=") for c in fields.values()
    ):
        raise ConfigError(f"sync {name!r}: fields map destination names to audience columns")
    settings = {**defaults, **{k: raw[k] for k in DEFAULTS if k in raw}}
    return SyncConfig(
        name=name,
        audience=raw["audience"],
        connector=connector,
        fields={str(k): str(v) for k, v in fields.items()},
        kind=kind,
        mode=mode,
        key=raw.get("key", "idempotency_key"),
        filter=dict(raw.get("filter") or {}),
        enabled=str(raw.get("enabled", True)).lower() not in ("false", "0", "no", ""),
        batch_size=int(settings["batch_size"]),
        max_retries=int(settings["max_retries"]),
        timeout_seconds=float(settings["timeout_seconds"]),
        rate_limit_per_second=float(settings["rate_limit_per_second"]),
        max_delete_share=float(settings["max_delete_share"]),
        max_attempts=int(settings["max_attempts"]),
    )


def _needed(raw: Any, only: Sequence[str] | None) -> bool:
    """Whether a sync will run: enabled and, with ``only``, named there."""
    if not isinstance(raw, dict):
        return True
    enabled = str(raw.get("enabled", True)).lower() not in ("false", "0", "no", "")
    return enabled and (not only or raw.get("name") in set(only))


def load_syncs(path: Path, only: Sequence[str] | None = None) -> list[SyncConfig]:
    """Every sync of the file, validated, with the environment expanded. A sync that will not
    run (disabled, or not among ``only``) and whose variables are not set is left out: a
    webhook secret is only needed by whoever runs the webhook."""
    if not path.exists():
        raise ConfigError(f"no sync configuration at {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    defaults = {**DEFAULTS, **(data.get("defaults") or {})}
    syncs = []
    for raw in data.get("syncs") or []:
        try:
            expanded = expand(raw)
        except ConfigError as exc:
            if not _needed(raw, only):
                continue
            name = raw.get("name") if isinstance(raw, dict) else None
            raise ConfigError(f"sync {name!r}: {exc}") from None
        syncs.append(_sync(expanded, defaults))
    names = [s.name for s in syncs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ConfigError(f"duplicate sync names: {', '.join(sorted(duplicates))}")
    return syncs
