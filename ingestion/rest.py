"""Shared set-up for sources read with dlt's declarative ``rest_api`` source."""

from __future__ import annotations

from typing import Any

import dlt
from dlt.sources.rest_api import rest_api_resources

from ingestion.quarantine import TableSpec, row_splitter, split_quarantine


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
