"""The FEBRL-style record generator of the 200,000-record benchmark (ciw/evaluation/synthetic.py,
bench/bench_febrl_style.py): deterministic, a fifth duplicates, every corruption kind, the
truth in the record ids, names from FEBRL1's and FEBRL2's pools only. No database."""

from __future__ import annotations

from collections import Counter

import pytest

from ciw.evaluation import synthetic
from ciw.evaluation.febrl import LOYALTY_SIGNUP_COLUMNS, loyalty_signup_rows, read_febrl
from ciw.evaluation.synthetic import (
    CORRUPTIONS,
    DUPLICATE_SHARE,
    MAX_CORRUPTIONS,
    MAX_DUPLICATES,
    SYNTHETIC_SET,
    ValuePools,
    generate_febrl_style,
)

RECORDS = 600
SEED = 7


@pytest.fixture(scope="module")
def pools() -> ValuePools:
    return ValuePools.from_febrl()


@pytest.fixture(scope="module")
def generated(pools):
    return generate_febrl_style(RECORDS, seed=SEED, pools=pools)


def _originals(febrl) -> dict[str, object]:
    return {record.entity: record for record in febrl.records if record.rec_id.endswith("-org")}


def test_pools_are_read_from_febrl1_and_febrl2_only(monkeypatch):
    read = []

    def spy(number, path=None):
        read.append(number)
        return read_febrl(number, path)

    monkeypatch.setattr(synthetic, "read_febrl", spy)
    ValuePools.from_febrl()
    assert sorted(read) == [1, 2]


def test_the_same_seed_gives_the_same_records(pools, generated):
    again = generate_febrl_style(RECORDS, seed=SEED, pools=pools)
    assert again.records == generated.records
    assert again.corruptions == generated.corruptions
    other = generate_febrl_style(RECORDS, seed=SEED + 1, pools=pools)
    assert other.records != generated.records


def test_a_fifth_are_duplicates_of_at_most_five_per_original(generated):
    assert len(generated.records) == RECORDS
    assert generated.duplicates == round(RECORDS * DUPLICATE_SHARE)
    assert generated.originals == RECORDS - generated.duplicates
    sizes = Counter(Counter(record.entity for record in generated.records).values())
    assert max(sizes) <= 1 + MAX_DUPLICATES
    assert len(sizes) >= 4  # 1 + Poisson: several cluster sizes, not one


def test_every_corruption_kind_appears(generated):
    kinds = Counter(kind for applied in generated.corruptions.values() for kind in applied)
    assert set(kinds) == set(CORRUPTIONS)
    assert {len(applied) for applied in generated.corruptions.values()} == set(
        range(1, MAX_CORRUPTIONS + 1)
    )


def test_the_truth_is_consistent(generated):
    rec_ids = [record.rec_id for record in generated.records]
    assert len(set(rec_ids)) == len(rec_ids)
    originals = _originals(generated)
    duplicates = [record for record in generated.records if "-dup-" in record.rec_id]
    assert {record.rec_id for record in duplicates} == set(generated.corruptions)
    assert all(record.entity in originals for record in duplicates)  # none orphaned
    # a duplicate keeps most of its original: what no corruption touched is unchanged
    for record in duplicates:
        original = originals[record.entity]
        assert record.state == original.state and record.soc_sec_id == original.soc_sec_id
    changed = sum(1 for record in duplicates if record != originals[record.entity])
    assert changed >= 0.98 * len(duplicates)  # a later corruption may undo an earlier one
    truth = generated.truth()
    assert len(truth) == RECORDS
    expected = sum(n * (n - 1) // 2 for n in Counter(truth.values()).values())
    assert len(generated.true_pairs()) == expected > 0


def test_originals_draw_their_values_from_the_pools(pools, generated):
    febrl = [read_febrl(number) for number in (1, 2)]
    given = {r.given_name for s in febrl for r in s.records if r.rec_id.endswith("-org")}
    surnames = {r.surname for s in febrl for r in s.records if r.rec_id.endswith("-org")}
    assert set(pools.given_names) == given and set(pools.surnames) == surnames
    for record in _originals(generated).values():
        assert record.given_name in given and record.surname in surnames
        assert record.address_2 in set(pools.localities)
        assert record.suburb in set(pools.suburbs) and record.postcode in set(pools.postcodes)
    # a name that only a replacement touched is another name from the pool
    replaced = [
        record
        for record in generated.records
        if generated.corruptions.get(record.rec_id) == ("name_replaced",)
    ]
    assert replaced
    for record in replaced:
        assert record.given_name in given and record.surname in surnames


def test_records_export_as_loyalty_signups(generated):
    rows, impossible = loyalty_signup_rows(generated)
    assert len(rows) == RECORDS and all(len(row) == len(LOYALTY_SIGNUP_COLUMNS) for row in rows)
    card = LOYALTY_SIGNUP_COLUMNS.index("loyalty_card_id")
    assert all(row[card].startswith(f"febrl{SYNTHETIC_SET}-rec-") for row in rows)
    # day/month swaps and digit typos make some birth dates impossible: written empty
    assert 0 < impossible < generated.duplicates
