"""Shared set-up for sources read with dlt's declarative ``rest_api`` source."""

from __future__ import annotations

import json
import re
from typing import Any

import dlt
from dlt.sources.rest_api import rest_api_resources

from ingestion.quarantine import BIGINT_MAX, BIGINT_MIN, TableSpec, row_splitter, split_quarantine

_LONG_NUMBER = re.compile(rb"\d{19}")


def _int_or_text(digits: str) -> int | str:
    number = int(digits)
    return number if BIGINT_MIN <= number <= BIGINT_MAX else digits


def big_integers_as_text(response: Any, *args: Any, **kwargs: Any) -> Any:
    """Response hook: a JSON integer beyond 64 bits becomes its digits as a string. As a
    number it fails dlt's extract (the incremental cursor hashes every row) before any row is
    validated; as a string it reaches the validation, which quarantines it in a bigint column
    (``integer beyond 64 bits``) and loads it as text elsewhere."""
    content = response.content
    if content and _LONG_NUMBER.search(content):
        try:
            payload = json.loads(content, parse_int=_int_or_text)
        except ValueError:  # not JSON: the paginator reports it
            return response
        response._content = json.dumps(payload).encode()
    return response


def incremental_param(cursor_path: str, initial_value: str) -> dict[str, Any]:
    """A query parameter bound to a dlt incremental cursor on the rows as the API sends them
    (validation happens after the cursor, see ``split_quarantine``)."""
    return {
        "type": "incremental",
        "cursor_path": cursor_path,
        "initial_value": initial_value,
    }


def validated_rest_resources(config: dict[str, Any], specs: dict[str, TableSpec]) -> list[Any]:
    """Build the rest_api resources of ``config`` and validate each one's rows."""
    endpoint = config.setdefault("resource_defaults", {}).setdefault("endpoint", {})
    endpoint.setdefault("response_actions", [{"status_code": 200, "action": big_integers_as_text}])
    out: list[Any] = []
    for resource in rest_api_resources(config):
        spec = specs[resource.name]
        hints = {
            "primary_key": list(spec.primary_key),
            "write_disposition": resource.write_disposition,
            "columns": spec.hints(),
        }
        splitter = row_splitter(spec, location=f"api {resource.name}")
        out.extend(
            split_quarantine(
                resource.with_name(f"read_{spec.table}"), spec.table, splitter, **hints
            )
        )
    return out


def bearer(token: str) -> dict[str, Any]:
    return {"type": "bearer", "token": token}


__all__ = ["bearer", "incremental_param", "validated_rest_resources", "dlt"]
