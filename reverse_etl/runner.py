"""Run the configured syncs against a warehouse (used by ``ciw sync`` and ``ciw run``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from reverse_etl.config import SyncConfig, load_syncs
from reverse_etl.connectors import ConfigError
from reverse_etl.engine import SyncEngine, SyncResult

DEFAULT_CONFIG = Path(__file__).absolute().parent / "syncs.yml"


def config_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("CIW_SYNCS_FILE") or DEFAULT_CONFIG)


def select_syncs(syncs: Sequence[SyncConfig], only: Sequence[str] | None) -> list[SyncConfig]:
    chosen = [s for s in syncs if s.enabled]
    if only:
        unknown = sorted(set(only) - {s.name for s in syncs})
        if unknown:
            raise ConfigError(
                f"unknown sync(s) {', '.join(unknown)}; configured: "
                f"{', '.join(s.name for s in syncs)}"
            )
        chosen = [s for s in syncs if s.name in set(only)]
    return chosen


def run_syncs(
    warehouse,
    project: Path,
    dry_run: bool = False,
    only: Sequence[str] | None = None,
    force: bool = False,
    config: str | None = None,
    engine: SyncEngine | None = None,
) -> list[SyncResult]:
    """Every enabled (or the named) sync, in the order of the file."""
    from ciw.dbt import model_relation

    syncs = select_syncs(load_syncs(config_path(config), only), only)
    engine = engine or SyncEngine(warehouse.connect, lambda name: model_relation(project, name))
    engine.ensure_tables()
    return [engine.run(sync, dry_run=dry_run, force=force) for sync in syncs]
