"""The CDNOW sample (Fader, Hardie and Lee 2005): 2,357 customers' purchases of 1997-98.

The file ships inside the ``lifetimes`` wheel on PyPI. We download the wheel (sha256
pinned), cache it, and read ``lifetimes/datasets/CDNOW_sample.txt`` straight out of the zip:
lifetimes itself is never imported or installed (it needs old numpy and pandas).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np

WHEEL_NAME = "Lifetimes-0.11.3-py3-none-any.whl"
WHEEL_URL = (
    "https://files.pythonhosted.org/packages/c5/1f/"
    "ee6a471dcb5cb2f4dbc219023e07991f3b917875f9c8a5f5d77c00ddabca/" + WHEEL_NAME
)
WHEEL_SHA256 = "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8"
MEMBER = "lifetimes/datasets/CDNOW_sample.txt"
START = dt.date(1997, 1, 1)
CALIBRATION_END = dt.date(1997, 9, 30)  # end of week 39 (T = 38.86 weeks for a 1 Jan buyer)


class CdnowUnavailable(RuntimeError):
    """The wheel could not be downloaded or does not match its pinned hash."""


def cache_dir() -> Path:
    return Path(os.environ.get("CIW_CACHE_DIR", Path.home() / ".cache" / "ciw"))


def wheel_path(folder: Path | None = None) -> Path:
    """The cached wheel, downloaded (and verified) on first use."""
    import requests

    folder = folder or cache_dir()
    target = folder / WHEEL_NAME
    if target.exists() and _sha256(target) == WHEEL_SHA256:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    try:
        response = requests.get(WHEEL_URL, timeout=60)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise CdnowUnavailable(f"cannot download {WHEEL_URL}: {exc}") from exc
    digest = hashlib.sha256(response.content).hexdigest()
    if digest != WHEEL_SHA256:
        raise CdnowUnavailable(f"{WHEEL_NAME}: sha256 {digest} != pinned {WHEEL_SHA256}")
    partial = target.with_suffix(".partial")
    partial.write_bytes(response.content)
    partial.replace(target)
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_cdnow_sample(folder: Path | None = None) -> list[tuple[int, dt.date, int, float]]:
    """(customer id in the sample, date, CDs bought, dollars) per transaction."""
    with zipfile.ZipFile(wheel_path(folder)) as wheel:
        text = wheel.read(MEMBER).decode()
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        _, customer, day, cds, dollars = parts
        rows.append(
            (int(customer), dt.datetime.strptime(day, "%Y%m%d").date(), int(cds), float(dollars))
        )
    return rows


def cdnow_rfm(
    calibration_end: dt.date = CALIBRATION_END, folder: Path | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T, monetary) per customer in the paper's conventions: several purchases on
    one day are one purchase (spend summed), time in weeks (days / 7), x = repeat purchase
    days up to ``calibration_end``, T = weeks from the first purchase to ``calibration_end``,
    monetary = mean spend of the repeat purchase days (0 without repeats)."""
    by_customer: dict[int, dict[dt.date, float]] = defaultdict(lambda: defaultdict(float))
    for customer, day, _, dollars in load_cdnow_sample(folder):
        by_customer[customer][day] += dollars
    x, t_x, T, monetary = [], [], [], []  # noqa: N806
    for days in by_customer.values():
        first = min(days)
        if first > calibration_end:
            continue
        repeat = sorted(d for d in days if first < d <= calibration_end)
        x.append(len(repeat))
        t_x.append(((repeat[-1] if repeat else first) - first).days / 7)
        T.append((calibration_end - first).days / 7)
        monetary.append(float(np.mean([days[d] for d in repeat])) if repeat else 0.0)
    return np.array(x, float), np.array(t_x), np.array(T), np.array(monetary)
