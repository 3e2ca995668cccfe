"""Identity matching on the public FEBRL benchmark sets (issue #21; docs/matching-evaluation.md).

Unit tests of the reader, the sign-up export and the scoring on a hand-made set, and one
integration test: FEBRL1 and FEBRL2 dropped as POS loyalty sign-up files into a tiny demo,
loaded by the loaders, matched by ``dbt build --select +identity_map`` and scored against the
sets' labels. Only FEBRL1 and FEBRL2: the package's other sets are held out.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ciw.config import Paths
from ciw.dbt import DbtSession
from ciw.evaluation.febrl import (
    COUNTRY_CODE,
    LOYALTY_SIGNUP_COLUMNS,
    SIGNED_UP_AT,
    STORE_ID,
    FebrlError,
    blocking_recall,
    evaluate_febrl,
    iso_birth_date,
    read_febrl,
    record_key,
    score_clusters,
    write_loyalty_signups,
)
from ciw.matching.step import run_match_step
from ingestion.sources.pos.settings import LOYALTY_SIGNUPS

ROOT = Path(__file__).absolute().parent.parent

# The targets are pairwise F1 1.0 (FEBRL1) and 0.9974 (FEBRL2, Splink's); measured
# 0.9960 and 0.9977 (docs/matching.md: most of FEBRL1's 4 missing pairs look exactly like two
# people of one household, whom the household guard keeps apart). The floors sit just below.
MIN_PRECISION = 0.999
MIN_F1 = {1: 0.995, 2: 0.997}

TINY_SET = """\
rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, \
date_of_birth, soc_sec_id
rec-1-org, kayla, harrington, 6, tullaroop street, willaroo, st james, 4011, wa, 19081209, 6988048
rec-1-dup-0, kayla, harringtn, 6, tullaroop st, willaroo, st james, 4011, wa, 19081290, 6988048
rec-1-dup-1, kaila, harrington, , tullaroop street, , st james, 4011, wa, , 6988048
rec-2-org, , berry, 69, giblin street, killarney, bittern, 4814, qld, 19990219, 7364009
rec-3-org, deakin, sondergeld, 48, goldfinch circuit, kooltuo, canterbury, 2776, vic, 19601310, 1
"""


@pytest.fixture
def tiny(tmp_path: Path):
    path = tmp_path / "tiny.csv"
    path.write_text(TINY_SET, encoding="utf-8")
    return read_febrl(1, path)


def _key(rec_id: str, number: int = 1) -> str:
    return record_key(f"febrl{number}-{rec_id}")


def test_reader_takes_the_labels_from_rec_ids(tiny):
    assert [r.rec_id for r in tiny.records][:2] == ["rec-1-org", "rec-1-dup-0"]
    assert tiny.records[0].address_1 == "tullaroop street"  # leading spaces dropped
    assert tiny.records[3].given_name == ""
    assert tiny.true_pairs() == {
        (_key("rec-1-dup-0"), _key("rec-1-dup-1")),
        (_key("rec-1-dup-0"), _key("rec-1-org")),
        (_key("rec-1-dup-1"), _key("rec-1-org")),
    }
    assert _key("rec-1-org") == "pos:loyalty_signups:febrl1-rec-1-org"


@pytest.mark.parametrize("number", [3, 4, "4a", "4b", 0, "1"])
def test_only_febrl1_and_febrl2_are_read(number, tmp_path):
    with pytest.raises(ValueError, match="held out"):
        read_febrl(number, tmp_path / "whatever.csv")


def test_malformed_file_is_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("rec_id, given_name\nrec-1-org, kayla\n", encoding="utf-8")
    with pytest.raises(FebrlError, match="columns"):
        read_febrl(2, path)
    path.write_text(TINY_SET.replace("rec-2-org", "record two"), encoding="utf-8")
    with pytest.raises(FebrlError, match="rec_id"):
        read_febrl(2, path)


def test_installed_sets_have_their_published_sizes():
    """1,000 records and 500 true pairs; 5,000 records and 1,934 true pairs."""
    first, second = read_febrl(1), read_febrl(2)
    assert (len(first.records), len(first.true_pairs())) == (1000, 500)
    assert (len(second.records), len(second.true_pairs())) == (5000, 1934)


def test_birth_dates():
    assert iso_birth_date("19081209") == "1908-12-09"
    assert iso_birth_date("") == ""
    assert iso_birth_date("19601310") is None  # month 13
    assert iso_birth_date("19000229") is None  # not a leap year
    assert iso_birth_date("1960131") is None


def test_export_is_a_pos_loyalty_signup_file(tiny, tmp_path):
    drop = write_loyalty_signups(tiny, tmp_path / "pos" / "loyalty_signups")
    assert drop.path.name == "loyalty_signups_febrl1.csv"
    assert (drop.records, drop.impossible_birth_dates) == (5, 2)  # 19081290, 19601310
    with drop.path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == LOYALTY_SIGNUP_COLUMNS
    # every column the POS loader declares is there (the rest load as schema drift)
    assert {column.name for column in LOYALTY_SIGNUPS.columns} <= set(rows[0])
    assert rows[0] == {
        "loyalty_card_id": "febrl1-rec-1-org",
        "first_name": "kayla",
        "last_name": "harrington",
        "date_of_birth": "1908-12-09",
        "email": "",
        "phone": "",
        "address_line1": "6 tullaroop street",
        "address_line2": "willaroo",
        "city": "st james",
        "postcode": "4011",
        "country_code": COUNTRY_CODE,
        "store_id": STORE_ID,
        "signed_up_at": SIGNED_UP_AT,
    }
    assert rows[1]["date_of_birth"] == ""  # 19081290: impossible, left empty
    assert rows[2]["address_line1"] == "tullaroop street"  # no street number: trimmed
    assert rows[2]["date_of_birth"] == ""  # none given
    # the loader accepts every row
    for row in rows:
        LOYALTY_SIGNUPS.clean(row)


def test_scores_of_a_partly_wrong_clustering(tiny):
    truth = tiny.truth()
    a, b, c = (_key(r) for r in ("rec-1-org", "rec-1-dup-0", "rec-1-dup-1"))
    d, e = _key("rec-2-org"), _key("rec-3-org")
    # {a, b} found, c wrongly put with d, e alone: 1 of 2 predicted pairs right, 1 of 3 found
    scores = score_clusters(truth, {a: 10, b: 10, c: 20, d: 20, e: 30})
    assert (scores.true_pairs, scores.predicted_pairs, scores.correct_pairs) == (3, 2, 1)
    assert scores.precision == pytest.approx(0.5)
    assert scores.recall == pytest.approx(1 / 3)
    assert scores.f1 == pytest.approx(0.4)
    # clusters: true {a,b,c} {d} {e}; predicted {a,b} {c,d} {e}: only {e} exactly
    assert (scores.true_clusters, scores.predicted_clusters, scores.exact_clusters) == (3, 3, 1)
    assert scores.cluster_f1 == pytest.approx(1 / 3)
    assert scores.records == 5 and scores.records_missing == 0


def test_scores_of_perfect_missing_and_empty_predictions(tiny):
    truth = tiny.truth()
    perfect = score_clusters(truth, dict(truth))
    assert (perfect.precision, perfect.recall, perfect.f1, perfect.cluster_f1) == (1, 1, 1, 1)
    # records missing from the prediction count as singletons; records it has beyond the truth
    # (the demo's, another set's) are not scored
    partial = score_clusters(truth, {_key("rec-1-org"): 1, _key("rec-1-dup-0"): 1, "x": 1})
    assert partial.records_missing == 3
    assert (partial.predicted_pairs, partial.correct_pairs) == (1, 1)
    assert partial.exact_clusters == 2  # {d} and {e}
    nothing = score_clusters(truth, {})
    assert (nothing.precision, nothing.recall, nothing.f1) == (1.0, 0.0, 0.0)


def test_blocking_recall_is_the_share_of_true_pairs_among_candidates(tiny):
    a, b, c = (_key(r) for r in ("rec-1-org", "rec-1-dup-0", "rec-1-dup-1"))
    candidates = [(b, a), (a, c), (_key("rec-2-org"), _key("rec-3-org"))]
    assert blocking_recall(candidates, tiny.true_pairs()) == pytest.approx(2 / 3)
    assert blocking_recall([], []) == 1.0


def test_scores_read_from_the_warehouse(monkeypatch, tmp_path, warehouse, tiny):
    """identity_map and the compared pairs as the matched layer leaves them (no manifest: the
    default relations)."""
    from ciw.evaluation.febrl import candidate_pairs, score_warehouse

    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    a, b, c, d, e = (tiny.loyalty_card_id(record) for record in tiny.records)
    assert candidate_pairs(warehouse, ROOT) is None  # no such table: not available
    with warehouse.cursor() as cur:
        cur.execute(
            "create schema marts; create schema matched; create table marts.identity_map "
            "(source_system text, source_table text, source_record_id text, customer_id bigint); "
            "create table matched.int_identity_pairs_compared "
            "(left_record_key text, right_record_key text)"
        )
        rows = [(a, 1), (b, 1), (c, 2), (d, 3), (e, 3), ("LC0000001", 2), ("febrl2-rec-3-org", 3)]
        cur.executemany(
            "insert into marts.identity_map values ('pos', 'loyalty_signups', %s, %s)", rows
        )
        cur.execute("insert into marts.identity_map values ('shop', 'accounts', 'febrl1-x', 1)")
        cur.executemany(
            "insert into matched.int_identity_pairs_compared values (%s, %s)",
            [(record_key(b), record_key(a)), (record_key(d), record_key(e))],
        )
    result = score_warehouse(warehouse, ROOT, tiny)
    assert (result.scores.predicted_pairs, result.scores.correct_pairs) == (2, 1)
    assert result.scores.records_missing == 0
    # c with a demo card, d and e with FEBRL2's rec-3-org, a and b with a shop account
    assert result.records_joined_to_others == 5
    assert result.blocking_recall == pytest.approx(1 / 3)


@pytest.mark.slow
def test_febrl_sets_are_matched(monkeypatch, tmp_path, warehouse):
    """FEBRL1 and FEBRL2 in one warehouse, each scored on its own records. Expected to fail
    until the Fellegi-Sunter matcher lands: the assertion message carries the figures."""
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))  # this warehouse's manifest
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    paths = Paths(project=ROOT, home=tmp_path / "home")
    evaluation = evaluate_febrl(warehouse, paths, (1, 2))

    figures = []
    for number, result in sorted(evaluation.scores.items()):
        scores = result.scores
        assert scores.records_missing == 0, (number, scores)  # none quarantined or dropped
        figures.append(
            f"FEBRL{number}: precision {scores.precision:.4f}, recall {scores.recall:.4f}, "
            f"F1 {scores.f1:.4f}, cluster F1 {scores.cluster_f1:.4f} "
            f"({scores.correct_pairs}/{scores.predicted_pairs} predicted, "
            f"{scores.true_pairs} true pairs; joined to other records: "
            f"{result.records_joined_to_others})"
        )
    summary = "; ".join(figures)
    assert evaluation.drops[1].impossible_birth_dates == 3, summary
    assert evaluation.drops[2].impossible_birth_dates == 10, summary
    for number, result in evaluation.scores.items():
        assert result.scores.precision >= MIN_PRECISION, summary
        assert result.scores.f1 >= MIN_F1[number], summary
        assert result.records_joined_to_others == 0, summary
    assert evaluation.build.ok, evaluation.build.failures

    # the refit on the new warehouse weighed nothing: the build weighed every pair with it
    fits = warehouse.query("select model_id from matching.match_models")
    weighed = warehouse.query("select distinct model_id from matched.int_identity_links_fuzzy")
    assert len(fits) == 1 and weighed == fits

    # a run killed after writing a new fit but before weighing every pair again: the next run
    # finishes the re-weighing (else the weighed links and the clusters after them disagree)
    warehouse.query(
        "insert into matching.match_models select 'killed-run', record_count, "
        "candidate_pair_count, sampled_pair_count, prior_match_probability, em_iterations, "
        "em_sessions, fit_seconds, now() from matching.match_models"
    )
    warehouse.query(
        "insert into matching.match_weights select 'killed-run', comparison, comparison_level, "
        "m_probability, u_probability from matching.match_weights"
    )
    dbt = DbtSession(warehouse, paths)
    assert run_match_step(dbt, warehouse, ROOT).reweighed
    weighed = warehouse.query("select distinct model_id from matched.int_identity_links_fuzzy")
    assert weighed == [("killed-run",)]
    assert not run_match_step(dbt, warehouse, ROOT).reweighed  # done once, not every run

    # a refit over weighed pairs draws new random pairs and weighs every pair again
    sampled_before = warehouse.query(
        "select max(computed_at) from matched.int_identity_pairs_sampled"
    )[0][0]
    refit = run_match_step(dbt, warehouse, ROOT, refit=True)
    assert refit.refitted and refit.reweighed
    weighed = warehouse.query("select distinct model_id from matched.int_identity_links_fuzzy")
    assert weighed == [(refit.model.model_id,)]
    sampled = warehouse.query(
        "select min(computed_at), count(*) from matched.int_identity_pairs_sampled"
    )[0]
    assert sampled[0] > sampled_before and sampled[1] == refit.model.sampled_pair_count
