"""FEBRL-style person records at any size, for the speed and quality benchmark of issue #21
(bench/bench_febrl_style.py, docs/matching-evaluation.md).

FEBRL1 and FEBRL2 are small (1,000 and 5,000 records). The issue's speed target is set on
200,000 FEBRL-style records, so this module makes them the way FEBRL's own generator does:

* **originals**: every value drawn, as often as it occurs there, from the originals of FEBRL1
  and FEBRL2 (given names, surnames, street numbers, street names, street types, localities
  (``address_2``), suburbs, postcodes, states; empty values included, at their share), each
  field on its own; birth dates uniform over 1900-1999 (empty at FEBRL's share);
* **duplicates**: about a fifth of the records (``duplicate_share``), up to five of one
  original (1 + Poisson, as in FEBRL2), each a copy of its original with one to three
  corruptions (CORRUPTIONS): a typo (a character inserted, deleted, substituted or two
  transposed) in any loaded field, a name replaced by another of the pool, a digit typo in the
  birth date or postcode, a field emptied, day and month swapped, address_1 and address_2
  swapped, a space inserted or removed.

Only FEBRL1 and FEBRL2 are read (through :func:`ciw.evaluation.febrl.read_febrl`, which refuses
the held-out sets). The records come as a :class:`FebrlStyleSet`, a ``FebrlSet`` whose
``rec_id`` carries the truth (``rec-<n>-org``, ``rec-<n>-dup-<k>``), so the export and scoring
functions of ``ciw.evaluation.febrl`` take it as they take FEBRL1 and FEBRL2; its loyalty card
ids are ``febrl0-rec-<n>-...`` (set number 0, which no real FEBRL set has).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ciw.evaluation.febrl import FEBRL_SETS, FebrlRecord, FebrlSet, read_febrl

# the FebrlSet number of the synthetic records: card ids febrl0-rec-<n>-org / -dup-<k>
SYNTHETIC_SET = 0
DUPLICATE_SHARE = 0.2
MAX_DUPLICATES = 5  # of one original
# duplicates of an original that has any: 1 + Poisson(1.3), at most MAX_DUPLICATES; FEBRL2's
# 428 duplicated originals have 1-5 duplicates in the shares 27/33/25/11/4 %, this 28/35/22/10/5
EXTRA_DUPLICATES_MEAN = 1.3
MAX_CORRUPTIONS = 3  # of one duplicate (at least one)
BIRTH_YEARS = (1900, 1999)

# the fields a corruption may touch: those the loyalty sign-up export loads (state and
# soc_sec_id are not loaded, so a corruption there would change nothing the matcher sees)
NAME_FIELDS = ("given_name", "surname")
TEXT_FIELDS = (*NAME_FIELDS, "address_1", "address_2", "suburb")
DIGIT_FIELDS = ("street_number", "postcode", "date_of_birth")
CORRUPTIBLE_FIELDS = (*TEXT_FIELDS, *DIGIT_FIELDS)

# corruption kind -> relative weight; typos are the commonest, as in FEBRL's generator
CORRUPTIONS: Mapping[str, int] = {
    "typo_insert": 3,
    "typo_delete": 3,
    "typo_substitute": 4,
    "typo_transpose": 3,
    "name_replaced": 3,
    "birth_date_digit": 1,
    "postcode_digit": 1,
    "field_emptied": 2,
    "day_month_swapped": 1,
    "addresses_swapped": 1,
    "space_inserted": 1,
    "space_removed": 1,
}
_ATTEMPTS = 50  # kinds tried for one corruption before giving up (none applies: all empty)


@dataclass(frozen=True)
class ValuePools:
    """The values originals are drawn from, each as often as among FEBRL1's and FEBRL2's
    originals (so frequent names stay frequent); '' where the field was empty."""

    given_names: tuple[str, ...]
    surnames: tuple[str, ...]
    street_numbers: tuple[str, ...]
    street_names: tuple[str, ...]
    street_types: tuple[str, ...]
    localities: tuple[str, ...]  # address_2
    suburbs: tuple[str, ...]
    postcodes: tuple[str, ...]
    states: tuple[str, ...]
    missing_birth_date_share: float

    @classmethod
    def from_febrl(cls, sets: Sequence[FebrlSet] | None = None) -> ValuePools:
        """The pools of ``sets`` (default: FEBRL1 and FEBRL2 read from the installed wheel);
        originals only, their duplicates carry FEBRL's own corruptions."""
        if sets is None:
            sets = [read_febrl(number) for number in FEBRL_SETS]
        originals = [
            record for febrl in sets for record in febrl.records if record.rec_id.endswith("-org")
        ]
        if not originals:
            raise ValueError("no FEBRL originals to draw values from")
        street_names: list[str] = []
        street_types: list[str] = []
        for record in originals:
            *name, kind = record.address_1.split() or [""]
            if name:  # "tullaroop street": name "tullaroop", type "street"
                street_names.append(" ".join(name))
                street_types.append(kind)
            else:  # one word or none: a name without a type
                street_names.append(kind)

        def pool(name: str) -> tuple[str, ...]:
            return tuple(getattr(record, name) for record in originals)

        return cls(
            given_names=pool("given_name"),
            surnames=pool("surname"),
            street_numbers=pool("street_number"),
            street_names=tuple(street_names),
            street_types=tuple(street_types),
            localities=pool("address_2"),
            suburbs=pool("suburb"),
            postcodes=pool("postcode"),
            states=pool("state"),
            missing_birth_date_share=(
                sum(1 for record in originals if not record.date_of_birth) / len(originals)
            ),
        )

    def names(self, name_field: str) -> tuple[str, ...]:
        return self.given_names if name_field == "given_name" else self.surnames


@dataclass(frozen=True)
class FebrlStyleSet(FebrlSet):
    """Generated FEBRL-style records (shuffled), with what was done to each duplicate."""

    seed: int = 0
    corruptions: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return "FEBRL-style"

    @property
    def duplicates(self) -> int:
        return len(self.corruptions)

    @property
    def originals(self) -> int:
        return len(self.records) - len(self.corruptions)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for small means."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _duplicate_counts(rng: random.Random, duplicates: int) -> list[int]:
    """Duplicates per duplicated original, summing to ``duplicates``."""
    counts: list[int] = []
    while duplicates > 0:
        count = min(1 + _poisson(rng, EXTRA_DUPLICATES_MEAN), MAX_DUPLICATES, duplicates)
        counts.append(count)
        duplicates -= count
    return counts


def _birth_date(rng: random.Random, missing_share: float) -> str:
    if rng.random() < missing_share:
        return ""
    first = dt.date(BIRTH_YEARS[0], 1, 1)
    days = (dt.date(BIRTH_YEARS[1], 12, 31) - first).days
    return (first + dt.timedelta(days=rng.randint(0, days))).strftime("%Y%m%d")


def _original(rng: random.Random, pools: ValuePools, number: int) -> FebrlRecord:
    street = f"{rng.choice(pools.street_names)} {rng.choice(pools.street_types)}"
    return FebrlRecord(
        rec_id=f"rec-{number}-org",
        given_name=rng.choice(pools.given_names),
        surname=rng.choice(pools.surnames),
        street_number=rng.choice(pools.street_numbers),
        address_1=street.strip(),
        address_2=rng.choice(pools.localities),
        suburb=rng.choice(pools.suburbs),
        postcode=rng.choice(pools.postcodes),
        state=rng.choice(pools.states),
        date_of_birth=_birth_date(rng, pools.missing_birth_date_share),
        soc_sec_id=str(rng.randrange(1_000_000, 10_000_000)),
    )


# --------------------------------------------------------------------------- corruptions
# Each takes the record's values (field -> value, changed in place) and returns whether it
# could apply; one that cannot (an empty field, no space to remove) is drawn again.

Values = dict[str, str]


def _alphabet(name: str) -> str:
    return string.digits if name in DIGIT_FIELDS else string.ascii_lowercase


def _pick(rng: random.Random, values: Values, names: Sequence[str], test) -> str | None:
    candidates = [name for name in names if test(values[name])]
    return rng.choice(candidates) if candidates else None


def _typo_insert(rng: random.Random, values: Values, pools: ValuePools) -> bool:
    name = _pick(rng, values, CORRUPTIBLE_FIELDS, bool)  # a typo needs something typed
    if name is None:
        return False
    value = values[name]
    at = rng.randint(0, len(value))
    values[name] = value[:at] + rng.choice(_alphabet(name)) + value[at:]
    return True


def _typo_delete(rng: random.Random, values: Values, pools: ValuePools) -> bool:
    name = _pick(rng, values, CORRUPTIBLE_FIELDS, lambda value: len(value) > 1)
    if name is None:
        return False
    value = values[name]
    at = rng.randrange(len(value))
    values[name] = value[:at] + value[at + 1 :]
    return True


def _substitute(rng: random.Random, values: Values, name: str, positions: Sequence[int]) -> None:
    value = values[name]
    at = rng.choice(positions)
    character = rng.choice(_alphabet(name).replace(value[at], ""))
    values[name] = value[:at] + character + value[at + 1 :]


def _typo_substitute(rng: random.Random, values: Values, pools: ValuePools) -> bool:
    name = _pick(rng, values, CORRUPTIBLE_FIELDS, lambda value: value.strip() != "")
    if name is None:
        return False
    positions = [at for at, character in enumerate(values[name]) if character != " "]
    _substitute(rng, values, name, positions)
    return True


def _typo_transpose(rng: random.Random, values: Values, pools: ValuePools) -> bool:
    def positions(value: str) -> list[int]:
        return [at for at in range(len(value) - 1) if value[at] != value[at + 1]]

    name = _pick(rng, values, CORRUPTIBLE_FIELDS, lambda value: bool(positions(value)))
    if name is None:
        return False
    value = values[name]
    at = rng.choice(positions(value))
    values[name] = value[:at] + value[at + 1] + value[at] + value[at + 2 :]
    return True


def _name_replaced(rng: random.Random, values: Values, pools: ValuePools) -> bool:
    name = rng.choice(NAME_FIELDS)
    others = pools.names(name)
    for _ in range(_ATTEMPTS):
        other = rng.choice(others)
        if other and other != values[name]:
            values[name] = other
            return True
    return False


def _digit_typo(name: str) -> Callable[[random.Random, Values, ValuePools], bool]:
    def corrupt(rng: random.Random, values: Values, pools: ValuePools) -> bool:
        positions = [at for at, character in enumerate(values[name]) if character.isdigit()]
        if not positions:
            return False
        _substitute(rng, values, name, positions)
        return True

    return corrupt


def _field_emptied(rng: random.Random, values: Values, pools: ValuePools) -> bool:
    name = _pick(rng, values, CORRUPTIBLE_FIELDS, bool)
    if name is None:
        return False
    values[name] = ""
    return True


def _day_month_swapped(rng: random.Random, values: Values, pools: ValuePools) -> bool:
    value = values["date_of_birth"]
    if len(value) != 8 or value[4:6] == value[6:]:
        return False
    values["date_of_birth"] = value[:4] + value[6:] + value[4:6]  # may become impossible
    return True


def _addresses_swapped(rng: random.Random, values: Values, pools: ValuePools) -> bool:
    if values["address_1"] == values["address_2"]:
        return False
    values["address_1"], values["address_2"] = values["address_2"], values["address_1"]
    return True


def _space_inserted(rng: random.Random, values: Values, pools: ValuePools) -> bool:
    def positions(value: str) -> list[int]:
        return [at for at in range(1, len(value)) if value[at - 1] != " " and value[at] != " "]

    name = _pick(rng, values, TEXT_FIELDS, lambda value: bool(positions(value)))
    if name is None:
        return False
    value = values[name]
    at = rng.choice(positions(value))
    values[name] = value[:at] + " " + value[at:]
    return True


def _space_removed(rng: random.Random, values: Values, pools: ValuePools) -> bool:
    name = _pick(rng, values, TEXT_FIELDS, lambda value: " " in value.strip())
    if name is None:
        return False
    value = values[name]
    at = rng.choice([at for at, character in enumerate(value) if character == " "])
    values[name] = value[:at] + value[at + 1 :]
    return True


_CORRUPT: Mapping[str, Callable[[random.Random, Values, ValuePools], bool]] = {
    "typo_insert": _typo_insert,
    "typo_delete": _typo_delete,
    "typo_substitute": _typo_substitute,
    "typo_transpose": _typo_transpose,
    "name_replaced": _name_replaced,
    "birth_date_digit": _digit_typo("date_of_birth"),
    "postcode_digit": _digit_typo("postcode"),
    "field_emptied": _field_emptied,
    "day_month_swapped": _day_month_swapped,
    "addresses_swapped": _addresses_swapped,
    "space_inserted": _space_inserted,
    "space_removed": _space_removed,
}


def _duplicate(
    rng: random.Random, pools: ValuePools, original: FebrlRecord, rec_id: str
) -> tuple[FebrlRecord, tuple[str, ...]]:
    """A corrupted copy of ``original`` and the kinds of its corruptions, in order."""
    kinds, weights = list(CORRUPTIONS), list(CORRUPTIONS.values())
    values: Values = {name: getattr(original, name) for name in CORRUPTIBLE_FIELDS}
    applied: list[str] = []
    for _ in range(rng.randint(1, MAX_CORRUPTIONS)):
        for _ in range(_ATTEMPTS):
            kind = rng.choices(kinds, weights)[0]
            if _CORRUPT[kind](rng, values, pools):
                applied.append(kind)
                break
    return replace(original, rec_id=rec_id, **values), tuple(applied)


def generate_febrl_style(
    records: int = 200_000,
    seed: int = 0,
    pools: ValuePools | None = None,
    duplicate_share: float = DUPLICATE_SHARE,
) -> FebrlStyleSet:
    """``records`` FEBRL-style records, the same for the same ``seed`` and pools (default:
    FEBRL1's and FEBRL2's), ``duplicate_share`` of them duplicates, in random order."""
    if records < 1:
        raise ValueError(f"records must be positive, not {records}")
    if not 0 <= duplicate_share < 0.5:
        raise ValueError(f"duplicate_share must be in [0, 0.5), not {duplicate_share}")
    pools = pools if pools is not None else ValuePools.from_febrl()
    rng = random.Random(seed)
    duplicates = round(records * duplicate_share)
    originals = [_original(rng, pools, number) for number in range(records - duplicates)]
    counts = _duplicate_counts(rng, duplicates)
    duplicated = rng.sample(range(len(originals)), len(counts))
    result: list[FebrlRecord] = list(originals)
    corruptions: dict[str, tuple[str, ...]] = {}
    for number, count in zip(duplicated, counts, strict=True):
        for copy in range(count):
            record, kinds = _duplicate(rng, pools, originals[number], f"rec-{number}-dup-{copy}")
            result.append(record)
            corruptions[record.rec_id] = kinds
    rng.shuffle(result)
    return FebrlStyleSet(
        number=SYNTHETIC_SET, records=tuple(result), seed=seed, corruptions=corruptions
    )
