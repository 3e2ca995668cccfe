"""Deterministic demo source systems: a web shop database, store POS CSV drops, a helpdesk
API's tickets, web analytics JSONL drops and an email service provider's contacts and events,
plus a ground-truth file mapping every person-bearing record to the real person behind it.

Same arguments, byte-identical output: only ``random.Random(seed)`` is used.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import pickle
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import IO, Any

FIRST_NAMES = [
    "William",
    "Robert",
    "Elizabeth",
    "Katherine",
    "Margaret",
    "James",
    "Michael",
    "Jonathan",
    "Alexander",
    "Christopher",
    "Thomas",
    "Richard",
    "Edward",
    "Joseph",
    "Daniel",
    "Samuel",
    "Rebecca",
    "Jennifer",
    "Susan",
    "Patricia",
    "Nicholas",
    "Matthew",
    "Andrew",
    "Anthony",
    "Deborah",
    "Victoria",
    "Catherine",
    "Stephen",
    "Benjamin",
    "Charlotte",
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Noah",
    "Oliver",
    "George",
    "Harry",
    "Jack",
    "Leo",
    "Freya",
    "Grace",
    "Emily",
    "Sophie",
    "Lucy",
    "Hannah",
    "Zoë",
    "José",
    "Renée",
    "Siân",
    "Chloé",
    "Aoife",
    "Niamh",
    "Priya",
    "Mohammed",
    "Fatima",
    "Arjun",
    "Wei",
    "Mei",
    "Kwame",
    "Amara",
    "Lukas",
    "Anja",
    "Mateo",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "James",
    "Scott",
    "Phillips",
    "Watson",
    "Davis",
    "Parker",
    "O'Brien",
    "Smith-Jones",
    "McDonald",
    "Khan",
    "Ahmed",
    "Singh",
    "Nowak",
    "García",
    "Müller",
    "Ó Súilleabháin",
    "Fitzgerald",
    "Okafor",
    "Chen",
    "Nguyen",
    "Kowalski",
    "D'Souza",
]
NICKNAMES = {
    "William": ["Bill", "Will", "Liam"],
    "Robert": ["Bob", "Rob"],
    "Elizabeth": ["Liz", "Beth", "Lizzie"],
    "Katherine": ["Kate", "Kathy"],
    "Margaret": ["Maggie", "Peggy"],
    "James": ["Jim", "Jamie"],
    "Michael": ["Mike"],
    "Jonathan": ["Jon"],
    "Alexander": ["Alex"],
    "Christopher": ["Chris"],
    "Thomas": ["Tom"],
    "Richard": ["Rick"],
    "Edward": ["Ed", "Ted"],
    "Joseph": ["Joe"],
    "Daniel": ["Dan"],
    "Samuel": ["Sam"],
    "Rebecca": ["Becky"],
    "Jennifer": ["Jen"],
    "Susan": ["Sue"],
    "Patricia": ["Pat"],
    "Nicholas": ["Nick"],
    "Matthew": ["Matt"],
    "Andrew": ["Andy"],
    "Anthony": ["Tony"],
    "Deborah": ["Debbie"],
    "Victoria": ["Vicky"],
    "Catherine": ["Cathy", "Kate"],
    "Stephen": ["Steve"],
    "Benjamin": ["Ben"],
    "Charlotte": ["Lottie", "Charlie"],
}
ACCENTS = str.maketrans("ëéèêáàâäíïîóöôúüûñçÓÁÉÍÚ", "eeeeaaaaiiiooouuuncOAEIU")
STREETS = [
    ("High", "Street"),
    ("Station", "Road"),
    ("Church", "Lane"),
    ("Park", "Avenue"),
    ("Victoria", "Road"),
    ("Green", "Lane"),
    ("Manor", "Road"),
    ("Kings", "Road"),
    ("Queens", "Avenue"),
    ("Mill", "Lane"),
    ("Grange", "Road"),
    ("New", "Street"),
    ("Albert", "Street"),
    ("London", "Road"),
    ("West", "Street"),
    ("Windsor", "Close"),
]
STREET_ABBREVIATIONS = {"Street": "St", "Road": "Rd", "Avenue": "Ave", "Lane": "Ln", "Close": "Cl"}
CITIES = [
    ("London", "SW1A"),
    ("London", "E14"),
    ("Manchester", "M1"),
    ("Leeds", "LS1"),
    ("Bristol", "BS1"),
    ("Birmingham", "B1"),
    ("Glasgow", "G1"),
    ("Cardiff", "CF10"),
    ("Edinburgh", "EH1"),
    ("Liverpool", "L1"),
    ("Norwich", "NR1"),
    ("York", "YO1"),
]
# ~2.5% of households live abroad (weights: how often each country comes up); their cities
# with the postcode area (a prefix, or a range of numbers) and their streets
ABROAD_SHARE = 0.025
ABROAD = {"IE": 3, "AU": 2, "US": 2, "CA": 1, "DE": 2, "FR": 1, "NL": 1}
CITIES_ABROAD = {
    "IE": [("Dublin", "D02"), ("Dublin", "D08"), ("Cork", "T12"), ("Galway", "H91")],
    "AU": [("Sydney", "2000-2234"), ("Melbourne", "3000-3207"), ("Brisbane", "4000-4179")],
    "US": [("New York", "10001-10282"), ("Boston", "02108-02137"), ("Chicago", "60601-60661")],
    "CA": [("Toronto", "M5V"), ("Ottawa", "K1P"), ("Vancouver", "V6B"), ("Montréal", "H2X")],
    "DE": [("Berlin", "10115-14199"), ("München", "80331-81929"), ("Köln", "50667-51149")],
    "FR": [("Paris", "75001-75020"), ("Lyon", "69001-69009"), ("Marseille", "13001-13016")],
    "NL": [("Amsterdam", "1011-1109"), ("Rotterdam", "3011-3089"), ("Utrecht", "3511-3585")],
}
STREETS_ABROAD = {
    "IE": [("Main", "Street"), ("Church", "Road"), ("Patrick", "Street"), ("Castle", "Avenue")],
    "AU": [("George", "Street"), ("Collins", "Street"), ("Beach", "Road"), ("Hay", "Street")],
    "US": [("Main", "Street"), ("Maple", "Avenue"), ("Oak", "Street"), ("Park", "Avenue")],
    "CA": [("Yonge", "Street"), ("King", "Street"), ("Bank", "Street"), ("Elgin", "Street")],
    "DE": [("Haupt", "straße"), ("Bahnhof", "straße"), ("Garten", "weg"), ("Linden", "allee")],
    "FR": [("de la Paix", "rue"), ("Victor Hugo", "avenue"), ("Voltaire", "boulevard")],
    "NL": [("Kerk", "straat"), ("Dorps", "straat"), ("Stations", "weg"), ("Wilhelmina", "laan")],
}
AREA_CODES = {  # North American phone area codes of the cities above
    "New York": "212",
    "Boston": "617",
    "Chicago": "312",
    "Toronto": "416",
    "Ottawa": "613",
    "Vancouver": "604",
    "Montréal": "514",
}
CALLING_CODES = {"IE": "353", "AU": "61", "US": "1", "CA": "1", "DE": "49", "FR": "33", "NL": "31"}
EIRCODE_CHARACTERS = "0123456789ACDEFHKNPRTVWXY"
CANADIAN_POSTCODE_LETTERS = "ABCEGHJKLMNPRSTVWXYZ"
# address line 2 of ~20% of the households in English-speaking countries: a building or locality
ADDRESS_LINES_2 = [
    "Rose Cottage",
    "The Old Rectory",
    "Ivy House",
    "Mill House",
    "The Coach House",
    "Holly Lodge",
    "Westfield",
    "Oakwood",
    "Hillside",
    "Fairview",
    "Brookside",
    "Meadowbank",
]
DOMAINS = [
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "yahoo.co.uk",
    "btinternet.com",
    "icloud.com",
    "hotmail.co.uk",
]
JUNK_EMAILS = ["test@test.com", "noemail@noemail.com", "n/a", "none", ""]
JUNK_PHONES = ["0000000000", "07000000000", "n/a", ""]
CATEGORIES = [
    "Outdoor",
    "Kitchen",
    "Garden",
    "Toys",
    "Books",
    "Beauty",
    "Electronics",
    "Fashion",
    "Home",
    "Sports",
]
SUBJECTS = {
    "enquiry": [
        "Question about {p}",
        "Is {p} in stock?",
        "Delivery options for {p}",
        "Size guide for {p}",
        "Warranty on {p}",
    ],
    "complaint": [
        "{p} arrived damaged",
        "Late delivery",
        "Refund not received",
        "Wrong item sent instead of {p}",
        "Rude staff in store",
        "{p} stopped working",
    ],
}
STORES = [f"S{i:02d}" for i in range(1, 13)]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
OUTPUTS = ("shop.sqlite", "pos", "web", "helpdesk", "esp", "truth", "manifest.json")


@dataclass
class GenerateResult:
    out_dir: Path
    counts: dict[str, int]


@dataclass
class Person:
    person_id: str
    first_name: str
    last_name: str
    birth_date: dt.date
    emails: list[str]
    phone: str
    street: tuple[int, str, str]
    flat: int | None
    city: str
    postcode: str
    household_id: str
    cookies: list[str]
    cards: list[str]
    is_prospect: bool = False
    is_serial_complainer: bool = False
    uses_junk: bool = False
    has_duplicate_account: bool = False
    account_ids: list[int] = field(default_factory=list)
    loyalty_card_id: str | None = None
    family_email: str | None = None
    country: str = "GB"  # ISO 3166-1 alpha-2; phone is a national number of this country
    address_line2: str | None = None  # a building or locality name


def _ts(seconds: float) -> str:
    return (EPOCH + dt.timedelta(seconds=int(seconds))).strftime("%Y-%m-%d %H:%M:%S")


def _iso(seconds: float) -> str:
    return (EPOCH + dt.timedelta(seconds=int(seconds))).strftime("%Y-%m-%dT%H:%M:%SZ")


def _week(seconds: float) -> str:
    day = (EPOCH + dt.timedelta(seconds=int(seconds))).date()
    return (day - dt.timedelta(days=day.weekday())).isoformat()


class _Noise:
    """How a person's details look when typed into one record.

    Besides harmless variation (case, spacing, nicknames, phone and postcode formats) records
    carry the corruptions of real person records, at these rates per record (FEBRL-like):
    a replaced name, a missing name, a mistyped birth date and a mistyped postcode.
    """

    REPLACED_FIRST_NAME = 0.03  # another first name of the list, as a clerk mishearing it
    REPLACED_LAST_NAME = 0.01
    MISSING_FIRST_NAME = 0.03  # left empty (not on helpdesk tickets: agents ask for a name)
    MISSING_LAST_NAME = 0.01
    # birth dates: one digit mistyped, two adjacent digits transposed, day and month swapped
    # (of the dates where that gives another valid date: about 40%), one day off
    BIRTH_DATE_DIGIT = 0.015
    BIRTH_DATE_TRANSPOSED = 0.01
    BIRTH_DATE_DAY_MONTH = 0.025
    BIRTH_DATE_DAY_OFF = 0.01
    POSTCODE_TYPO = 0.02  # one character replaced by another of its kind, or two transposed

    def __init__(self, rng: Random) -> None:
        self.rng = rng

    def typo(self, text: str) -> str:
        if len(text) < 4:
            return text
        i = self.rng.randrange(1, len(text) - 1)
        kind = self.rng.random()
        if kind < 0.33:
            return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        if kind < 0.66:
            return text[:i] + text[i + 1 :]
        return text[:i] + self.rng.choice("aeiourstn") + text[i + 1 :]

    def other(self, names: list[str], name: str) -> str:
        """Another name of ``names`` than ``name``."""
        index = self.rng.randrange(len(names))
        return names[index] if names[index] != name else names[index - 1]

    def name(self, person: Person, heard: bool = True, blanks: bool = True) -> tuple[str, str]:
        """First and last name as typed. ``heard``: taken down by someone else (a clerk, an
        agent on the phone), who may write another name; ``blanks``: either may be left
        empty."""
        rng = self.rng
        first, last = person.first_name, person.last_name
        if first in NICKNAMES and rng.random() < 0.15:
            first = rng.choice(NICKNAMES[first])
        replaced = rng.random() if heard else 1.0
        if replaced < self.REPLACED_FIRST_NAME:
            first = self.other(FIRST_NAMES, person.first_name)
        elif replaced < self.REPLACED_FIRST_NAME + self.REPLACED_LAST_NAME:
            last = self.other(LAST_NAMES, person.last_name)
        if rng.random() < 0.05:
            if rng.random() < 0.5:
                first = self.typo(first)
            else:
                last = self.typo(last)
        if rng.random() < 0.3:
            first, last = first.translate(ACCENTS), last.translate(ACCENTS)
        case = rng.random()
        if case < 0.06:
            first, last = first.upper(), last.upper()
        elif case < 0.12:
            first, last = first.lower(), last.lower()
        roll = rng.random()
        if roll < 0.04:
            first, last = f" {first} ", f"{last}  "
        elif roll < 0.06:
            first, last = f"{first}.", f"{last},"
        elif roll < 0.08:
            last = last.replace("'", "").replace("-", " ") if rng.random() < 0.5 else f"{last}."
        if rng.random() < 0.02:
            first, last = last, first
        if blanks:
            missing = rng.random()
            if missing < self.MISSING_FIRST_NAME:
                first = ""
            elif missing < self.MISSING_FIRST_NAME + self.MISSING_LAST_NAME:
                last = ""
        return first, last

    def birth_date(self, person: Person) -> str:
        """The birth date as typed: now and then with one of the slips of real records, always
        a valid date (a slip that would not give one leaves the date as it is)."""
        born = person.birth_date
        roll = self.rng.random()
        cut = self.BIRTH_DATE_DIGIT
        if roll < cut:
            return self._birth_date_slip(born, transpose=False)
        cut += self.BIRTH_DATE_TRANSPOSED
        if roll < cut:
            return self._birth_date_slip(born, transpose=True)
        cut += self.BIRTH_DATE_DAY_MONTH
        if roll < cut:
            if born.day <= 12 and born.day != born.month:
                return born.replace(month=born.day, day=born.month).isoformat()
            return born.isoformat()
        cut += self.BIRTH_DATE_DAY_OFF
        if roll < cut:
            return (born + dt.timedelta(days=self.rng.choice((-1, 1)))).isoformat()
        return born.isoformat()

    def _birth_date_slip(self, born: dt.date, transpose: bool) -> str:
        """One digit of the year's last two, the month or the day mistyped, or two adjacent
        ones transposed; five tries at a valid date in the past."""
        digits = born.strftime("%Y%m%d")
        for _ in range(5):
            i = self.rng.randrange(2, 7 if transpose else 8)
            if transpose:
                slipped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
            else:
                other = self.rng.choice("012345678")
                other = "9" if other == digits[i] else other
                slipped = digits[:i] + other + digits[i + 1 :]
            if slipped == digits:
                continue
            try:
                day = dt.date(int(slipped[:4]), int(slipped[4:6]), int(slipped[6:]))
            except ValueError:
                continue
            if day.year < 2020:
                return day.isoformat()
        return born.isoformat()

    def email(self, person: Person, index: int = 0) -> str:
        rng = self.rng
        if person.uses_junk and rng.random() < 0.6:
            return rng.choices(JUNK_EMAILS, weights=(4, 3, 1, 1, 1))[0]
        if person.family_email and rng.random() < 0.5:
            return person.family_email
        email = person.emails[min(index, len(person.emails) - 1)]
        local, domain = email.split("@")
        if domain in ("gmail.com", "googlemail.com"):
            roll = rng.random()
            if roll < 0.15:
                local = local.replace(".", "")
            elif roll < 0.25:
                local = f"{local}+shop"
            elif roll < 0.3:
                domain = "googlemail.com" if domain == "gmail.com" else "gmail.com"
        if rng.random() < 0.08:
            local = local.upper() if rng.random() < 0.5 else local.capitalize()
        return f"{local}@{domain}"

    def phone(self, person: Person, international: bool = False) -> str:
        """The phone number as typed. A person abroad writes it in their country's national
        format (60%) or in international format; ``international``: always the latter (for
        records without a country column, which are read as GB)."""
        rng = self.rng
        if person.uses_junk and rng.random() < 0.6:
            return rng.choices(JUNK_PHONES, weights=(3, 3, 1, 1))[0]
        if person.country != "GB":
            national, abroad = _phone_formats(person.country, person.phone)
            return rng.choice(abroad if international or rng.random() < 0.4 else national)
        national = person.phone  # 07700900123
        body = national[1:]
        return rng.choice(
            [
                f"{national[:5]} {national[5:]}",
                f"+44 {body[:4]} {body[4:]}",
                f"+44{body}",
                f"44{body}",
                f"0044 {body[:4]} {body[4:]}",
                f"({national[:5]}) {national[5:8]}-{national[8:]}",
                national,
            ]
        )

    def address(self, person: Person) -> str:
        rng = self.rng
        number, street, kind = person.street
        if person.country in ("DE", "NL"):  # Hauptstraße 12, Kerkstraat 12
            if kind == "straße" and rng.random() < 0.3:
                kind = "strasse"
            line = f"{street}{kind} {number}"
        elif person.country == "FR":  # 12 rue de la Paix
            line = f"{number} {kind.capitalize() if rng.random() < 0.3 else kind} {street}"
        else:
            if rng.random() < 0.4:
                kind = STREET_ABBREVIATIONS.get(kind, kind)
            line = f"{number} {street} {kind}"
            if person.flat is not None and person.country in ("US", "CA"):
                line = f"{line} Apt {person.flat}"
            elif person.flat is not None:
                flat = "Unit" if person.country == "AU" else "Flat"
                line = f"{flat} {person.flat}{rng.choice((', ', ' ', ', '))}{line}"
        roll = rng.random()
        if roll < 0.08:
            return line.lower()
        if roll < 0.12:
            return line.upper()
        if roll < 0.15:
            return f"{line}  "
        return line

    def postcode(self, person: Person) -> str:
        rng = self.rng
        postcode = person.postcode
        if rng.random() < self.POSTCODE_TYPO:
            postcode = self._postcode_slip(postcode)
        roll = rng.random()
        if roll < 0.15:
            return postcode.replace(" ", "").lower()
        if roll < 0.25:
            return postcode.replace(" ", "")
        if roll < 0.3 and person.country == "US":
            return f"{postcode}-{rng.randint(1000, 9999)}"  # ZIP+4
        return postcode

    def _postcode_slip(self, postcode: str) -> str:
        rng = self.rng
        positions = [i for i, c in enumerate(postcode) if c != " "]
        i = rng.choice(positions[:-1])
        if rng.random() < 0.5 and postcode[i + 1] != " " and postcode[i] != postcode[i + 1]:
            return postcode[:i] + postcode[i + 1] + postcode[i] + postcode[i + 2 :]
        pool = "0123456789" if postcode[i].isdigit() else "ABCDEFGHJKLMNPRSTUVWXY"
        other = pool[(pool.find(postcode[i]) + rng.randrange(1, len(pool))) % len(pool)]
        return postcode[:i] + other + postcode[i + 1 :]


def _phone_formats(country: str, number: str) -> tuple[list[str], list[str]]:
    """The ways a national ``number`` of a country abroad is written: national formats and
    international ones (+, or the 00 prefix of Europe, which GB records read right too)."""
    code = CALLING_CODES[country]
    if country in ("US", "CA"):  # 2125550123
        a, b, c = number[:3], number[3:6], number[6:]
        national = [f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"1-{a}-{b}-{c}"]
        return national, [f"+1 {a}-{b}-{c}", f"+1{number}", f"+1 ({a}) {b}-{c}"]
    body = number[1:]  # without the trunk prefix 0
    if country == "IE":  # 087 123 4567
        national = [
            f"{number[:3]} {number[3:6]} {number[6:]}",
            number,
            f"({number[:3]}) {number[3:]}",
        ]
        grouped = f"{body[:2]} {body[2:5]} {body[5:]}"
    elif country == "AU":  # 0412 345 678
        national = [f"{number[:4]} {number[4:7]} {number[7:]}", number]
        grouped = f"{body[:3]} {body[3:6]} {body[6:]}"
    elif country == "DE":  # 0151 23456789
        national = [f"{number[:4]} {number[4:]}", f"{number[:4]}/{number[4:]}", number]
        grouped = f"{body[:3]} {body[3:]}"
    elif country == "FR":  # 06 12 34 56 78
        pairs = " ".join(number[i : i + 2] for i in range(0, 10, 2))
        national = [pairs, number, pairs.replace(" ", ".")]
        grouped = pairs[1:]
    else:  # NL: 06-12345678
        national = [f"{number[:2]}-{number[2:]}", f"{number[:2]} {number[2:]}", number]
        grouped = f"{body[0]} {body[1:]}"
    return national, [f"+{code} {grouped}", f"+{code}{body}", f"00{code} {grouped}"]


def _national_phone(rng: Random, country: str, city: str) -> str:
    """A mobile number as dialled within ``country`` (digits only)."""
    if country == "GB":
        return f"07{rng.randint(100, 999)}{rng.randint(100000, 999999)}"
    if country in ("US", "CA"):
        return f"{AREA_CODES[city]}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
    if country == "IE":
        return f"08{rng.choice('35679')}{rng.randint(1_000_000, 9_999_999)}"
    if country == "AU":
        return f"04{rng.randint(10_000_000, 99_999_999)}"
    if country == "DE":
        return f"01{rng.choice(('51', '52', '60', '70', '76'))}{rng.randint(10**7, 10**8 - 1)}"
    if country == "FR":
        return f"0{rng.choice('67')}{rng.randint(10_000_000, 99_999_999)}"
    return f"06{rng.randint(10_000_000, 99_999_999)}"  # NL


def _landline(rng: Random) -> str:
    """A GB fixed-line number (01xxx or 02x area codes), digits only."""
    if rng.random() < 0.3:
        return f"02{rng.choice('0389')}{rng.randint(10_000_000, 99_999_999)}"
    return f"01{rng.randint(100, 999)}{rng.randint(100_000, 999_999)}"


def _postcode_abroad(rng: Random, country: str, area: str) -> str:
    """A postcode in ``country``'s format, in ``area`` (a prefix, or a range of numbers)."""
    if country == "IE":  # Eircode: routing key + unique identifier, A65 F4E2
        return f"{area} {''.join(rng.choice(EIRCODE_CHARACTERS) for _ in range(4))}"
    if country == "CA":  # K1A 0B1
        letter = rng.choice(CANADIAN_POSTCODE_LETTERS)
        return f"{area} {rng.randint(0, 9)}{letter}{rng.randint(0, 9)}"
    low, high = area.split("-")
    number = f"{rng.randint(int(low), int(high)):0{len(low)}d}"
    if country == "NL":  # 1234 AB (never SA, SD or SS)
        return f"{number} {rng.choice('ABCDEFGHJKLMNPRTVWXZ')}{rng.choice('ABCDEGHJKLMNPRTVWXZ')}"
    return number  # AU 4 digits, US / DE / FR 5


def _ascii(text: str) -> str:
    return text.translate(ACCENTS).lower().replace(" ", "").replace("'", "").replace("-", "")


def _personal_emails(rng: Random, first: str, last: str, taken: set[str]) -> list[str]:
    """One or two unique personal addresses, in the shapes people really pick."""
    f, la = _ascii(first), _ascii(last)
    emails: list[str] = []
    while len(emails) < (2 if rng.random() < 0.3 else 1):
        shape = rng.random()
        if shape < 0.35:
            local = f"{f}.{la}"
        elif shape < 0.55:
            local = f"{f}{la}{rng.randint(1, 99)}"
        elif shape < 0.75:
            local = f"{f[0]}{la}{rng.randint(1, 999)}"
        elif shape < 0.9:
            local = f"{f}.{la}{rng.randint(1940, 2005)}"
        else:
            local = f"{f}_{la[:3]}{rng.randint(1, 9999)}"
        email = f"{local}@{rng.choice(DOMAINS)}"
        mailbox = _mailbox(email)
        if mailbox not in taken:
            taken.add(mailbox)
            emails.append(email)
    return emails


def _mailbox(email: str) -> str:
    """The mailbox an address reaches: gmail ignores dots and googlemail.com is gmail.com, so
    two people can never hold chloe.singh@gmail.com and chloesingh@googlemail.com."""
    local, _, domain = email.lower().partition("@")
    if domain in ("gmail.com", "googlemail.com"):
        return local.replace(".", "") + "@gmail.com"
    return f"{local}@{domain}"


def _ensure(rng: Random, persons: list[Person], attr: str, minimum: int, ok) -> None:
    """Small populations still get a few of each hard case (deterministically)."""
    have = sum(getattr(p, attr) for p in persons)
    candidates = [p for p in persons if not getattr(p, attr) and ok(p)]
    for person in rng.sample(candidates, max(0, min(minimum - have, len(candidates)))):
        setattr(person, attr, True)


def _people(rng: Random, customers: int) -> list[Person]:
    persons: list[Person] = []
    taken_emails: set[str] = set()
    taken_phones: set[str] = set()
    household = 0
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    while len(persons) < customers:
        household += 1
        # ~10% of households hold 2-4 persons, so ~25% of persons share an address
        size = 1 if rng.random() < 0.9 else rng.randint(2, 4)
        last = rng.choice(LAST_NAMES)
        country = "GB"
        if rng.random() < ABROAD_SHARE:
            country = rng.choices(list(ABROAD), weights=list(ABROAD.values()))[0]
        if country == "GB":
            city, district = rng.choice(CITIES)
            postcode = f"{district} {rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"
            street = (rng.randint(1, 220), *rng.choice(STREETS))
        else:
            city, area = rng.choice(CITIES_ABROAD[country])
            postcode = _postcode_abroad(rng, country, area)
            street = (rng.randint(1, 220), *rng.choice(STREETS_ABROAD[country]))
        flat = rng.randint(1, 24) if rng.random() < 0.2 else None
        line2 = None
        if country in ("DE", "FR", "NL"):  # flats and building names written otherwise there
            flat = None
        elif rng.random() < 0.2:
            line2 = rng.choice(ADDRESS_LINES_2)
        family_email = None
        if size > 1 and rng.random() < 0.3:  # ~3% of households
            family_email = f"the{_ascii(last)}s{rng.randint(1, 999)}@{rng.choice(DOMAINS)}"
            if _mailbox(family_email) in taken_emails:
                family_email = None
            else:
                taken_emails.add(_mailbox(family_email))
        # a third of the GB families share a fixed line, which some members give instead of
        # their mobile: one number, several people (drawn apart from `rng`, so the rest of
        # the demo is the same with or without them)
        landline = None
        household_rng = Random(f"landline|{household}")
        if size > 1 and country == "GB" and household_rng.random() < 0.3:
            landline = _landline(household_rng)
            while f"{country}{landline}" in taken_phones:
                landline = _landline(household_rng)
            taken_phones.add(f"{country}{landline}")
        for member in range(size):
            if len(persons) >= customers:
                break
            n = len(persons) + 1
            first = rng.choice(FIRST_NAMES)
            member_last = last if member == 0 or rng.random() < 0.8 else rng.choice(LAST_NAMES)
            phone = _national_phone(rng, country, city)
            while f"{country}{phone}" in taken_phones:
                phone = _national_phone(rng, country, city)
            taken_phones.add(f"{country}{phone}")
            if landline and household_rng.random() < 0.5:
                phone = landline
            person = Person(
                person_id=f"P{n:06d}",
                first_name=first,
                last_name=member_last,
                birth_date=dt.date(1940, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 64)),
                emails=_personal_emails(rng, first, member_last, taken_emails),
                phone=phone,
                street=street,
                flat=flat,
                city=city,
                postcode=postcode,
                household_id=f"H{household:06d}",
                cookies=[f"ck_{rng.getrandbits(64):016x}" for _ in range(rng.randint(1, 3))],
                cards=[
                    hashlib.sha256(f"card|{n}|{c}|{rng.getrandbits(32)}".encode()).hexdigest()
                    for c in range(rng.randint(0, 2))
                ],
                family_email=family_email if member < 2 else None,
                country=country,
                address_line2=line2,
            )
            person.is_prospect = rng.random() < 0.08
            person.is_serial_complainer = not person.is_prospect and rng.random() < 0.01
            person.uses_junk = rng.random() < 0.02
            person.has_duplicate_account = not person.is_prospect and rng.random() < 0.05
            persons.append(person)
    buyer = lambda p: not p.is_prospect  # noqa: E731
    _ensure(rng, persons, "is_prospect", min(3, customers // 10), lambda p: True)
    for person in persons:  # a prospect never buys
        if person.is_prospect:
            person.is_serial_complainer = person.has_duplicate_account = False
    _ensure(rng, persons, "is_serial_complainer", min(2, customers // 50), buyer)
    _ensure(rng, persons, "uses_junk", min(8, customers // 20), buyer)
    _ensure(rng, persons, "has_duplicate_account", min(3, customers // 20), buyer)
    return persons


class _Spool:
    """An append-only list of rows (tuples, lists, dicts or strings) kept on disk: full chunks
    of ``CHUNK`` rows are pickled into a temporary file shared by every spool, only the last,
    unfinished chunk stays in memory. Reading back gives the very same values in the same
    order, so the files written from a spool are byte for byte those written from a list.

    Indexing a row keeps it in memory from then on, so changes made to it (``row[2] = x``)
    stick and are seen by later reads; ``spool[i] = row`` replaces a row. Only a handful of
    rows are ever spoilt like this (``force_bad_rows``).
    """

    CHUNK = 512

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._chunks: list[int] = []  # file offset of each full chunk, in order
        self._tail: list[Any] = []
        self._touched: dict[int, Any] = {}  # index -> row read or replaced by index

    def append(self, row: Any) -> None:
        self._tail.append(row)
        if len(self._tail) == self.CHUNK:
            self._file.seek(0, 2)
            self._chunks.append(self._file.tell())
            pickle.dump(self._tail, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._tail = []

    def __len__(self) -> int:
        return len(self._chunks) * self.CHUNK + len(self._tail)

    def _chunk(self, n: int) -> list[Any]:
        """The rows of chunk ``n`` as first appended (the tail for the unfinished one)."""
        if n == len(self._chunks):
            return self._tail
        self._file.seek(self._chunks[n])
        return pickle.load(self._file)

    def __getitem__(self, i: int) -> Any:
        if not 0 <= i < len(self):
            raise IndexError(i)
        if i not in self._touched:
            n, k = divmod(i, self.CHUNK)
            self._touched[i] = self._chunk(n)[k]
        return self._touched[i]

    def __setitem__(self, i: int, row: Any) -> None:
        if not 0 <= i < len(self):
            raise IndexError(i)
        self._touched[i] = row

    def __iter__(self) -> Iterator[Any]:
        for n in range(len(self._chunks) + 1):
            rows = self._chunk(n)
            if self._touched:
                base = n * self.CHUNK
                rows = [self._touched.get(base + k, row) for k, row in enumerate(rows)]
            yield from rows


class _Chain:
    """Several spools read, indexed and changed as one list (a table's weekly files in order)."""

    def __init__(self, spools: Iterable[_Spool]) -> None:
        self.spools = list(spools)

    def __len__(self) -> int:
        return sum(len(spool) for spool in self.spools)

    def _locate(self, i: int) -> tuple[_Spool, int]:
        if i >= 0:
            for spool in self.spools:
                if i < len(spool):
                    return spool, i
                i -= len(spool)
        raise IndexError(i)

    def __getitem__(self, i: int) -> Any:
        spool, k = self._locate(i)
        return spool[k]

    def __setitem__(self, i: int, row: Any) -> None:
        spool, k = self._locate(i)
        spool[k] = row

    def __iter__(self) -> Iterator[Any]:
        for spool in self.spools:
            yield from spool


class _Writer:
    """Collects rows per table / file in spools on disk (all in ``file``, a temporary file),
    then writes them file by file in one pass: memory holds only a few hundred rows per spool,
    so a million persons fit in a few GB."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.shop: dict[str, _Spool] = {
            k: self.spool()
            for k in (
                "products",
                "accounts",
                "guest_checkouts",
                "orders",
                "order_lines",
                "returns",
                "marketing_preferences",
            )
        }
        self.pos: dict[str, dict[str, _Spool]] = {  # table -> week -> rows (lists)
            "transactions": {},
            "transaction_lines": {},
            "loyalty_signups": {},
        }
        self.web: dict[str, _Spool] = {}  # week -> JSON lines
        self.tickets = self.spool()  # dicts
        self.contacts = self.spool()  # dicts
        self.esp_events = self.spool()  # dicts
        self.truth = self.spool()  # (system, table, record id, person id)
        # (table, record id) of records that lost their id to a spoilt row: left out of the truth
        self.lost: set[tuple[str, str]] = set()

    def spool(self) -> _Spool:
        return _Spool(self.file)

    def pos_row(self, table: str, week: str, row: list) -> None:
        self.week(self.pos[table], week).append(row)

    def week(self, weeks: dict[str, _Spool], week: str) -> _Spool:
        """The spool of ``week`` in ``weeks``, new if need be."""
        if week not in weeks:
            weeks[week] = self.spool()
        return weeks[week]


SHOP_DDL = """
create table products (product_id INTEGER PRIMARY KEY, sku TEXT NOT NULL, product_name TEXT,
  category TEXT, unit_cost NUMERIC, unit_price NUMERIC, updated_at DATETIME);
create table accounts (account_id INTEGER PRIMARY KEY, email TEXT, first_name TEXT, last_name TEXT,
  phone TEXT, date_of_birth DATE, address_line1 TEXT, city TEXT, postcode TEXT, country_code TEXT,
  created_at DATETIME, updated_at DATETIME);
create table guest_checkouts (guest_checkout_id INTEGER PRIMARY KEY, email TEXT, first_name TEXT,
  last_name TEXT, phone TEXT, address_line1 TEXT, city TEXT, postcode TEXT, country_code TEXT,
  created_at DATETIME, updated_at DATETIME);
create table orders (order_id INTEGER PRIMARY KEY, account_id INTEGER, guest_checkout_id INTEGER,
  sales_channel TEXT, order_status TEXT, currency TEXT, shipping_amount NUMERIC,
  total_amount NUMERIC, ordered_at DATETIME, updated_at DATETIME);
create table order_lines (order_line_id INTEGER PRIMARY KEY, order_id INTEGER, product_id INTEGER,
  quantity INTEGER, unit_price NUMERIC, discount_amount NUMERIC, updated_at DATETIME);
create table returns (return_id INTEGER PRIMARY KEY, order_id INTEGER, order_line_id INTEGER,
  quantity INTEGER, refund_amount NUMERIC, reason TEXT, return_status TEXT, returned_at DATETIME,
  refunded_at DATETIME, updated_at DATETIME);
create table marketing_preferences (account_id INTEGER NOT NULL, channel TEXT NOT NULL,
  is_opted_in INTEGER, updated_at DATETIME, PRIMARY KEY (account_id, channel));
"""

POS_HEADERS = {
    "transactions": [
        "transaction_id",
        "store_id",
        "transaction_type",
        "loyalty_card_id",
        "card_token_hash",
        "payment_method",
        "total_amount",
        "transacted_at",
    ],
    "transaction_lines": [
        "transaction_line_id",
        "transaction_id",
        "sku",
        "quantity",
        "unit_price",
        "discount_amount",
    ],
    "loyalty_signups": [
        "loyalty_card_id",
        "first_name",
        "last_name",
        "date_of_birth",
        "email",
        "phone",
        "address_line1",
        "address_line2",
        "city",
        "postcode",
        "country_code",
        "store_id",
        "signed_up_at",
    ],
}


class _Generator:
    def __init__(
        self,
        rng: Random,
        as_of: dt.date,
        days: int,
        bad_row_rate: float,
        spool: IO[bytes],
    ) -> None:
        self.rng = rng
        self.noise = _Noise(rng)
        self.end = (dt.datetime.combine(as_of, dt.time(), dt.UTC) - EPOCH).total_seconds()
        self.start = self.end - days * 86400
        self.bad_row_rate = bad_row_rate
        self.w = _Writer(spool)
        self.ids = {
            k: 0
            for k in (
                "account",
                "guest",
                "order",
                "line",
                "return",
                "txn",
                "tline",
                "card",
                "ticket",
                "event",
                "contact",
                "esp_event",
            )
        }
        self.products: list[tuple[int, str, str, float, float]] = []

    def clamp(self, seconds: float) -> float:
        """Keep a timestamp inside [as_of - days, as_of)."""
        return min(max(seconds, self.start), self.end - 1)

    def next_id(self, kind: str) -> int:
        self.ids[kind] += 1
        return self.ids[kind]

    def bad(self) -> bool:
        return self.rng.random() < self.bad_row_rate

    def truth(self, system: str, table: str, record_id: object, person: Person) -> None:
        self.w.truth.append((system, table, str(record_id), person.person_id))

    # ------------------------------------------------------------------ catalogue
    def make_products(self) -> None:
        for pid in range(1, 201):
            category = CATEGORIES[(pid - 1) % len(CATEGORIES)]
            price = round(self.rng.uniform(4, 180), 2)
            cost = round(price * self.rng.uniform(0.35, 0.7), 2)
            sku = f"SKU-{pid:05d}"
            self.products.append((pid, sku, category, cost, price))
            self.w.shop["products"].append(
                (pid, sku, f"{category} item {pid}", category, cost, price, _ts(self.start))
            )

    # ------------------------------------------------------------------ identities
    def account_for(self, person: Person, at: float, new: bool = False) -> int:
        """The person's shop account (a duplicate one sometimes), opened at ``at`` if new."""
        if person.account_ids and not new:
            if len(person.account_ids) > 1 and self.rng.random() < 0.4:
                return person.account_ids[1]
            return person.account_ids[0]
        account_id = self.next_id("account")
        first, last = self.noise.name(person)
        email = self.noise.email(person)
        if person.uses_junk and not person.account_ids:
            email = JUNK_EMAILS[0]  # the placeholder typed at sign-up, shared by strangers
        if person.account_ids:  # a duplicate: another address, or the same one in other case
            if len(person.emails) > 1 and self.rng.random() < 0.5:
                email = person.emails[1]
            elif self.rng.random() < 0.5:
                email = person.emails[0].upper()
            else:
                email = person.emails[0].capitalize()
        row = (
            account_id,
            email,
            first,
            last,
            self.noise.phone(person) if self.rng.random() < 0.8 else None,
            self.noise.birth_date(person) if self.rng.random() < 0.6 else None,
            self.noise.address(person) if self.rng.random() < 0.85 else None,
            person.city,
            self.noise.postcode(person),
            person.country,
            _ts(at),
            _ts(at),
        )
        self.w.shop["accounts"].append(row)
        self.truth("shop", "accounts", account_id, person)
        person.account_ids.append(account_id)
        for channel, rate in (("email", 0.6), ("sms", 0.25), ("post", 0.1)):
            self.w.shop["marketing_preferences"].append(
                (account_id, channel, int(self.rng.random() < rate), _ts(at))
            )
        return account_id

    def guest_for(self, person: Person, at: float) -> int:
        gid = self.next_id("guest")
        first, last = self.noise.name(person)
        self.w.shop["guest_checkouts"].append(
            (
                gid,
                self.noise.email(person),
                first,
                last,
                self.noise.phone(person),
                self.noise.address(person),
                person.city,
                self.noise.postcode(person),
                person.country,
                _ts(at),
                _ts(at),
            )
        )
        self.truth("shop", "guest_checkouts", gid, person)
        return gid

    def loyalty_for(self, person: Person, at: float, store: str) -> str:
        if person.loyalty_card_id:
            return person.loyalty_card_id
        card = f"LC{self.next_id('card'):07d}"
        person.loyalty_card_id = card
        first, last = self.noise.name(person)
        line1, line2 = self.noise.address(person), ""
        if person.address_line2 and self.rng.random() < 0.75:
            line2 = person.address_line2
            if self.rng.random() < 0.1:  # typed in each other's field
                line1, line2 = line2, line1
        if person.country != "GB":  # picked at the till, sometimes in lower case
            country = person.country if self.rng.random() < 0.9 else person.country.lower()
        else:  # the source's default when empty
            country = self.rng.choices(("", "GB", "UK"), weights=(14, 5, 1))[0]
        row = [
            card,
            first,
            last,
            self.noise.birth_date(person),
            self.noise.email(person) if self.rng.random() < 0.4 else "",
            self.noise.phone(person),
            line1,
            line2,
            person.city,
            self.noise.postcode(person),
            country,
            store,
            _iso(at),
        ]
        if self.bad():
            if self.rng.random() < 0.7:
                row[3] = self.rng.choice(["31/02/1985", "unknown"])
            else:
                row[0] = ""
        self.w.pos_row("loyalty_signups", _week(at), row)
        if row[0]:
            self.truth("pos", "loyalty_signups", card, person)
        return card

    # ------------------------------------------------------------------ purchases
    basket_scale = 1.0  # the current person's spending habit (set by live())

    def basket(self) -> list[tuple[int, str, int, float, float]]:
        lines = []
        count = max(1, round(self.rng.choice((1, 1, 2, 2, 3, 4)) * self.basket_scale))
        for _ in range(count):
            pid, sku, _, _, price = self.rng.choice(self.products)
            discount = round(price * 0.1, 2) if self.rng.random() < 0.1 else 0.0
            lines.append((pid, sku, self.rng.choice((1, 1, 1, 2, 3)), price, discount))
        return lines

    def web_or_phone_order(
        self, person: Person, at: float, channel: str, account_id: int | None = None
    ) -> None:
        order_id = self.next_id("order")
        guest_id: int | None = None
        if account_id is not None:
            pass
        elif channel == "phone" or self.rng.random() < 0.8:
            account_id, guest_id = self.account_for(person, at), None
        else:
            account_id, guest_id = None, self.guest_for(person, at)
        age_days = (self.end - at) / 86400
        status = "delivered" if age_days > 14 else self.rng.choice(("placed", "shipped"))
        if self.rng.random() < 0.03:
            status = "cancelled"
        total = 0.0
        for pid, _, qty, price, discount in self.basket():
            line_id = self.next_id("line")
            total += qty * price - discount
            order_ref: int | None = order_id
            if self.bad():
                order_ref = None
            self.w.shop["order_lines"].append(
                (line_id, order_ref, pid, qty, price, discount, _ts(at))
            )
            if status == "delivered" and self.rng.random() < 0.08:
                rid = self.next_id("return")
                returned = min(at + self.rng.randint(3, 30) * 86400, self.end - 3600)
                refunded = returned + 3 * 86400 if returned + 3 * 86400 < self.end else None
                self.w.shop["returns"].append(
                    (
                        rid,
                        order_id,
                        line_id,
                        qty,
                        round(qty * price - discount, 2),
                        self.rng.choice(
                            ("damaged", "wrong size", "not as described", "changed mind")
                        ),
                        "refunded" if refunded else "requested",
                        _ts(returned),
                        _ts(refunded) if refunded else None,
                        _ts(refunded or returned),
                    )
                )
        shipping = 0.0 if total > 50 else 3.95
        updated = min(at + (2 * 86400 if status in ("shipped", "delivered") else 0), self.end - 1)
        self.w.shop["orders"].append(
            (
                order_id,
                account_id,
                guest_id,
                channel,
                status,
                "GBP",
                shipping,
                round(total + shipping, 2),
                _ts(at),
                _ts(updated),
            )
        )
        self.truth("shop", "orders", order_id, person)

    def store_sale(self, person: Person, at: float) -> None:
        store = self.rng.choice(STORES)
        card = self.loyalty_for(person, at, store) if self.rng.random() < 0.6 else None
        if person.loyalty_card_id and card is None and self.rng.random() < 0.7:
            card = person.loyalty_card_id
        pays_card = person.cards and self.rng.random() < 0.75
        token = self.rng.choice(person.cards) if pays_card else ""
        lines = self.basket()
        self._pos_transaction(person, at, store, "sale", card, token, lines)
        if self.rng.random() < 0.05 and at + 7 * 86400 < self.end:
            pid, sku, qty, price, discount = lines[0]
            self._pos_transaction(
                person,
                self.clamp(at + self.rng.randint(1, 20) * 86400),
                store,
                "return",
                card,
                token,
                [(pid, sku, -qty, price, 0.0)],
            )

    def _pos_transaction(self, person, at, store, kind, card, token, lines) -> None:
        txn_id = f"{store}-{self.next_id('txn'):07d}"
        total = round(sum(q * p - d for _, _, q, p, d in lines), 2)
        file_at = at
        if self.rng.random() < 0.02:  # late: arrives in a later week's drop
            file_at = min(at + self.rng.randint(1, 3) * 7 * 86400, self.end - 1)
        week = _week(file_at)
        row = [
            txn_id,
            store,
            kind,
            card or "",
            token,
            "card" if token else self.rng.choice(("cash", "cash", "voucher")),
            f"{total:.2f}",
            _iso(at),
        ]
        if self.bad():
            roll = self.rng.random()
            if roll < 0.4:
                row[7] = self.rng.choice(("2026-13-45T99:00:00Z", "not a date"))
            elif roll < 0.7:
                row[6] = "abc"
            else:
                row[0] = ""
        self.w.pos_row("transactions", week, row)
        if row[0]:
            self.truth("pos", "transactions", txn_id, person)
        for _, sku, qty, price, discount in lines:
            self.w.pos_row(
                "transaction_lines",
                week,
                [
                    f"{txn_id}-{self.next_id('tline')}",
                    txn_id,
                    sku,
                    qty,
                    f"{price:.2f}",
                    f"{discount:.2f}",
                ],
            )

    # ------------------------------------------------------------------ contacts
    def ticket(self, person: Person, at: float, contact_type: str, anonymous: bool = False) -> None:
        ticket_id = self.next_id("ticket")
        _, sku, category, _, _ = self.rng.choice(self.products)
        channel = self.rng.choice(("phone", "phone", "email", "chat", "store"))
        first, last = self.noise.name(person, blanks=False)
        roll = self.rng.random()
        name = f"{last}, {first}" if roll < 0.1 else (first if roll < 0.15 else f"{first} {last}")
        minutes = round(self.rng.uniform(2, 12 if contact_type == "enquiry" else 35), 1)
        at = self.clamp(at)
        solved = at + self.rng.randint(1, 72) * 3600
        if solved >= self.end:
            status = self.rng.choice(("open", "pending"))
        else:
            status = self.rng.choices(("solved", "closed", "pending"), weights=(6, 3, 1))[0]
        if status == "pending":
            updated = min(at + self.rng.randint(1, 48) * 3600, self.end - 1)
        else:
            updated = solved if status != "open" else at
        record = {
            "ticket_id": ticket_id,
            "contact_type": contact_type,
            "channel": channel,
            "status": status,
            "subject": self.rng.choice(SUBJECTS[contact_type]).format(p=sku),
            "product_sku": sku if self.rng.random() < 0.8 else None,
            "product_category": category,
            "handle_minutes": minutes,
            "requester_name": name,
            "requester_email": None
            if channel == "phone" and self.rng.random() < 0.5
            else self.noise.email(person),
            "requester_phone": self.noise.phone(person, international=True)
            if channel in ("phone", "store")
            else None,
            "created_at": _iso(at),
            "updated_at": _iso(updated),
            "solved_at": _iso(solved) if status in ("solved", "closed") else None,
        }
        if self.bad():
            roll = self.rng.random()
            if roll < 0.34:
                record["ticket_id"] = None
            elif roll < 0.67:
                record["handle_minutes"] = "ten"
            else:
                record["created_at"] = "yesterday"
        self.w.tickets.append(record)
        if record["ticket_id"] is not None:
            self.truth("helpdesk", "tickets", ticket_id, person)

    def web_session(self, person: Person, at: float, login: bool) -> None:
        rng = self.rng
        cookie = rng.choice(person.cookies)
        account = rng.choice(person.account_ids) if login and person.account_ids else None
        steps = rng.randint(1, 6)
        login_step = rng.randrange(min(steps, 3)) if account else -1
        current: int | None = None
        for step in range(steps):
            event_id = f"ev{self.next_id('event'):09d}"
            ts = self.clamp(at + step * rng.randint(10, 90))
            if step == login_step:
                kind, sku, current = "login", None, account
            else:
                _, sku, _, _, _ = rng.choice(self.products)
                kind = rng.choice(
                    ("page_view", "product_view", "product_view", "add_to_cart", "search")
                )
            url = {
                "login": "/account/login",
                "search": f"/search?q={sku.lower() if sku else ''}",
                "page_view": rng.choice(("/", "/offers", "/delivery", "/basket")),
            }.get(kind, f"/products/{sku}")
            record = {
                "event_id": event_id,
                "event_type": kind,
                "cookie_id": cookie,
                "account_id": current,
                "page_url": url,
                "product_sku": sku if kind in ("product_view", "add_to_cart") else None,
                "occurred_at": _iso(ts),
            }
            lines = self.w.week(self.w.web, _week(ts))
            if self.bad():
                roll = rng.random()
                if roll < 0.34:
                    lines.append(json.dumps(record)[: -rng.randint(5, 40)])
                    continue
                if roll < 0.67:
                    record.pop("event_id")
                    lines.append(json.dumps(record))
                    continue
                record["occurred_at"] = "yesterday"
            lines.append(json.dumps(record))
            self.truth("web", "events", event_id, person)

    def esp_contact(self, person: Person, at: float) -> None:
        contact_id = f"c_{self.next_id('contact'):06d}"
        email = self.noise.email(person)
        if "@" not in email:
            return
        first, last = self.noise.name(person, heard=False)
        status = "subscribed"
        t = at
        events = []
        for month in range(int((self.end - at) // (30 * 86400))):
            send_at = at + (month + 1) * 30 * 86400 - self.rng.randint(0, 86400)
            campaign = f"cmp_{int(send_at // (30 * 86400))}"
            events.append(("send", send_at, campaign, None))
            if self.rng.random() < 0.01:
                events.append(("bounce", send_at + 60, campaign, None))
                status = "bounced"
                t = send_at + 60
                break
            if self.rng.random() < 0.3:
                events.append(("open", send_at + 3600, campaign, None))
                if self.rng.random() < 0.3:
                    _, sku, _, _, _ = self.rng.choice(self.products)
                    url = f"https://shop.example.co.uk/products/{sku}?utm_campaign={campaign}"
                    events.append(("click", send_at + 3700, campaign, url))
            if self.rng.random() < 0.02:
                events.append(("unsubscribe", send_at + 4000, campaign, None))
                status = "unsubscribed"
                t = send_at + 4000
                break
        self.w.contacts.append(
            {
                "contact_id": contact_id,
                "email": email,
                "first_name": first or None,
                "last_name": last or None,
                "status": status,
                "created_at": _iso(self.clamp(at)),
                "updated_at": _iso(self.clamp(t)),
            }
        )
        self.truth("esp", "contacts", contact_id, person)
        for kind, ts, campaign, url in events:
            event_id = f"esp{self.next_id('esp_event'):09d}"
            record = {
                "event_id": event_id,
                "event_type": kind,
                "contact_id": contact_id,
                "email": email,
                "campaign_id": campaign,
                "campaign_name": f"Newsletter {campaign[4:]}",
                "url": url,
                "occurred_at": _iso(self.clamp(ts)),
            }
            if self.bad():
                if self.rng.random() < 0.5:
                    record["event_id"] = None
                else:
                    record["contact_id"] = None
            self.w.esp_events.append(record)

    # ------------------------------------------------------------------ a life
    def live(self, person: Person) -> None:
        rng = self.rng
        span = self.end - self.start
        first_at = self.start + rng.random() * span * 0.99
        if person.is_prospect:
            for _ in range(rng.randint(1, 3)):
                self.ticket(person, first_at + rng.random() * (self.end - first_at), "enquiry")
            if rng.random() < 0.5:
                self.esp_contact(person, first_at)
            for _ in range(rng.randint(0, 3)):
                self.web_session(person, first_at + rng.random() * (self.end - first_at), False)
            return
        channel = rng.choices(("web", "store", "phone"), weights=(50, 38, 12))[0]
        # a BG/NBD-like life: each person buys at their own rate (gamma-distributed across
        # persons, mean one purchase per 60 days) and may drop out after each purchase with
        # their own probability (beta-distributed) after each repeat purchase, so lifetime-
        # value models have something to learn; at most 15 purchases
        mean_gap = 60 * 86400 / rng.gammavariate(1.5, 1 / 1.5)
        dropout = rng.betavariate(1.2, 3.0)
        self.basket_scale = rng.gammavariate(4.0, 1 / 4.0)  # big and small spenders
        purchases = 15
        at = first_at
        for number in range(purchases):
            if at >= self.end - 3600:
                break
            if channel == "store":
                self.store_sale(person, at)
            else:
                self.web_or_phone_order(person, at, channel)
            if rng.random() < 0.3:
                channel = rng.choice(("web", "store", "phone"))
            if number > 0 and rng.random() < dropout:
                break
            at += rng.expovariate(1 / mean_gap) + 3600
        if rng.random() < 0.3:  # enquiry before the first purchase
            self.ticket(person, max(first_at - rng.randint(1, 20) * 86400, self.start), "enquiry")
        if rng.random() < 0.25:
            self.ticket(person, first_at + rng.random() * (self.end - first_at), "enquiry")
        complaints = rng.randint(5, 15) if person.is_serial_complainer else int(rng.random() < 0.1)
        for _ in range(complaints):
            self.ticket(person, first_at + rng.random() * (self.end - first_at), "complaint")
        if person.account_ids or rng.random() < 0.3:
            for _ in range(rng.randint(1, 8)):
                when = first_at + rng.random() * (self.end - first_at)
                self.web_session(person, when, bool(person.account_ids) and rng.random() < 0.6)
        if person.has_duplicate_account:  # forgot the password, or another address
            if not person.account_ids:
                self.account_for(person, first_at)
            dup_at = first_at + rng.random() * (self.end - first_at) * 0.8
            duplicate = self.account_for(person, dup_at, new=True)
            if rng.random() < 0.7:
                self.web_or_phone_order(person, dup_at + 600, "web", account_id=duplicate)
        if rng.random() < 0.45:
            self.esp_contact(person, min(first_at + 86400, self.end - 86400))

    def force_bad_rows(self) -> None:
        """At least one malformed row of every kind whenever bad rows are asked for (small
        demos too). Rows are spoilt in place; a record that loses its id leaves the truth."""
        if self.bad_row_rate <= 0:
            return
        rng, w = self.rng, self.w
        lost = w.lost

        shop_lines = w.shop["order_lines"]
        if shop_lines and not any(line[1] is None for line in shop_lines):
            i = rng.randrange(len(shop_lines))
            shop_lines[i] = (shop_lines[i][0], None, *shop_lines[i][2:])

        def spoil(rows: _Chain, column: int, values: tuple[str, ...], truth: str) -> None:
            for value in values:
                if rows and not any(r[column] == value for r in rows):
                    row = rows[rng.randrange(len(rows))]
                    if value == "" and row[column]:
                        lost.add((truth, row[column]))
                    row[column] = value

        txns = _Chain(w.pos["transactions"][week] for week in sorted(w.pos["transactions"]))
        spoil(txns, 7, ("not a date", "2026-13-45T99:00:00Z"), "transactions")
        spoil(txns, 6, ("abc",), "transactions")
        spoil(txns, 0, ("",), "transactions")
        signups = _Chain(
            w.pos["loyalty_signups"][week] for week in sorted(w.pos["loyalty_signups"])
        )
        spoil(signups, 3, ("31/02/1985", "unknown"), "loyalty_signups")
        spoil(signups, 0, ("",), "loyalty_signups")

        if w.web:
            lines = _Chain(w.web[week] for week in sorted(w.web))  # every line, in file order
            wanted = []
            if all(line.endswith("}") for line in lines):
                wanted.append("truncated")
            if not any('"occurred_at": "yesterday"' in line for line in lines):
                wanted.append("yesterday")
            if all('"event_id"' in line for line in lines):
                wanted.append("no_id")
            for kind in wanted:
                i = rng.randrange(len(lines))
                line = lines[i]
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                event_id = record.get("event_id")
                if kind == "truncated":
                    lines[i] = line[: -rng.randint(5, 40)]
                elif kind == "yesterday":
                    record["occurred_at"] = "yesterday"
                    lines[i] = json.dumps(record)
                else:
                    record.pop("event_id", None)
                    lines[i] = json.dumps(record)
                if kind != "yesterday" and event_id is not None:
                    lost.add(("events", event_id))

        tickets = w.tickets
        for field_name, value in (
            ("ticket_id", None),
            ("handle_minutes", "ten"),
            ("created_at", "yesterday"),
        ):
            if tickets and not any(t[field_name] == value for t in tickets):
                ticket = tickets[rng.randrange(len(tickets))]
                if field_name == "ticket_id" and ticket["ticket_id"] is not None:
                    lost.add(("tickets", str(ticket["ticket_id"])))
                ticket[field_name] = value

        for field_name in ("event_id", "contact_id"):
            if w.esp_events and all(e[field_name] for e in w.esp_events):
                w.esp_events[rng.randrange(len(w.esp_events))][field_name] = None


def _write_json_array(path: Path, items: Iterable[object]) -> int:
    """Write ``items`` one by one, byte for byte as ``json.dumps(list(items), indent=0)`` would
    (without ever holding the whole list or text); returns how many were written."""
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(",\n" if count else "[\n")
            f.write(json.dumps(item, indent=0))
            count += 1
        f.write("\n]" if count else "[]")
    return count


def _write(out: Path, gen: _Generator, meta: dict, persons: int) -> dict[str, int]:
    w = gen.w
    counts: dict[str, int] = {}
    db_path = out / "shop.sqlite"
    db = sqlite3.connect(db_path)
    db.executescript(SHOP_DDL)
    for table, rows in w.shop.items():
        if rows:
            marks = ",".join("?" * len(rows[0]))
            db.executemany(f"insert into {table} values ({marks})", rows)
        db.execute(f"create index if not exists {table}_updated_at on {table} (updated_at)")
        counts[f"shop.{table}"] = len(rows)
    db.commit()
    db.close()
    for table, weeks in w.pos.items():
        folder = out / "pos" / table
        folder.mkdir(parents=True)
        for week in sorted(weeks):
            with (folder / f"{table}_{week}.csv").open("w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(POS_HEADERS[table])
                writer.writerows(weeks[week])
        counts[f"pos.{table}"] = sum(len(rows) for rows in weeks.values())
    folder = out / "web" / "events"
    folder.mkdir(parents=True)
    for week in sorted(w.web):
        with (folder / f"events_{week}.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(f"{line}\n" for line in w.web[week])
    counts["web.events"] = sum(len(lines) for lines in w.web.values())
    (out / "helpdesk").mkdir()
    counts["helpdesk.tickets"] = _write_json_array(out / "helpdesk" / "tickets.json", w.tickets)
    (out / "esp").mkdir()
    counts["esp.contacts"] = _write_json_array(out / "esp" / "contacts.json", w.contacts)
    counts["esp.events"] = _write_json_array(out / "esp" / "events.json", w.esp_events)
    kept = 0
    with (out / "truth" / "identity_truth.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["source_system", "source_table", "source_record_id", "person_id"])
        for row in w.truth:
            if (row[1], row[2]) not in w.lost:
                writer.writerow(row)
                kept += 1
    counts["truth.identity_truth"] = kept
    counts["truth.persons"] = persons
    meta["counts"] = counts
    (out / "manifest.json").write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    return counts


def generate(
    out_dir: Path,
    customers: int = 10_000,
    seed: int = 42,
    as_of: dt.date = dt.date(2026, 11, 1),
    days: int = 730,
    bad_row_rate: float = 0.002,
    progress: Callable[[str], None] | None = None,
) -> GenerateResult:
    """Write the demo source systems for ``customers`` real persons into ``out_dir``."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    if not 0 <= bad_row_rate < 1:
        raise ValueError("bad_row_rate must be in [0, 1)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:  # only what we write: other files in out_dir are left alone
        target = out / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    rng = Random(seed)
    # the rows wait on disk until written, in a temporary file that is never visible in out
    with tempfile.TemporaryFile(dir=out) as spool:
        gen = _Generator(rng, as_of, days, bad_row_rate, spool)
        gen.make_products()
        persons = _people(rng, customers)
        if progress:
            progress(f"{customers:,} persons generated")
        for index, person in enumerate(persons, start=1):
            gen.live(person)
            if progress and index % 10_000 == 0:
                progress(f"{index:,} / {customers:,} persons lived their lives")
        gen.force_bad_rows()
        (out / "truth").mkdir()
        with (out / "truth" / "persons.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(
                [
                    "person_id",
                    "first_name",
                    "last_name",
                    "date_of_birth",
                    "email",
                    "phone",
                    "postcode",
                    "household_id",
                    "is_prospect",
                    "is_serial_complainer",
                    "country_code",
                ]
            )
            for p in persons:
                writer.writerow(
                    [
                        p.person_id,
                        p.first_name,
                        p.last_name,
                        p.birth_date.isoformat(),
                        p.emails[0],
                        p.phone,
                        p.postcode,
                        p.household_id,
                        int(p.is_prospect),
                        int(p.is_serial_complainer),
                        p.country,
                    ]
                )
        meta = {
            "seed": seed,
            "customers": customers,
            "as_of": as_of.isoformat(),
            "days": days,
            "bad_row_rate": bad_row_rate,
        }
        counts = _write(out, gen, meta, len(persons))
    if progress:
        progress(f"wrote {sum(counts.values()):,} records to {out}")
    return GenerateResult(out_dir=out, counts=counts)
