"""Identity-matching quality against the demo generator's ground truth.

    .venv/bin/python bench/match_quality.py --truth .warehouse/demo/truth [--dsn ...]

Reads ``marts.identity_map`` and scores it against ``truth/identity_truth.csv``: pairwise
precision, recall and F1 over identity records, the share of true persons split across several
customer ids, the share of customer ids holding several persons, and wrong merges of different
people who share a household address or a family email.

It also reports the *evidence ceiling*: the recall a perfect matcher could reach from what the
data says. Two records of one person are reachable when a chain of that person's records joins
them in which each step shares an identifier value (email, phone, account, loyalty card, card
token, as the warehouse normalised them) or both names plus a birth date or a postcode. A card
token only ever used anonymously, or a newsletter sign-up whose email appears nowhere else, is
the person's in the ground truth but carries nothing that could tie it to them; no rule can
find those pairs without guessing from a name alone. ``recall_of_reachable`` is the recall
over the reachable pairs only.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).absolute().parent.parent
sys.path.insert(0, str(ROOT))


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def truth_by_record(truth_dir: Path) -> dict[tuple[str, str, str], str]:
    """(source_system, source_table, source_record_id) -> person_id, including the derived
    identity records: card tokens (via POS transactions) and cookies (via web events)."""
    truth: dict[tuple[str, str, str], str] = {}
    with (truth_dir / "identity_truth.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            truth[(row["source_system"], row["source_table"], row["source_record_id"])] = row[
                "person_id"
            ]
    return truth


def score(records: list[tuple[str, str, str, int]], truth: dict, persons_csv: Path) -> dict:
    """records: (source_system, source_table, source_record_id, customer_id)."""
    scored = [(truth.get((s, t, r)), c) for s, t, r, c in records]
    scored = [(p, c) for p, c in scored if p is not None]
    by_cell = Counter(scored)
    by_customer = Counter(c for _, c in scored)
    by_person = Counter(p for p, _ in scored)
    true_positive = sum(_pairs(n) for n in by_cell.values())
    predicted = sum(_pairs(n) for n in by_customer.values())
    actual = sum(_pairs(n) for n in by_person.values())
    precision = true_positive / predicted if predicted else 1.0
    recall = true_positive / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    customers_of_person: dict[str, set] = defaultdict(set)
    persons_of_customer: dict[int, set] = defaultdict(set)
    for person, customer in scored:
        customers_of_person[person].add(customer)
        persons_of_customer[customer].add(person)
    households: dict[str, str] = {}
    with persons_csv.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            households[row["person_id"]] = row["household_id"]
    household_merges = sum(
        1
        for people in persons_of_customer.values()
        if len(people) > 1 and len({households.get(p) for p in people}) == 1
    )
    return {
        "records_scored": len(scored),
        "persons": len(by_person),
        "customers": len(by_customer),
        "pairwise_precision": round(precision, 5),
        "pairwise_recall": round(recall, 5),
        "pairwise_f1": round(f1, 5),
        "persons_split_share": round(
            sum(len(c) > 1 for c in customers_of_person.values()) / max(len(by_person), 1), 5
        ),
        "customers_with_several_persons_share": round(
            sum(len(p) > 1 for p in persons_of_customer.values()) / max(len(by_customer), 1), 5
        ),
        "household_only_merges": household_merges,
    }


def _root(parent: list[int], node: int) -> int:
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


def evidence_ceiling(warehouse, records: list[tuple[str, str, str, int]], truth: dict) -> dict:
    """Pairs a perfect matcher could reach from the data, and the recall within them (see the
    module's docstring). ``records`` as for :func:`score`."""
    identifiers: dict[str, set] = defaultdict(set)
    for key, kind, value in warehouse.query(
        "select record_key, identifier_type, identifier_value "
        "from matched.int_identifiers_unpivoted"
    ):
        identifiers[key].add((kind, value))
    attributes = {
        (system, table, record_id): (key, has_names, birth_date, postcode)
        for system, table, record_id, key, has_names, birth_date, postcode in warehouse.query(
            "select source_system, source_table, source_record_id, record_key, "
            "first_name_normalized is not null and last_name_normalized is not null, "
            "birth_date, postcode from matched.int_identity_records_unioned"
        )
    }
    by_person: dict[str, list] = defaultdict(list)
    for system, table, record_id, customer in records:
        person = truth.get((system, table, record_id))
        if person is not None and (system, table, record_id) in attributes:
            by_person[person].append((attributes[(system, table, record_id)], customer))

    def evidence(a, b) -> bool:
        (key_a, names_a, birth_a, post_a), (key_b, names_b, birth_b, post_b) = a, b
        if identifiers[key_a] & identifiers[key_b]:
            return True
        same_birth_date = birth_a is not None and birth_a == birth_b
        same_postcode = post_a is not None and post_a == post_b
        return bool(names_a and names_b) and (same_birth_date or same_postcode)

    actual = reachable = found = 0
    for recs in by_person.values():
        n = len(recs)
        actual += _pairs(n)
        parent = list(range(n))
        for i in range(n):
            for j in range(i + 1, n):
                if evidence(recs[i][0], recs[j][0]):
                    parent[_root(parent, i)] = _root(parent, j)
        components = Counter(_root(parent, i) for i in range(n))
        reachable += sum(_pairs(size) for size in components.values())
        cells = Counter((_root(parent, i), recs[i][1]) for i in range(n))
        found += sum(_pairs(size) for size in cells.values())
    return {
        "evidence_ceiling_recall": round(reachable / actual, 5) if actual else 1.0,
        "recall_of_reachable": round(found / reachable, 5) if reachable else 1.0,
    }


def derived_truth(warehouse, truth: dict) -> None:
    """Card tokens and cookies are identity records too: their person is the one behind the
    transactions / events that carry them."""
    for (system, table, record_id), person in list(truth.items()):
        if system == "pos" and table == "transactions":
            truth[("_txn", "", record_id)] = person
        elif system == "web" and table == "events":
            truth[("_evt", "", record_id)] = person
    tokens = warehouse.query(
        "select transaction_id, card_token_hash from staging.stg_pos__transactions "
        "where card_token_hash is not null"
    )
    for txn, token in tokens:
        person = truth.get(("_txn", "", txn))
        if person:
            truth[("pos", "card_tokens", token)] = person
    cookies = warehouse.query("select event_id, cookie_id from staging.stg_web__events")
    for event, cookie in cookies:
        person = truth.get(("_evt", "", event))
        if person:
            truth[("web", "cookies", cookie)] = person


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", default=str(ROOT / ".warehouse" / "demo" / "truth"))
    parser.add_argument("--dsn", help="warehouse DSN (default $CIW_DSN or embedded)")
    args = parser.parse_args()
    from ciw.config import Paths
    from ciw.warehouse import resolve_warehouse

    warehouse, _ = resolve_warehouse(args.dsn, Paths.discover().pgdata)
    truth_dir = Path(args.truth)
    truth = truth_by_record(truth_dir)
    derived_truth(warehouse, truth)
    records = warehouse.query(
        "select source_system, source_table, source_record_id, customer_id from marts.identity_map"
    )
    result = score(records, truth, truth_dir / "persons.csv")
    result.update(evidence_ceiling(warehouse, records, truth))
    out = io.StringIO()
    json.dump(result, out, indent=2)
    print(out.getvalue())


if __name__ == "__main__":
    main()
