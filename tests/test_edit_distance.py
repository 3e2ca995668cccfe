"""The matched layer's PL/pgSQL edit distance (macros/matching/create_matching_functions.sql)
against a plain Python optimal string alignment distance, on random strings that reach every
path of the function: the bit-parallel one (ASCII, up to 62 characters), the banded table
(longer or non-ASCII text), early exits, empty strings and every k from 0 to beyond the
length."""

from __future__ import annotations

import random
from pathlib import Path

import jinja2

MACRO = Path(__file__).absolute().parent.parent / "macros/matching/create_matching_functions.sql"
SCHEMA = "edit_distance_test"


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment: insertions, deletions, substitutions and transpositions of
    adjacent characters each cost 1 (no substring edited twice)."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        table[i][0] = i
    for j in range(len(b) + 1):
        table[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
    return table[len(a)][len(b)]


def _install(warehouse) -> None:
    """The macro's SQL rendered into its own schema (no dbt needed: it only reads
    target.schema)."""
    source = MACRO.read_text()
    body = source[source.index("%}", source.index("macro create_matching_functions")) + 2 :]
    body = body[: body.rindex("{%- endmacro %}")]
    sql = jinja2.Template(body).render(target={"schema": SCHEMA})
    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute(sql)
        conn.commit()


def _cases(rng: random.Random) -> list[tuple[str, str, int]]:
    def slips(text: str, count: int, alphabet: str) -> str:
        for _ in range(count):
            chars = list(text)
            position = rng.randrange(len(chars) + 1)
            kind = rng.choice("isdt")
            if kind == "i" or not chars:
                chars.insert(position, rng.choice(alphabet))
            elif kind == "s":
                chars[min(position, len(chars) - 1)] = rng.choice(alphabet)
            elif kind == "d":
                del chars[min(position, len(chars) - 1)]
            elif len(chars) > 1:
                position = min(position, len(chars) - 2)
                chars[position], chars[position + 1] = chars[position + 1], chars[position]
            text = "".join(chars)
        return text

    cases = []
    for alphabet, longest in (("abcde", 12), ("abcdefghij ", 20), ("aeé ßx", 10), ("ab", 70)):
        for _ in range(400):
            a = "".join(rng.choice(alphabet) for _ in range(rng.randrange(longest + 1)))
            b = (
                slips(a, rng.randrange(5), alphabet)
                if rng.random() < 0.7
                else "".join(rng.choice(alphabet) for _ in range(rng.randrange(longest + 1)))
            )
            cases.append((a, b, rng.choice([0, 1, 2, 3, max(len(a), len(b), 1)])))
    cases += [("", "", 2), ("", "abc", 2), ("abc", "", 5), ("stephen", "stephne", 1)]
    cases += [("x" * 62, "x" * 61 + "y", 1), ("x" * 63, "y" + "x" * 62, 2)]
    return cases


def test_edit_distance_within_is_the_osa_distance_capped(warehouse):
    _install(warehouse)
    cases = _cases(random.Random(21))
    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute(
            f"""
            select
                {SCHEMA}.edit_distance_within(a, b, k),
                {SCHEMA}.edit_distance_within_banded(a, b, k)
            from unnest(%s::text[], %s::text[], %s::integer[]) as cases (a, b, k)
            """,
            ([a for a, _, _ in cases], [b for _, b, _ in cases], [k for _, _, k in cases]),
        )
        found = cur.fetchall()
    wrong = []
    for (a, b, k), (fast, banded) in zip(cases, found, strict=True):
        expected = min(osa_distance(a, b), k + 1)
        if (fast, banded) != (expected, expected):
            wrong.append((a, b, k, expected, fast, banded))
    assert not wrong, wrong[:10]
    # the cases reach both paths and both sides of the cap
    assert any(len(a) > 62 or not a.isascii() for a, _, _ in cases)
    assert any(osa_distance(a, b) > k for a, b, k in cases)
    assert any(0 < osa_distance(a, b) <= k for a, b, k in cases)
