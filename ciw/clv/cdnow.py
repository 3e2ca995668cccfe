"""The CDNOW sample of Fader, Hardie and Lee (2005): the purchases of 2,357 customers who first
bought at CDNOW in the first quarter of 1997, up to the end of June 1998.

The file ships inside the ``lifetimes`` wheel on PyPI (``lifetimes/datasets/CDNOW_sample.txt``).
We find the wheel through PyPI's JSON API (falling back to its pinned URL), download it over
HTTPS, check it against the sha256 pinned below, cache it, and read the text file straight out
of the zip: ``lifetimes`` itself is never installed or imported.

File format: one transaction a line, whitespace separated: customer id in the full CDNOW
dataset, customer id in the sample (1..2357), date (YYYYMMDD), number of CDs, dollar value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np

PACKAGE = "lifetimes"
VERSION = "0.11.3"
WHEEL_NAME = "Lifetimes-0.11.3-py3-none-any.whl"
JSON_API = f"https://pypi.org/pypi/{PACKAGE}/{VERSION}/json"
# From the JSON API (and pypi.org/simple/lifetimes/); checked on every download.
WHEEL_URL = (
    "https://files.pythonhosted.org/packages/c5/1f/"
    "ee6a471dcb5cb2f4dbc219023e07991f3b917875f9c8a5f5d77c00ddabca/" + WHEEL_NAME
)
WHEEL_SHA256 = "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8"
MEMBER = "lifetimes/datasets/CDNOW_sample.txt"
START = dt.date(1997, 1, 1)  # day 0 of the time axis (FHL 2005: weeks from 1 January 1997)
TIMEOUT_SECONDS = 60

Transaction = tuple[int, dt.date, int, float]


class CdnowDownloadError(RuntimeError):
    """The wheel is not cached and could not be downloaded (PyPI unreachable, HTTP error)."""


class CdnowIntegrityError(RuntimeError):
    """The downloaded wheel does not match its pinned sha256, or lacks the data file."""


def default_cache_dir() -> Path:
    """``$CIW_CACHE_DIR``, else ``~/.cache/ciw``."""
    found = os.environ.get("CIW_CACHE_DIR")
    return Path(found) if found else Path.home() / ".cache" / "ciw"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheel_url() -> str:
    """The wheel's URL from PyPI's JSON API (whose sha256 must agree with the pinned one);
    the pinned URL when the API cannot be read."""
    import requests

    try:
        response = requests.get(JSON_API, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
        files = response.json()["urls"]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return WHEEL_URL
    for entry in files:
        if entry.get("filename") == WHEEL_NAME:
            published = entry.get("digests", {}).get("sha256")
            if published != WHEEL_SHA256:
                raise CdnowIntegrityError(
                    f"PyPI lists sha256 {published} for {WHEEL_NAME}, not the pinned "
                    f"{WHEEL_SHA256}: refusing to use it"
                )
            return str(entry["url"])
    return WHEEL_URL


def wheel_path(cache_dir: Path | str | None = None) -> Path:
    """The cached ``lifetimes`` wheel; downloaded and verified (sha256) when missing or
    corrupt. Raises :class:`CdnowDownloadError` when it cannot be downloaded and
    :class:`CdnowIntegrityError` when the download does not match the pinned hash."""
    import requests

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = folder / WHEEL_NAME
    if target.is_file() and _sha256(target.read_bytes()) == WHEEL_SHA256:
        return target
    url = _wheel_url()
    try:
        response = requests.get(url, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise CdnowDownloadError(
            f"cannot download the CDNOW sample ({WHEEL_NAME}) from {url}: {exc}; with no "
            f"network, put the wheel (sha256 {WHEEL_SHA256}) in {folder} or set CIW_CACHE_DIR"
        ) from exc
    digest = _sha256(response.content)
    if digest != WHEEL_SHA256:
        raise CdnowIntegrityError(
            f"{url}: sha256 {digest} does not match the pinned {WHEEL_SHA256}; not cached"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".wheel-", delete=False) as handle:
        handle.write(response.content)
    Path(handle.name).chmod(0o644)
    Path(handle.name).replace(target)  # atomic: concurrent readers never see half a wheel
    return target


def load_cdnow_sample(cache_dir: Path | str | None = None) -> list[Transaction]:
    """Every transaction of the sample as (customer id in the sample, date, CDs, dollars), in
    file order (by customer, then date). Orders on one day stay separate rows here."""
    path = wheel_path(cache_dir)
    try:
        with zipfile.ZipFile(path) as wheel:
            text = wheel.read(MEMBER).decode("ascii")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise CdnowIntegrityError(f"{path}: cannot read {MEMBER}: {exc}") from exc
    rows: list[Transaction] = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise CdnowIntegrityError(f"{MEMBER} line {number}: expected 5 fields: {line!r}")
        _, customer, day, cds, dollars = parts
        date = dt.datetime.strptime(day, "%Y%m%d").date()
        rows.append((int(customer), date, int(cds), float(dollars)))
    return rows


def calibration_end(calibration_end_week: int = 39) -> dt.date:
    """The last day of the calibration period: week w ends on day 7 w - 1 counted from
    1997-01-01 = day 0 (week 39: 1997-09-30, day 272; the 273rd day of 1997)."""
    return START + dt.timedelta(days=7 * calibration_end_week - 1)


def cdnow_rfm(
    calibration_end_week: int = 39, cache_dir: Path | str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T, monetary) per customer (ordered by sample id) in the conventions of
    Fader, Hardie and Lee 2005 (BG/NBD; RFM and CLV), which reproduce their published figures:

    * several orders on one day are one purchase (their dollar values summed);
    * a customer's first purchase day is their birth (all customers are born in 1997 Q1);
    * calibration = purchases up to and including ``calibration_end(week)`` (1997-09-30 for
      week 39); customers born after it are left out;
    * x = number of repeat purchase days in calibration; time in weeks = days / 7;
      t_x = weeks from the first to the last purchase day in calibration (0 when x = 0);
      T = weeks from the first purchase day to the calibration end day (38.86 for a customer
      born 1997-01-01);
    * monetary = mean dollar value of the x repeat purchase days (the first purchase
      excluded; 0 when x = 0), as in the Gamma-Gamma fit of FHL 2005 (RFM and CLV) and
      Fader-Hardie 2013 (p = 6.25, q = 3.74, gamma = 15.44).

    For week 39: 2,357 customers, 946 with repeat purchases, 2,457 repeat purchases; agrees
    with lifetimes' ``cdnow_customers_summary_with_transactions.csv`` (x, t_x, T, zbar).
    """
    if calibration_end_week < 1:
        raise ValueError(f"calibration_end_week must be >= 1, not {calibration_end_week}")
    end = calibration_end(calibration_end_week)
    by_customer: dict[int, dict[dt.date, float]] = defaultdict(lambda: defaultdict(float))
    for customer, day, _, dollars in load_cdnow_sample(cache_dir):
        by_customer[customer][day] += dollars
    x, t_x, age, monetary = [], [], [], []
    for customer in sorted(by_customer):
        days = by_customer[customer]
        first = min(days)
        if first > end:
            continue
        repeat = sorted(d for d in days if first < d <= end)
        x.append(len(repeat))
        t_x.append(((repeat[-1] if repeat else first) - first).days / 7)
        age.append((end - first).days / 7)
        monetary.append(sum(days[d] for d in repeat) / len(repeat) if repeat else 0.0)
    return np.array(x, dtype=float), np.array(t_x), np.array(age), np.array(monetary)
