#!/usr/bin/env python3
"""Generate the Northwind Savings sample deliveries: deterministic, stdlib only.

Run ``python sample_csv/make_samples.py`` (from anywhere). It rewrites:

- ``sample_csv/deliveries/{01,02}/{clients,accounts,transactions}/*.csv[.gz]``: two
  deliveries of a fictional small bank, applied in order by the demo;
- ``sample_csv/expected_counts.json``: per file, the records after the header and how
  many of them the pipeline must reject;
- ``sample_csv/README.md``: what dirt is where, the counts, and the expected
  analytics-ready row counts.

Every random choice comes from ``random.Random(42)``, gzip gets ``mtime=0``: two runs
give byte-identical files. The script injects the dirt itself and knows which records
must be rejected; it then re-reads every file it wrote, applies the rules of
``specs/*.yaml`` (mirrored in ``RULES`` below; checked against the YAML when PyYAML is
importable) and stops with an error when the two disagree.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import random
import re
import shutil
import sys
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DELIVERIES = HERE / "deliveries"
SEED = 42

CUT1 = dt.datetime(2024, 4, 30, 23, 59, 59)  # extract time of delivery 01
CUT2 = dt.datetime(2024, 6, 30, 23, 59, 59)  # extract time of delivery 02
TS1 = "%Y-%m-%d %H:%M:%S"  # yyyy-MM-dd HH:mm:ss (main timestamp format)
TS2 = "%d/%m/%Y %H:%M:%S"  # dd/MM/yyyy HH:mm:ss (second format, February export and a few May rows)

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"
IBAN_PATTERN = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"

# --------------------------------------------------------------------------------------
# The rules of specs/*.yaml, mirrored for the self-check (stdlib only: no YAML parser).
# --------------------------------------------------------------------------------------


def _col(name: str, type: str = "string", **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": type,
        "source": None,
        "required": False,
        "clean": [],
        "format": None,
        "allowed": None,
        "min": None,
        "max": None,
        "pattern": None,
        **kw,
    }


RULES: dict[str, dict[str, Any]] = {
    "clients": {
        "columns": [
            _col("client_id", required=True, clean=["trim", "upper"], pattern=r"^C[0-9]{5}$"),
            _col("first_name", clean=["trim", "null_if_empty"]),
            _col("last_name", required=True, clean=["trim"]),
            _col("email", required=True, clean=["trim", "lower"], pattern=EMAIL_PATTERN),
            _col("phone", clean=["trim", "null_if_empty"]),
            _col("birth_date", "date", clean=["trim", "null_if_empty"], min="1900-01-01"),
            _col("country", required=True, clean=["trim", "upper"], pattern=r"^[A-Z]{2}$"),
            _col("segment", required=True, clean=["trim", "upper"], allowed=["RETAIL", "PREMIUM", "BUSINESS"]),
            _col("created_at", "timestamp", required=True, clean=["trim"]),
            _col("updated_at", "timestamp", required=True, clean=["trim"]),
        ],
        "keys": ["client_id"],
        "latest_by": "updated_at",
    },
    "accounts": {
        "columns": [
            _col("account_id", required=True, clean=["trim", "upper"], pattern=r"^A[0-9]{6}$"),
            _col("client_id", required=True, clean=["trim", "upper"], pattern=r"^C[0-9]{5}$"),
            _col("account_type", required=True, clean=["trim", "upper"], allowed=["CHECKING", "SAVINGS", "CREDIT"]),
            _col("currency", required=True, clean=["trim", "upper"], allowed=["EUR", "USD", "GBP"]),
            _col("opened_date", "date", required=True, clean=["trim"]),
            _col("status", required=True, clean=["trim", "upper"], allowed=["ACTIVE", "CLOSED", "FROZEN"]),
            _col("credit_limit", "decimal(18,2)", clean=["trim", "null_if_empty"], min=0),
            _col("updated_at", "timestamp", required=True, clean=["trim"]),
        ],
        "keys": ["account_id"],
        "latest_by": "updated_at",
    },
    "transactions": {
        "columns": [
            _col("transaction_id", source="Transaction ID", required=True, clean=["trim", "upper"]),
            _col("account_id", source="Account ID", required=True, clean=["trim", "upper"], pattern=r"^A[0-9]{6}$"),
            _col(
                "transaction_ts",
                "timestamp",
                source="Booking Time",
                required=True,
                clean=["trim"],
                format=["yyyy-MM-dd HH:mm:ss", "dd/MM/yyyy HH:mm:ss"],
            ),
            _col(
                "amount",
                "decimal(18,2)",
                source="Amount",
                required=True,
                clean=["trim", "remove_thousands_separator"],
                min=0,
            ),
            _col("currency", source="Currency", required=True, clean=["trim", "upper"], allowed=["EUR", "USD", "GBP"]),
            _col(
                "type",
                source="Type",
                required=True,
                clean=["trim", "lower"],
                allowed=["deposit", "withdrawal", "transfer", "fee"],
            ),
            _col("description", source="Description"),
            _col("merchant", source="Merchant", clean=["trim", "null_if_empty"]),
            _col(
                "counterparty_iban",
                source="Counterparty IBAN",
                clean=["trim", "upper", "null_if_empty"],
                pattern=IBAN_PATTERN,
            ),
        ],
        "keys": ["transaction_id"],
        "latest_by": None,
    },
}


def header_of(dataset: str, column: str) -> str:
    """The header a column has in the delivered files."""
    for col in RULES[dataset]["columns"]:
        if col["name"] == column:
            return col["source"] or column
    raise KeyError(column)


# --------------------------------------------------------------------------------------
# Records and files
# --------------------------------------------------------------------------------------


@dataclass
class Rec:
    """One data record as it will be written, and what the generator did to it."""

    values: dict[str, str]
    reasons: list[str] = field(default_factory=list)  # why it must be rejected (empty: valid)
    dirt: list[str] = field(default_factory=list)  # harmless dirt labels
    shape: tuple[Any, ...] | None = None  # ("extra", col, a, b) or ("missing", col)
    extra: dict[str, str] = field(default_factory=dict)  # columns the spec does not name

    def copy(self) -> Rec:
        return Rec(dict(self.values), list(self.reasons), list(self.dirt), self.shape, dict(self.extra))


@dataclass
class OutFile:
    rel: str  # "01/transactions/transactions_2024_01.csv"
    dataset: str
    columns: list[str]  # spec column names, in file order
    records: list[Rec]
    extra_after: dict[str, str] = field(default_factory=dict)  # extra header -> inserted after this column
    crlf: bool = False
    bom: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def gz(self) -> bool:
        return self.rel.endswith(".gz")


def render(f: OutFile) -> bytes:
    """The bytes of a file: header, records, line endings, BOM, gzip."""
    order: list[tuple[str, str]] = []  # (kind, name)
    for col in f.columns:
        order.append(("col", col))
        for extra, after in f.extra_after.items():
            if after == col:
                order.append(("extra", extra))
    header = [header_of(f.dataset, n) if k == "col" else n for k, n in order]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if f.crlf else "\n")
    writer.writerow(header)
    for rec in f.records:
        row: list[str] = []
        for kind, name in order:
            if kind == "extra":
                row.append(rec.extra.get(name, ""))
            elif rec.shape and rec.shape[1] == name and rec.shape[0] == "missing":
                continue
            elif rec.shape and rec.shape[1] == name and rec.shape[0] == "extra":
                row.extend([rec.shape[2], rec.shape[3]])
            else:
                row.append(rec.values[name])
        writer.writerow(row)
    data = buf.getvalue().encode("utf-8")
    if f.bom:
        data = b"\xef\xbb\xbf" + data
    if f.gz:
        data = gzip.compress(data, compresslevel=9, mtime=0)
    return data


# --------------------------------------------------------------------------------------
# Pools
# --------------------------------------------------------------------------------------

FIRST_NAMES = [
    "Anna",
    "Lukas",
    "Marie",
    "Jonas",
    "Sofia",
    "Elias",
    "Emma",
    "Noah",
    "Mia",
    "Leon",
    "Lena",
    "Paul",
    "Clara",
    "Felix",
    "Hannah",
    "Jan",
    "Laura",
    "Tim",
    "Julia",
    "Max",
    "Sarah",
    "David",
    "Lea",
    "Tom",
    "Nora",
    "Oliver",
    "Amelia",
    "Jack",
    "Isla",
    "Harry",
    "Chloé",
    "Hugo",
    "Inès",
    "Louis",
    "Zoë",
    "Daan",
    "Sanne",
    "Lucía",
    "Mateo",
    "José",
    "Björn",
    "Sören",
    "Aoife",
    "Seán",
]
LAST_NAMES = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "O'Brien",
    "O'Neill",
    "Dubois",
    "Martin",
    "Bernard",
    "Lefèvre",
    "de Vries",
    "van Dijk",
    "Jansen",
    "García",
    "Fernández",
    "López",
    "Kowalski",
    "Nowak",
    "Rossi",
    "Bianchi",
]
BUSINESS_NAMES = [
    "Bakery Sunrise",
    "Smith, Jones & Co",
    "Atelier Nord",
    'Café "Zum Anker"',
    "Blue Harbour Ltd",
    "Grünwald IT",
    "Vega Logistics",
    "Maison Lumière",
]
COUNTRIES = [("DE", 50), ("NL", 15), ("FR", 15), ("GB", 10), ("ES", 10)]
PHONE_PREFIX = {"DE": "+49", "NL": "+31", "FR": "+33", "GB": "+44", "ES": "+34"}
DOMAINS = ["example.com", "example.org", "mail.example.net"]
CITIES = ["Berlin", "Hamburg", "Köln", "Amsterdam", "Paris", "Lyon", "London", "Madrid"]
MERCHANTS = [
    "REWE Markt GmbH",
    "Albert Heijn",
    "Carrefour",
    "Tesco Stores Ltd",
    "Mercadona",
    "Amazon EU S.a.r.l.",
    "Deutsche Bahn",
    "Smith, Jones & Co",
    'Café "Zum Anker"',
    "IKEA",
    "Spotify AB",
    "Lidl",
    "Aldi Süd",
    "MediaMarkt",
    "Zalando SE",
    "Uber BV",
    "Shell, Station 42",
    "Boots UK",
]
EMPLOYERS = ["Acme Industries", "Stadtwerke Nord", "Blue Harbour Ltd", "Vega Logistics", "Grünwald IT"]
CARD_DESCRIPTIONS = [
    "Card payment",
    "Card payment, contactless",
    "Online purchase",
    'Order "Express delivery"',
    "Groceries",
]
TRANSFER_DESCRIPTIONS = [
    "Rent, flat 3B",
    "Transfer to savings",
    'Invoice 2024-0012 "Web design"',
    "Gift for Anna's birthday",
    "Shared dinner, thanks!",
    "Utilities Q1",
    "Loan repayment",
]
FEE_DESCRIPTIONS = ["Monthly account fee", "Card fee", "Overdraft interest", "FX fee"]
FEE_AMOUNTS = [150, 200, 490, 990, 1250]
MONTHS = ["January", "February", "March", "April", "May", "June"]


def ascii_slug(text: str) -> str:
    """``Müller`` -> ``muller``, ``O'Brien`` -> ``obrien``, ``de Vries`` -> ``devries``."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", text.lower())


def pick_weighted(rng: random.Random, pairs: list[tuple[Any, int]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def rand_dt(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    return start + dt.timedelta(seconds=rng.randrange(int((end - start).total_seconds()) + 1))


def iban(rng: random.Random) -> str:
    country = pick_weighted(rng, [("DE", 50), ("NL", 15), ("FR", 15), ("GB", 10), ("ES", 10)])
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))
    letters = lambda n: "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(n))
    check = f"{rng.randrange(2, 99):02d}"
    bban = {
        "DE": lambda: digits(18),
        "NL": lambda: letters(4) + digits(10),
        "FR": lambda: digits(23),
        "GB": lambda: letters(4) + digits(14),
        "ES": lambda: digits(20),
    }[country]()
    return country + check + bban


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------


def generate(rng: random.Random) -> list[OutFile]:
    files: list[OutFile] = []

    # ---- clients ----------------------------------------------------------------------
    created_01 = sorted(rand_dt(rng, dt.datetime(2021, 1, 4, 8), dt.datetime(2024, 4, 25, 18)) for _ in range(270))
    created_02 = sorted(rand_dt(rng, dt.datetime(2024, 5, 2, 8), dt.datetime(2024, 6, 20, 18)) for _ in range(30))
    clients: list[dict[str, Any]] = []
    for i, created in enumerate(created_01 + created_02, start=1):
        country = pick_weighted(rng, COUNTRIES)
        segment = pick_weighted(rng, [("RETAIL", 75), ("PREMIUM", 18), ("BUSINESS", 7)])
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        suffix = str(rng.randrange(1, 99)) if rng.random() < 0.4 else ""
        email = f"{ascii_slug(first)}.{ascii_slug(last)}{suffix}@{rng.choice(DOMAINS)}"
        if segment == "BUSINESS":
            last = rng.choice(BUSINESS_NAMES)
            first = ""
            email = f"contact{i}@{ascii_slug(last)}.example.com"
        phone = (
            ""
            if rng.random() < 0.06
            else (f"{PHONE_PREFIX[country]} {rng.randrange(100, 999)} {rng.randrange(1000000, 9999999)}")
        )
        birth = (
            ""
            if segment == "BUSINESS"
            else (dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(365 * 65))).isoformat()
        )
        cut = CUT1 if created <= CUT1 else CUT2
        if rng.random() < 0.3:
            updated = created
        else:
            updated = rand_dt(rng, created, min(cut, created + dt.timedelta(days=300)))
        clients.append(
            {
                "client_id": f"C{i:05d}",
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": phone,
                "birth_date": birth,
                "country": country,
                "segment": segment,
                "created": created,
                "updated": updated,
            }
        )

    def client_values(c: dict[str, Any]) -> dict[str, str]:
        return {
            "client_id": c["client_id"],
            "first_name": c["first_name"],
            "last_name": c["last_name"],
            "email": c["email"],
            "phone": c["phone"],
            "birth_date": c["birth_date"],
            "country": c["country"],
            "segment": c["segment"],
            "created_at": c["created"].strftime(TS1),
            "updated_at": c["updated"].strftime(TS1),
        }

    # ---- accounts ---------------------------------------------------------------------
    raw_accounts: list[dict[str, Any]] = []
    for c in clients:
        n = pick_weighted(rng, [(1, 45), (2, 35), (3, 20)])
        for j in range(n):
            if j == 0:
                opened = c["created"] + dt.timedelta(minutes=rng.randrange(5, 90))
                kind = "CHECKING"
            else:
                opened = rand_dt(rng, c["created"], dt.datetime(2024, 6, 25, 17))
                kind = pick_weighted(rng, [("SAVINGS", 55), ("CREDIT", 35), ("CHECKING", 10)])
            if c["country"] == "GB":
                currency = "GBP" if rng.random() < 0.9 else "EUR"
            else:
                currency = pick_weighted(rng, [("EUR", 93), ("USD", 5), ("GBP", 2)])
            limit = money(rng.choice([500, 1000, 1500, 2000, 2500, 5000, 10000]) * 100) if kind == "CREDIT" else ""
            raw_accounts.append(
                {
                    "client_id": c["client_id"],
                    "type": kind,
                    "currency": currency,
                    "opened": opened,
                    "limit": limit,
                    "cut": CUT1 if opened <= CUT1 else CUT2,
                }
            )
    raw_accounts.sort(key=lambda a: (a["opened"], a["client_id"]))
    accounts: list[dict[str, Any]] = []
    for i, a in enumerate(raw_accounts, start=1):
        a["account_id"] = f"A{i:06d}"
        a["status"] = "ACTIVE"
        span_end = min(a["cut"], a["opened"] + dt.timedelta(days=200))
        a["updated"] = a["opened"] if rng.random() < 0.3 else rand_dt(rng, a["opened"], span_end)
        if a["opened"] < dt.datetime(2023, 6, 1) and rng.random() < 0.05:
            a["status"] = rng.choice(["CLOSED", "CLOSED", "FROZEN"])
            a["updated"] = rand_dt(rng, dt.datetime(2023, 7, 1), dt.datetime(2023, 12, 31))
        a["closed_at"] = None  # set when delivery 02 closes or freezes it
        accounts.append(a)

    def account_values(a: dict[str, Any]) -> dict[str, str]:
        return {
            "account_id": a["account_id"],
            "client_id": a["client_id"],
            "account_type": a["type"],
            "currency": a["currency"],
            "opened_date": a["opened"].date().isoformat(),
            "status": a["status"],
            "credit_limit": a["limit"],
            "updated_at": a["updated"].strftime(TS1),
        }

    acc_01 = [a for a in accounts if a["cut"] == CUT1]
    acc_02 = [a for a in accounts if a["cut"] == CUT2]
    active_01 = [a for a in acc_01 if a["status"] == "ACTIVE"]

    # accounts that will be rejected never get transactions, updates or re-sends
    credit_01 = [a for a in active_01 if a["type"] == "CREDIT"]
    acc_victims_credit = rng.sample(credit_01, 2)
    others = [a for a in active_01 if a not in acc_victims_credit]
    acc_victims_other = rng.sample(others, 4)
    acc_victims_02 = rng.sample(acc_02, 2)
    bad_accounts = {a["account_id"] for a in acc_victims_credit + acc_victims_other + acc_victims_02}

    # delivery 02: 15 accounts closed or frozen in June, 2 stale re-sends that must lose
    candidates = [a for a in active_01 if a["account_id"] not in bad_accounts]
    changed = rng.sample(candidates, 15)
    for k, a in enumerate(sorted(changed, key=lambda x: x["account_id"])):
        a["closed_at"] = rand_dt(rng, dt.datetime(2024, 6, 1, 8), dt.datetime(2024, 6, 20, 18))
        a["new_status"] = "CLOSED" if k % 3 else "FROZEN"
    stale_pool = [a for a in candidates if a not in changed and a["updated"] - a["opened"] >= dt.timedelta(days=2)]
    stale = rng.sample(stale_pool, 2)

    # ---- clients files ----------------------------------------------------------------
    cl_01 = [c for c in clients if c["created"] <= CUT1]
    cl_02_new = [c for c in clients if c["created"] > CUT1]
    recs = {c["client_id"]: Rec(client_values(c)) for c in cl_01}
    order = [c["client_id"] for c in cl_01]
    pool = rng.sample(order, 7 + 8 + 8)
    victims, spaces, cases = pool[:7], pool[7:15], pool[15:]
    r = recs[victims[0]]
    r.values["email"] = ""
    r.reasons.append("email: missing required value")
    r = recs[victims[1]]
    r.values["email"] = "   "
    r.reasons.append("email: missing required value (only spaces)")
    r = recs[victims[2]]
    r.values["birth_date"] = "31.12.1980"
    r.reasons.append("birth_date: '31.12.1980' is not a date (yyyy-MM-dd)")
    r = recs[victims[3]]
    r.values["birth_date"] = "1899-12-31"
    r.reasons.append("birth_date: 1899-12-31 is below min 1900-01-01")
    r = recs[victims[4]]
    r.values["segment"] = "VIP"
    r.reasons.append("segment: 'VIP' not in allowed")
    r = recs[victims[5]]
    r.values["email"] = r.values["email"].replace("@", ".at.")
    r.reasons.append("email: does not match pattern (no @)")
    r = recs[victims[6]]
    r.shape = ("extra", "last_name", r.values["last_name"], " Jr.")
    r.reasons.append("wrong number of fields: 11, expected 10 (unquoted comma in last_name)")
    for k, cid in enumerate(spaces):
        col = ["client_id", "email", "country", "segment"][k % 4]
        recs[cid].values[col] = [" ", "  ", ""][k % 3] + recs[cid].values[col] + ["  ", "", " "][k % 3]
        recs[cid].dirt.append("spaces")
    for k, cid in enumerate(cases):
        col = ["segment", "country", "email", "client_id"][k % 4]
        v = recs[cid].values[col]
        recs[cid].values[col] = v.title() if col == "email" else v.lower()
        recs[cid].dirt.append("case")
    files.append(
        OutFile(
            "01/clients/clients.csv",
            "clients",
            [c["name"] for c in RULES["clients"]["columns"]],
            [recs[cid] for cid in order],
            crlf=True,
            bom=True,
            notes=["UTF-8 BOM", "CRLF line endings"],
        )
    )

    # delivery 02: 30 new clients, 10 re-sent with a new email, 10 with a new segment; extra column
    valid_01 = [cid for cid in order if not recs[cid].reasons and not recs[cid].dirt]
    resent = rng.sample(valid_01, 20)
    by_id = {c["client_id"]: c for c in clients}
    rows_02: list[Rec] = []
    updates: dict[str, str] = {}
    for k, cid in enumerate(sorted(resent)):
        c = dict(by_id[cid])
        c["updated"] = rand_dt(rng, dt.datetime(2024, 5, 2, 8), dt.datetime(2024, 6, 28, 18))
        if k % 2 == 0:
            local = c["email"].split("@")[0]
            c["email"] = f"{local}.new@example.net"
            updates[cid] = f"email -> {c['email']}"
        else:
            c["segment"] = {"RETAIL": "PREMIUM", "PREMIUM": "BUSINESS", "BUSINESS": "RETAIL"}[c["segment"]]
            updates[cid] = f"segment -> {c['segment']}"
        rows_02.append(Rec(client_values(c)))
    new_recs = [Rec(client_values(c)) for c in cl_02_new]
    v1, v2, s1, s2 = rng.sample(range(len(new_recs)), 4)
    new_recs[v1].values["client_id"] = ""
    new_recs[v1].reasons.append("client_id: missing required value")
    new_recs[v2].values["updated_at"] = "2024-06-31 10:00:00"
    new_recs[v2].reasons.append("updated_at: '2024-06-31 10:00:00' is not a timestamp (June has 30 days)")
    new_recs[s1].values["email"] = " " + new_recs[s1].values["email"]
    new_recs[s1].dirt.append("spaces")
    new_recs[s2].values["country"] = new_recs[s2].values["country"].lower() + " "
    new_recs[s2].dirt.append("case")
    rows_02 += new_recs
    rows_02.sort(key=lambda x: x.values["client_id"] or "C99999")
    for rec in rows_02:
        rec.extra["Loyalty Tier"] = pick_weighted(rng, [("", 50), ("Silver", 30), ("Gold", 15), ("Platinum", 5)])
    files.append(
        OutFile(
            "02/clients/clients_update.csv",
            "clients",
            [c["name"] for c in RULES["clients"]["columns"]],
            rows_02,
            extra_after={"Loyalty Tier": "segment"},
            notes=[
                "30 new clients, 20 re-sent with a changed email or segment (see below)",
                "extra column 'Loyalty Tier' (not in the spec) -> _rescued_data",
            ],
        )
    )

    # ---- accounts files ---------------------------------------------------------------
    arecs = {a["account_id"]: Rec(account_values(a)) for a in acc_01}
    r = arecs[acc_victims_credit[0]["account_id"]]
    r.values["credit_limit"] = "-500.00"
    r.reasons.append("credit_limit: -500.00 is below min 0")
    r = arecs[acc_victims_credit[1]["account_id"]]
    r.values["credit_limit"] = "1.500,00"
    r.reasons.append("credit_limit: '1.500,00' is not a decimal(18,2)")
    r = arecs[acc_victims_other[0]["account_id"]]
    r.values["opened_date"] = "2024-13-45"
    r.reasons.append("opened_date: '2024-13-45' is not a date")
    r = arecs[acc_victims_other[1]["account_id"]]
    r.values["currency"] = "CHF"
    r.reasons.append("currency: 'CHF' not in allowed")
    r = arecs[acc_victims_other[2]["account_id"]]
    r.values["client_id"] = ""
    r.reasons.append("client_id: missing required value")
    r = arecs[acc_victims_other[3]["account_id"]]
    r.shape = ("missing", "credit_limit")
    r.reasons.append("wrong number of fields: 7, expected 8 (credit_limit field left out)")
    plain = [aid for aid, rec in arecs.items() if not rec.reasons]
    dirt_ids = rng.sample(plain, 14)
    for k, aid in enumerate(dirt_ids[:8]):
        col = ["currency", "account_type", "status"][k % 3]
        v = arecs[aid].values[col]
        arecs[aid].values[col] = v.lower() if k % 2 == 0 else v.title()
        arecs[aid].dirt.append("case")
    for k, aid in enumerate(dirt_ids[8:]):
        col = ["account_id", "client_id", "currency"][k % 3]
        arecs[aid].values[col] = " " + arecs[aid].values[col] + " "
        arecs[aid].dirt.append("spaces")
    files.append(
        OutFile(
            "01/accounts/accounts.csv",
            "accounts",
            [c["name"] for c in RULES["accounts"]["columns"]],
            list(arecs.values()),
        )
    )

    rows_02 = []
    acc_updates: dict[str, str] = {}
    for a in acc_02:
        rec = Rec(account_values(a))
        if a is acc_victims_02[0]:
            rec.values["status"] = "SUSPENDED"
            rec.reasons.append("status: 'SUSPENDED' not in allowed")
        elif a is acc_victims_02[1]:
            rec.values["updated_at"] = ""
            rec.reasons.append("updated_at: missing required value")
        rows_02.append(rec)
    for a in changed:
        b = dict(a, status=a["new_status"], updated=a["closed_at"])
        rows_02.append(Rec(account_values(b)))
        acc_updates[a["account_id"]] = f"status -> {a['new_status']} (updated_at {a['closed_at']:%Y-%m-%d %H:%M:%S})"
    for a in stale:
        b = dict(a, status="FROZEN", updated=a["updated"] - dt.timedelta(days=1))
        rows_02.append(Rec(account_values(b)))
        acc_updates[a["account_id"]] = (
            "stale re-send: status FROZEN with updated_at one day OLDER than "
            "delivery 01 -> must lose, status stays ACTIVE"
        )
    rows_02.sort(key=lambda x: x.values["account_id"])
    files.append(
        OutFile(
            "02/accounts/accounts_update.csv",
            "accounts",
            [c["name"] for c in RULES["accounts"]["columns"]],
            rows_02,
            notes=[
                (
                    f"{len(acc_02)} new accounts, {len(changed)} re-sent closed/frozen, "
                    f"{len(stale)} stale re-sends (see below)"
                )
            ],
        )
    )

    # ---- transactions -----------------------------------------------------------------
    employer_iban = {e: iban(rng) for e in EMPLOYERS}
    counterparties = [iban(rng) for _ in range(150)]
    usable = [a for a in accounts if a["account_id"] not in bad_accounts and a["status"] == "ACTIVE"]
    txs: list[dict[str, Any]] = []
    for month in range(1, 7):
        start = dt.datetime(2024, month, 1, 7)
        end = (dt.datetime(2024, month + 1, 1) if month < 12 else dt.datetime(2025, 1, 1)) - dt.timedelta(hours=1)
        for _ in range(480 + rng.randrange(40)):
            ts = rand_dt(rng, start, end)
            if ts.hour < 7:
                ts += dt.timedelta(hours=8)
            eligible = [a for a in usable if a["opened"] < ts and (a["closed_at"] is None or ts < a["closed_at"])]
            a = rng.choice(eligible)
            weights = {
                "CHECKING": [("withdrawal", 55), ("deposit", 15), ("transfer", 20), ("fee", 10)],
                "SAVINGS": [("deposit", 45), ("transfer", 45), ("withdrawal", 5), ("fee", 5)],
                "CREDIT": [("withdrawal", 75), ("deposit", 15), ("fee", 10)],
            }[a["type"]]
            kind = pick_weighted(rng, weights)
            merchant = cp = ""
            if kind == "withdrawal":
                if rng.random() < 0.8 or a["type"] == "CREDIT":
                    merchant = rng.choice(MERCHANTS)
                    desc = rng.choice(CARD_DESCRIPTIONS)
                    cents = rng.randrange(350, 25000)
                else:
                    merchant = f"ATM {rng.choice(CITIES)}"
                    desc = "Cash withdrawal"
                    cents = rng.randrange(2, 41) * 1000
            elif kind == "deposit":
                roll = rng.random()
                if a["type"] == "CHECKING" and roll < 0.5:
                    employer = rng.choice(EMPLOYERS)
                    merchant, cp = employer, employer_iban[employer]
                    desc = f"Salary {MONTHS[month - 1]} 2024"
                    cents = rng.randrange(180000, 520000)
                elif a["type"] == "CREDIT":
                    desc = "Card repayment"
                    cents = rng.randrange(5000, 150000)
                elif roll < 0.8:
                    desc = "Cash deposit"
                    cents = rng.randrange(50, 1000) * 100
                else:
                    merchant = rng.choice(MERCHANTS)
                    desc = "Refund, order " + str(rng.randrange(10000, 99999))
                    cents = rng.randrange(500, 12000)
            elif kind == "transfer":
                desc = rng.choice(TRANSFER_DESCRIPTIONS)
                cp = rng.choice(counterparties)
                cents = rng.randrange(65000, 160000) if desc.startswith("Rent") else rng.randrange(1000, 90000)
            else:
                desc = rng.choice(FEE_DESCRIPTIONS)
                merchant = "Northwind Savings"
                cents = rng.choice(FEE_AMOUNTS)
            txs.append(
                {
                    "ts": ts,
                    "account_id": a["account_id"],
                    "amount": money(cents),
                    "cents": cents,
                    "currency": a["currency"],
                    "type": kind,
                    "description": desc,
                    "merchant": merchant,
                    "iban": cp,
                    "month": month,
                }
            )
    txs.sort(key=lambda t: (t["ts"], t["account_id"]))
    for i, t in enumerate(txs, start=1):
        t["id"] = f"TX{i:07d}"

    def tx_rec(t: dict[str, Any], fmt: str = TS1) -> Rec:
        return Rec(
            {
                "transaction_id": t["id"],
                "account_id": t["account_id"],
                "transaction_ts": t["ts"].strftime(fmt),
                "amount": t["amount"],
                "currency": t["currency"],
                "type": t["type"],
                "description": t["description"],
                "merchant": t["merchant"],
                "counterparty_iban": t["iban"],
            }
        )

    by_month = {m: [t for t in txs if t["month"] == m] for m in range(1, 7)}
    dup_src = {m: by_month[m][-5:] for m in range(1, 6)}  # re-sent at the top of the next month's file
    std_cols = [c["name"] for c in RULES["transactions"]["columns"]]
    feb_cols = [
        "transaction_ts",
        "transaction_id",
        "type",
        "amount",
        "currency",
        "account_id",
        "merchant",
        "description",
        "counterparty_iban",
    ]

    def month_file(m: int, plan: list[str], fmt: str = TS1) -> tuple[list[Rec], dict[str, Rec]]:
        """Records of month m: the re-sent tail of the previous month, then the month; dirt per plan."""
        head = [tx_rec(t, fmt) for t in dup_src.get(m - 1, [])]
        for rec in head:
            rec.dirt.append("duplicate (re-sent from previous month's file)")
        body_tx = by_month[m][:-5] if m in dup_src else by_month[m]
        body = {t["id"]: tx_rec(t, fmt) for t in by_month[m]}
        picks: dict[str, Rec] = {}
        taken: set[str] = set()
        for kind in plan:
            need_iban = kind in ("iban_spaces", "iban_lower")
            pool = [
                t["id"]
                for t in body_tx
                if t["id"] not in taken
                and (t["iban"] or not need_iban)
                and (t["cents"] >= 100000 or kind != "thousands")
                and (t["cents"] < 100000 or kind not in ("bad_amount", "euro_amount"))
            ]
            tid = rng.choice(pool)
            taken.add(tid)
            picks[kind if kind not in picks else f"{kind}#{len(picks)}"] = body[tid]
            inject(body[tid], kind, rng)
        return head + list(body.values()), picks

    plans = {
        1: [
            "bad_amount",
            "missing_account",
            "extra_field",
            "newline",
            "spaces",
            "spaces",
            "spaces",
            "spaces",
            "case_currency",
            "case_currency",
            "case_type",
            "case_type",
            "case_type",
        ],
        2: [
            "bad_ts_feb",
            "missing_amount",
            "currency_euro",
            "spaces",
            "spaces",
            "spaces",
            "case_currency",
            "case_type",
            "case_type",
            "case_account",
        ],
        3: [
            "refund",
            "negative",
            "iban_spaces",
            "na_amount",
            "missing_id",
            "thousands",
            "thousands",
            "iban_lower",
            "iban_lower",
            "iban_lower",
            "spaces",
            "spaces",
            "case_type",
            "case_type",
        ],
        4: [
            "extra_field",
            "missing_field",
            "currency_chf",
            "bad_ts_apr",
            "spaces",
            "spaces",
            "spaces",
            "case_currency",
            "case_type",
            "thousands",
        ],
        5: [
            "euro_amount",
            "missing_ts",
            "chargeback",
            "alt_ts",
            "alt_ts",
            "alt_ts",
            "alt_ts",
            "alt_ts",
            "spaces",
            "spaces",
            "case_type",
            "case_currency",
            "iban_lower",
        ],
        6: ["iban_spaces", "negative", "extra_field", "spaces", "spaces", "case_type", "case_currency", "thousands"],
    }
    recs1, _ = month_file(1, plans[1])
    files.append(
        OutFile(
            "01/transactions/transactions_2024_01.csv",
            "transactions",
            std_cols,
            recs1,
            notes=["the embedded newline makes 1 record span 2 physical lines"],
        )
    )
    recs2, _ = month_file(2, plans[2], TS2)
    files.append(
        OutFile(
            "01/transactions/transactions_2024_02.csv",
            "transactions",
            feb_cols,
            recs2,
            notes=["columns in a different order", "all timestamps dd/MM/yyyy HH:mm:ss"],
        )
    )
    recs3, picks3 = month_file(3, plans[3])
    files.append(
        OutFile(
            "01/transactions/transactions_2024_03.csv",
            "transactions",
            std_cols,
            recs3,
            notes=["re-delivered corrected in 02"],
        )
    )
    recs4, _ = month_file(4, plans[4])
    files.append(
        OutFile(
            "01/transactions/transactions_2024_04.csv",
            "transactions",
            std_cols,
            recs4,
            bom=True,
            notes=["UTF-8 BOM (first header is 'Transaction ID')"],
        )
    )

    # delivery 02: March corrected (same name), May (CRLF), June (gzip)
    fixed = [rec.copy() for rec in recs3]
    fixes = {
        picks3["refund"].values["transaction_id"]: "type refund -> deposit",
        picks3["iban_spaces"].values["transaction_id"]: "IBAN spaces removed",
        picks3["na_amount"].values["transaction_id"]: "amount n/a -> real amount",
    }
    originals = {t["id"]: t for t in by_month[3]}
    for rec in fixed:
        tid = rec.values["transaction_id"]
        if tid in fixes:
            good = tx_rec(originals[tid])
            if tid == picks3["refund"].values["transaction_id"]:
                good.values["type"] = "deposit"
            rec.values, rec.reasons, rec.dirt = good.values, [], ["fixed in re-delivery: " + fixes[tid]]
    corr_pool = [
        rec
        for rec in fixed
        if not rec.reasons and not rec.dirt and rec.values["transaction_id"] not in {t["id"] for t in dup_src[3]}
    ]
    corrected = rng.sample(corr_pool, 3)
    for rec in corrected:
        cents = int(Decimal(rec.values["amount"]) * 100)
        rec.values["amount"] = money(cents + rng.randrange(1, 50) * 100)
        rec.dirt.append("amount corrected in re-delivery")
    files.append(
        OutFile(
            "02/transactions/transactions_2024_03.csv",
            "transactions",
            std_cols,
            fixed,
            notes=[
                "same name as the 01 file: replaces its rows; 3 rejected rows fixed, "
                "3 amounts corrected: " + ", ".join(sorted(r.values["transaction_id"] for r in corrected))
            ],
        )
    )
    recs5, _ = month_file(5, plans[5])
    files.append(
        OutFile(
            "02/transactions/transactions_2024_05.csv",
            "transactions",
            std_cols,
            recs5,
            crlf=True,
            notes=["CRLF line endings", "its 5 duplicates come from delivery 01"],
        )
    )
    recs6, _ = month_file(6, plans[6])
    files.append(
        OutFile(
            "02/transactions/transactions_2024_06.csv.gz", "transactions", std_cols, recs6, notes=["gzip-compressed"]
        )
    )

    README_FACTS["client_updates"] = updates
    README_FACTS["account_updates"] = acc_updates
    return files


def inject(rec: Rec, kind: str, rng: random.Random) -> None:
    """Apply one kind of dirt to a transactions record."""
    v = rec.values
    bad = {
        "bad_amount": ("amount", "12,3x", "amount: '12,3x' is not a decimal(18,2)"),
        "na_amount": ("amount", "n/a", "amount: 'n/a' is not a decimal(18,2)"),
        "euro_amount": ("amount", "1.234,56", "amount: '1.234,56' is not a decimal(18,2) (European notation)"),
        "missing_amount": ("amount", "", "amount: missing required value"),
        "missing_account": ("account_id", "", "account_id: missing required value"),
        "missing_id": ("transaction_id", " ", "transaction_id: missing required value (one space)"),
        "missing_ts": ("transaction_ts", "", "transaction_ts: missing required value"),
        "bad_ts_feb": (
            "transaction_ts",
            "30/02/2024 09:15:00",
            ("transaction_ts: '30/02/2024 09:15:00' is not a timestamp (no 30 February)"),
        ),
        "bad_ts_apr": (
            "transaction_ts",
            "2024-04-31 12:00:00",
            ("transaction_ts: '2024-04-31 12:00:00' is not a timestamp (no 31 April)"),
        ),
        "currency_euro": ("currency", "EURO", "currency: 'EURO' not in allowed"),
        "currency_chf": ("currency", "CHF", "currency: 'CHF' not in allowed"),
        "refund": ("type", "refund", "type: 'refund' not in allowed"),
        "chargeback": ("type", "Chargeback", "type: 'chargeback' not in allowed"),
    }
    if kind in bad:
        col, value, reason = bad[kind]
        v[col] = value
        rec.reasons.append(reason)
    elif kind == "negative":
        v["amount"] = "-" + v["amount"]
        rec.reasons.append(f"amount: {v['amount']} is below min 0")
    elif kind == "iban_spaces":
        v["counterparty_iban"] = " ".join(v["counterparty_iban"][i : i + 4] for i in range(0, 32, 4)).strip()
        rec.reasons.append(f"counterparty_iban: '{v['counterparty_iban']}' does not match pattern (spaces)")
    elif kind == "extra_field":
        v["description"] = "Lunch, drinks"
        rec.shape = ("extra", "description", "Lunch", " drinks")
        rec.reasons.append("wrong number of fields: 10, expected 9 (unquoted comma in description)")
    elif kind == "missing_field":
        rec.shape = ("missing", "merchant")
        rec.reasons.append("wrong number of fields: 8, expected 9 (merchant field left out)")
    elif kind == "newline":
        v["description"] = 'Card payment\nref. 2024-01 "gift", wrapped'
        rec.dirt.append("embedded newline, comma and doubled quotes in description")
    elif kind == "spaces":
        col = rng.choice(["transaction_id", "account_id", "amount", "currency", "type"])
        v[col] = rng.choice([" ", "  ", ""]) + v[col] + rng.choice([" ", "   "])
        rec.dirt.append(f"spaces around {col}")
    elif kind == "case_currency":
        v["currency"] = rng.choice([v["currency"].lower(), " " + v["currency"].lower(), v["currency"].title()])
        rec.dirt.append("currency case")
    elif kind == "case_type":
        v["type"] = rng.choice([v["type"].upper(), v["type"].title(), " " + v["type"].upper()])
        rec.dirt.append("type case")
    elif kind == "case_account":
        v["account_id"] = v["account_id"].lower()
        rec.dirt.append("account_id lower case")
    elif kind == "thousands":
        cents = int(Decimal(v["amount"]) * 100)
        v["amount"] = f"{cents // 100:,}.{cents % 100:02d}"
        rec.dirt.append("thousands separator in amount")
    elif kind == "iban_lower":
        v["counterparty_iban"] = v["counterparty_iban"].lower()
        rec.dirt.append("IBAN lower case")
    elif kind == "alt_ts":
        v["transaction_ts"] = dt.datetime.strptime(v["transaction_ts"], TS1).strftime(TS2)
        rec.dirt.append("timestamp dd/MM/yyyy HH:mm:ss")
    else:
        raise ValueError(kind)


README_FACTS: dict[str, Any] = {}

# --------------------------------------------------------------------------------------
# Independent check: re-read the written files and apply the spec rules
# --------------------------------------------------------------------------------------

CLEAN = {
    "trim": lambda v: re.sub(r"^[\s\u00a0]+|[\s\u00a0]+$", "", v),
    "upper": str.upper,
    "lower": str.lower,
    "null_if_empty": lambda v: None if v.strip() == "" else v,
    "remove_thousands_separator": lambda v: re.sub(r"[,_ \u00a0](?=\d{3}(\D|$))", "", v),
}
TEMPORAL = {  # Spark pattern -> (strptime, exact shape)
    "yyyy-MM-dd": ("%Y-%m-%d", r"\d{4}-\d{2}-\d{2}"),
    "yyyy-MM-dd HH:mm:ss": ("%Y-%m-%d %H:%M:%S", r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"),
    "yyyy-MM-dd'T'HH:mm:ss": ("%Y-%m-%dT%H:%M:%S", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"),
    "yyyy-MM-dd HH:mm:ss.SSS": ("%Y-%m-%d %H:%M:%S.%f", r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}"),
    "dd/MM/yyyy HH:mm:ss": ("%d/%m/%Y %H:%M:%S", r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}"),
}
DEFAULT_FORMATS = {
    "date": ["yyyy-MM-dd"],
    "timestamp": ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd HH:mm:ss.SSS"],
}


def parse_value(col: dict[str, Any], v: str) -> Any:
    """The typed value, or raise ValueError."""
    ctype = col["type"]
    if ctype == "string":
        return v
    if ctype.startswith("decimal"):
        if not re.fullmatch(r"[+-]?\d{1,16}(\.\d{1,2})?", v):
            raise ValueError
        return Decimal(v)
    for fmt in col["format"] or DEFAULT_FORMATS[ctype]:
        py, shape = TEMPORAL[fmt]
        if re.fullmatch(shape, v):
            try:
                parsed = dt.datetime.strptime(v, py)
            except ValueError:
                continue
            return parsed.date() if ctype == "date" else parsed
    raise ValueError


def bound(col: dict[str, Any], b: Any) -> Any:
    if col["type"] == "date":
        return dt.date.fromisoformat(b)
    if col["type"] == "timestamp":
        return dt.datetime.fromisoformat(b)
    try:
        return Decimal(str(b))
    except InvalidOperation:
        return b


def check_record(dataset: str, header: list[str], rec: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Reasons the record is rejected (empty: valid) and its typed values."""
    if len(rec) != len(header):
        return [f"wrong number of fields: {len(rec)}, expected {len(header)}"], {}
    reasons: list[str] = []
    typed: dict[str, Any] = {}
    row = dict(zip(header, rec, strict=True))
    for col in RULES[dataset]["columns"]:
        sources = [col["source"] or col["name"]]
        raw = next((row[s] for s in sources if s in row), None)
        v: Any = None if raw in (None, "") else raw
        for rule in col["clean"]:
            if v is not None:
                v = CLEAN[rule](v)
        name = col["name"]
        if v is None or v == "":
            if col["required"]:
                reasons.append(f"{name}: missing required value")
            typed[name] = None
            continue
        try:
            value = parse_value(col, v)
        except (ValueError, InvalidOperation):
            reasons.append(f"{name}: {raw!r} is not a {col['type']}")
            continue
        typed[name] = value
        if col["allowed"] is not None and value not in col["allowed"]:
            reasons.append(f"{name}: {value!r} not in allowed {col['allowed']}")
        if col["min"] is not None and value < bound(col, col["min"]):
            reasons.append(f"{name}: {value} below min {col['min']}")
        if col["max"] is not None and value > bound(col, col["max"]):
            reasons.append(f"{name}: {value} above max {col['max']}")
        if col["pattern"] is not None and not re.search(col["pattern"], v):
            reasons.append(f"{name}: {v!r} does not match {col['pattern']}")
    return reasons, typed


def read_back(path: Path) -> tuple[list[str], list[list[str]]]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = next(reader)
    return header, list(reader)


def verify(files: list[OutFile]) -> dict[str, Any]:
    """Check every written file against RULES; return per-file results."""
    results: dict[str, Any] = {}
    for f in files:
        header, records = read_back(DELIVERIES / f.rel)
        if len(records) != len(f.records):
            raise SystemExit(f"{f.rel}: wrote {len(f.records)} records, read back {len(records)}")
        rejected, valid = [], []
        for i, (raw, gen) in enumerate(zip(records, f.records, strict=True), start=1):
            reasons, typed = check_record(f.dataset, header, raw)
            if bool(reasons) != bool(gen.reasons):
                raise SystemExit(
                    f"{f.rel} record {i}: generator says {gen.reasons or 'valid'}, "
                    f"the rules say {reasons or 'valid'}: {raw}"
                )
            if reasons:
                key = gen.values[RULES[f.dataset]["keys"][0]].strip() or "(missing)"
                rejected.append({"record": i, "key": key, "reasons": reasons, "why": gen.reasons})
            else:
                valid.append(typed)
        results[f.rel] = {"rows": len(records), "rejected": rejected, "valid": valid}
    return results


def check_yaml_specs() -> str:
    """Compare RULES with specs/*.yaml when PyYAML is importable."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return "PyYAML not importable: RULES not compared with specs/*.yaml"
    for dataset, spec in RULES.items():
        doc = yaml.safe_load((HERE / "specs" / f"{dataset}.yaml").read_text(encoding="utf-8"))
        ycols = doc["columns"]
        if [c["name"] for c in ycols] != [c["name"] for c in spec["columns"]]:
            raise SystemExit(f"specs/{dataset}.yaml: columns differ from RULES")
        for ycol, col in zip(ycols, spec["columns"], strict=True):
            for key in ("type", "source", "required", "clean", "format", "allowed", "min", "max", "pattern"):
                default = {"type": "string", "required": False, "clean": []}.get(key)
                got = ycol.get(key, default)
                if key == "type":
                    got = got.replace(" ", "").lower()
                if got != col[key]:
                    raise SystemExit(f"specs/{dataset}.yaml: {col['name']}.{key} is {got!r}, RULES say {col[key]!r}")
        if doc.get("keys", []) != spec["keys"] or doc.get("latest_by") != spec["latest_by"]:
            raise SystemExit(f"specs/{dataset}.yaml: keys/latest_by differ from RULES")
    return "specs/*.yaml match RULES"


# --------------------------------------------------------------------------------------
# Expected analytics-ready rows, README
# --------------------------------------------------------------------------------------


def analytics(files: list[OutFile], results: dict[str, Any]) -> dict[str, Any]:
    """Rows per dataset after both deliveries: re-delivered names replace, one row per key."""
    out: dict[str, Any] = {}
    for dataset, spec in RULES.items():
        effective: dict[str, str] = {}  # file name -> rel of the latest delivery of that name
        for f in files:
            if f.dataset == dataset:
                effective[f.rel.split("/", 2)[2]] = f.rel
        winners: dict[str, tuple[Any, int, dict[str, Any]]] = {}
        order = [f.rel for f in files]
        for rel in effective.values():
            for typed in results[rel]["valid"]:
                key = typed[spec["keys"][0]]
                rank = (typed[spec["latest_by"]] if spec["latest_by"] else dt.datetime.min, order.index(rel))
                if key not in winners or rank > winners[key][:2]:
                    winners[key] = (*rank, typed)
        out[dataset] = {"rows": len(winners), "winners": {k: w[2] for k, w in winners.items()}}
    return out


def dirt_summary(f: OutFile) -> str:
    counts: dict[str, int] = {}
    for rec in f.records:
        for d in rec.dirt:
            label = re.sub(r"^spaces around .*|^spaces$", "stray spaces", d)
            label = "mixed case" if label == "case" else label
            label = "fixed in re-delivery" if label.startswith("fixed in") else label
            counts[label] = counts.get(label, 0) + 1
    quoted = sum(1 for rec in f.records if not rec.shape and any(c in v for v in rec.values.values() for c in ',"\n'))
    parts = [f"{n}x {k}" for k, n in counts.items()]
    if quoted:
        parts.append(f"{quoted} row(s) with quoted fields (comma, doubled quote)")
    return "; ".join(f.notes + parts)


def write_readme(
    files: list[OutFile], results: dict[str, Any], expected: dict[str, Any], final: dict[str, Any]
) -> None:
    lines = [
        "# Sample data: Northwind Savings",
        "",
        (
            "A fictional small bank: `clients`, `accounts`, `transactions` (transactions.account_id -> "
            "accounts.account_id -> clients.client_id), delivered twice. The demo copies "
            "`deliveries/01/{dataset}/*` into `raw/{dataset}/` and runs, then does the same with `deliveries/02`. "
            "Specs: `specs/*.yaml`."
        ),
        "",
        (
            "Everything here is generated by `python sample_csv/make_samples.py` (stdlib only, `random.Random(42)`, "
            "byte-identical on every run). Do not edit the files by hand: change the script and run it again. "
            "The script re-reads what it wrote, applies the spec rules and fails if a count below would be wrong."
        ),
        "",
        (
            "`rows` = data records after the header (a quoted field with a newline is one record); "
            "`rejected` = records the pipeline must reject (required value missing, value not parsing as its "
            "type, failing allowed/min/max/pattern after the `clean` rules, or wrong number of fields). "
            "The same numbers are in `expected_counts.json`."
        ),
        "",
        "| file | rows | rejected | dirt (harmless unless listed as rejected) |",
        "| --- | ---: | ---: | --- |",
    ]
    for f in files:
        e = expected[f.rel]
        lines.append(f"| `{f.rel}` | {e['rows']} | {e['rejected']} | {dirt_summary(f)} |")
    total_rows = sum(e["rows"] for e in expected.values())
    total_rej = sum(e["rejected"] for e in expected.values())
    lines += [
        f"| **total** | {total_rows} | {total_rej} | |",
        "",
        "## Rejected records",
        "",
        "| file | record | key | why |",
        "| --- | ---: | --- | --- |",
    ]
    for f in files:
        for r in results[f.rel]["rejected"]:
            lines.append(f"| `{f.rel}` | {r['record']} | {r['key']} | {'; '.join(r['why'])} |")
    cu = README_FACTS["client_updates"]
    au = README_FACTS["account_updates"]
    lines += [
        "",
        "## After both deliveries (analytics-ready, one row per key)",
        "",
        "| dataset | rows | how |",
        "| --- | ---: | --- |",
        f"| clients | {final['clients']['rows']} | keys [client_id], latest_by updated_at |",
        f"| accounts | {final['accounts']['rows']} | keys [account_id], latest_by updated_at |",
        (
            f"| transactions | {final['transactions']['rows']} | keys [transaction_id], latest ingested wins; "
            "`02/transactions/transactions_2024_03.csv` replaces the 01 file of the same name |"
        ),
        "",
        (
            "Duplicates: each transactions file from February on starts with the last 5 transactions of the "
            "previous month's file, identical (in the February file written in its own timestamp format); "
            "25 re-sent rows in all, none of them rejected."
        ),
        "",
        "Updates in `02/clients/clients_update.csv` (newer updated_at, must win):",
        "",
    ]
    lines += [f"- {cid}: {what}" for cid, what in cu.items()]
    lines += ["", "Updates in `02/accounts/accounts_update.csv`:", ""]
    lines += [f"- {aid}: {what}" for aid, what in sorted(au.items())]
    lines.append("")
    (HERE / "README.md").write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Generate everything; return 0."""
    rng = random.Random(SEED)
    files = generate(rng)
    if DELIVERIES.exists():
        shutil.rmtree(DELIVERIES)
    for f in files:
        path = DELIVERIES / f.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(f))
    results = verify(files)
    expected = {rel: {"rows": r["rows"], "rejected": len(r["rejected"])} for rel, r in results.items()}
    (HERE / "expected_counts.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    final = analytics(files, results)
    stale = [aid for aid, what in README_FACTS["account_updates"].items() if what.startswith("stale")]
    for aid in stale:
        assert final["accounts"]["winners"][aid]["status"] == "ACTIVE", aid
    write_readme(files, results, expected, final)
    note = check_yaml_specs()
    print(
        f"wrote {len(files)} files, {sum(e['rows'] for e in expected.values())} records, "
        f"{sum(e['rejected'] for e in expected.values())} to reject; analytics rows: "
        + ", ".join(f"{d} {v['rows']}" for d, v in final.items())
        + f"; {note}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
