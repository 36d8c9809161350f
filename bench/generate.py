#!/usr/bin/env python3
"""Generate a large, dirty ``transactions`` delivery for benchmarks (stdlib only).

    python bench/generate.py --rows 1000000 --bad-share 0.02 --dup-share 0.05 \\
        --files 8 --out /tmp/bench [--seed 42]

Writes ``OUT/raw/transactions/transactions_0001.csv`` ... ``_K.csv`` with the headers of
``sample_csv/specs/transactions.yaml`` ("Transaction ID", "Account ID", "Booking Time",
...), so that spec reads them. File i holds the i-th slice of 2024-01-01..2024-06-30 and
``--rows`` are split evenly over the files. Rows are streamed to disk in chunks: memory
does not grow with ``--rows``.

- ``bad``: exactly ``round(rows * bad_share)`` rows that the spec must reject, a mix of:
  unparseable amount ("12,3x", "n/a", "1.234,56"), negative amount (min 0), missing
  required value (id, account, timestamp, amount), impossible date ("2024-02-30"),
  currency or type outside ``allowed``, IBAN with spaces (``pattern``), one field too
  many (unquoted comma) or too few.
- ``dups``: exactly ``round(rows * dup_share)`` rows that repeat, byte for byte, a valid
  row of an earlier file (same transaction_id), sampled uniformly from all earlier files,
  or with ``--resend-window N`` from the last N files only (overlapping daily extracts);
  with ``--files 1``, of earlier in the file.
- harmless dirt on about 3% of the valid rows (spaces around values, lower/mixed case
  codes, thousands separators, lower-case IBANs, the second timestamp format
  ``dd/MM/yyyy HH:mm:ss``), quoted fields with commas and doubled quotes, and about one
  row in 10,000 with a newline inside the quoted description.

So: rows read = rows, rows rejected = bad, rows in analytics-ready = rows - bad - dups.
Prints one line: ``rows=... bad=... dups=... files=... bytes=... seconds=... out=...``.
``main(argv)`` runs the CLI; ``generate(...)`` returns the same figures as a dict.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

HEADER = [
    "Transaction ID",
    "Account ID",
    "Booking Time",
    "Amount",
    "Currency",
    "Type",
    "Description",
    "Merchant",
    "Counterparty IBAN",
]
START = dt.date(2024, 1, 1)
DAYS = 182  # 2024-01-01 .. 2024-06-30
CHUNK = 10_000  # rows per csv.writer.writerows call
RESERVOIR = 20_000  # valid rows kept as candidates for re-sending
HARMLESS_SHARE = 0.03
NEWLINE_SHARE = 0.0001

# The same vocabulary as the sample bank data (one list, two generators).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sample_csv"))
from make_samples import CARD_DESCRIPTIONS as CARD  # noqa: E402
from make_samples import FEE_DESCRIPTIONS as FEES  # noqa: E402
from make_samples import MERCHANTS  # noqa: E402
from make_samples import TRANSFER_DESCRIPTIONS as TRANSFER  # noqa: E402

N_CARD, N_MERCHANTS, N_TRANSFER, N_FEES = len(CARD), len(MERCHANTS), len(TRANSFER), len(FEES)
BAD_KINDS = [
    "bad_amount",
    "na_amount",
    "euro_amount",
    "negative",
    "missing_id",
    "missing_account",
    "missing_ts",
    "missing_amount",
    "bad_date",
    "bad_currency",
    "bad_type",
    "iban_spaces",
    "extra_field",
    "missing_field",
]


def _iban(rng: random.Random) -> str:
    country = rng.choice(["DE", "NL", "FR", "GB", "ES"])
    bban = "".join(rng.choice("0123456789") for _ in range(18))
    if country in ("NL", "GB"):
        bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + bban[:14]
    return f"{country}{rng.randrange(10, 99)}{bban}"


class _Maker:
    """Builds rows quickly from precomputed pools."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.accounts = [(f"A{i:06d}", rng.choices(["EUR", "USD", "GBP"], [90, 5, 5])[0]) for i in range(1, 5001)]
        self.ibans = [_iban(rng) for _ in range(500)]
        self.days = [(START + dt.timedelta(days=d)) for d in range(DAYS)]
        self.day_iso = [d.isoformat() for d in self.days]
        self.day_alt = [d.strftime("%d/%m/%Y") for d in self.days]
        self.times = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]

    def row(self, tid: str, day_lo: int, day_hi: int) -> list[str]:
        """A valid row with a timestamp in days [day_lo, day_hi)."""
        r = self.rng.random
        account, currency = self.accounts[int(r() * 5000)]
        ts = self.day_iso[day_lo + int(r() * (day_hi - day_lo))] + " " + self.times[int(r() * 86400)]
        roll = r()
        if roll < 0.55:
            cents = 350 + int(r() * 25000)
            return [
                tid,
                account,
                ts,
                f"{cents // 100}.{cents % 100:02d}",
                currency,
                "withdrawal",
                CARD[int(r() * N_CARD)],
                MERCHANTS[int(r() * N_MERCHANTS)],
                "",
            ]
        if roll < 0.70:
            cents = 180000 + int(r() * 340000)
            return [
                tid,
                account,
                ts,
                f"{cents // 100}.{cents % 100:02d}",
                currency,
                "deposit",
                "Salary",
                "",
                self.ibans[int(r() * 500)],
            ]
        if roll < 0.90:
            cents = 1000 + int(r() * 150000)
            return [
                tid,
                account,
                ts,
                f"{cents // 100}.{cents % 100:02d}",
                currency,
                "transfer",
                TRANSFER[int(r() * N_TRANSFER)],
                "",
                self.ibans[int(r() * 500)],
            ]
        cents = 150 + int(r() * 1100)
        return [
            tid,
            account,
            ts,
            f"{cents // 100}.{cents % 100:02d}",
            currency,
            "fee",
            FEES[int(r() * N_FEES)],
            "Northwind Savings",
            "",
        ]

    def harmless(self, row: list[str]) -> None:
        """Dirt the spec's clean rules and formats absorb: the row stays valid."""
        rng = self.rng
        pick = int(rng.random() * 7)
        if pick == 0:
            col = rng.choice([0, 1, 3, 4, 5])
            row[col] = " " + row[col] + "  "
        elif pick == 1:
            row[4] = rng.choice([row[4].lower(), " " + row[4].lower()])
        elif pick == 2:
            row[5] = rng.choice([row[5].upper(), row[5].title()])
        elif pick == 3:
            units, cents = row[3].split(".")
            row[3] = f"{int(units):,}.{cents}"
        elif pick == 4 and row[8]:
            row[8] = row[8].lower()
        elif pick == 5:
            day, clock = row[2].split(" ")
            row[2] = f"{self.day_alt[(dt.date.fromisoformat(day) - START).days]} {clock}"
        else:
            row[1] = row[1].lower()

    def bad(self, row: list[str]) -> list[str]:
        """Make the row one the spec must reject."""
        rng = self.rng
        kind = rng.choice(BAD_KINDS)
        if kind == "bad_amount":
            row[3] = "12,3x"
        elif kind == "na_amount":
            row[3] = "n/a"
        elif kind == "euro_amount":
            row[3] = "1.234,56"
        elif kind == "negative":
            row[3] = "-" + row[3]
        elif kind == "missing_id":
            row[0] = ""
        elif kind == "missing_account":
            row[1] = ""
        elif kind == "missing_ts":
            row[2] = ""
        elif kind == "missing_amount":
            row[3] = " "
        elif kind == "bad_date":
            row[2] = "2024-02-30 " + row[2][11:]
        elif kind == "bad_currency":
            row[4] = rng.choice(["EURO", "CHF", "US$"])
        elif kind == "bad_type":
            row[5] = rng.choice(["refund", "chargeback"])
        elif kind == "iban_spaces":
            value = row[8] or self.ibans[0]
            row[8] = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        elif kind == "extra_field":
            return [*row[:6], "Lunch", " drinks", *row[7:]]
        else:  # missing_field
            return row[:7] + row[8:]
        return row


def generate(
    rows: int,
    bad_share: float,
    dup_share: float,
    files: int,
    out: str | Path,
    seed: int = 42,
    newline_share: float | None = None,
    resend_window: int = 0,
) -> dict[str, Any]:
    """Write the files; return {rows, bad, dups, files, bytes, seconds, out, paths}.

    ``newline_share``: share of valid rows with a line break inside the quoted description
    (default ``NEWLINE_SHARE``; 0 for data a split read can take). ``resend_window``: when
    above 0, a file re-sends rows of the last ``resend_window`` files only (overlapping
    daily extracts); 0 (default): rows of any earlier file, sampled uniformly."""
    newline = NEWLINE_SHARE if newline_share is None else newline_share
    if rows < 1 or files < 1 or files > rows:
        raise ValueError("need rows >= files >= 1")
    if not (0 <= bad_share < 1 and 0 <= dup_share < 1 and bad_share + dup_share < 1):
        raise ValueError("bad-share and dup-share must be in [0, 1) and add up to less than 1")
    if resend_window < 0:
        raise ValueError("resend-window must be 0 or more")
    started = time.perf_counter()
    rng = random.Random(seed)
    maker = _Maker(rng)
    target = Path(out) / "raw" / "transactions"
    target.mkdir(parents=True, exist_ok=True)

    sizes = [rows // files + (1 if i < rows % files else 0) for i in range(files)]
    # dups can only re-send rows of an earlier file (or, with one file, earlier rows)
    dup_region_start = sizes[0] if files > 1 else max(1, rows // 10)
    dup_left = round(rows * dup_share)
    bad_left = round(rows * bad_share)
    if dup_left > rows - dup_region_start:
        raise ValueError(f"dup-share too high: at most {rows - dup_region_start} rows can be re-sent")
    dup_region_left = rows - dup_region_start

    reservoir: list[list[str]] = []
    recent: deque[list[list[str]]] = deque(maxlen=max(1, resend_window))  # the last files' samples
    seen_valid = 0
    next_id = 1
    n_bad = n_dup = 0
    paths: list[str] = []
    index = 0
    random_ = rng.random
    make = maker.row
    for f, size in enumerate(sizes):
        day_lo, day_hi = DAYS * f // files, max(DAYS * (f + 1) // files, DAYS * f // files + 1)
        if resend_window and files > 1:
            sources = [row for sample in recent for row in sample]
            reservoir, seen_valid = [], 0  # this file's own sample, for the files after it
        else:
            sources = list(reservoir) if files > 1 else reservoir  # earlier files only
        keep = RESERVOIR // resend_window if resend_window and files > 1 else RESERVOIR
        path = target / f"transactions_{f + 1:04d}.csv"
        with open(path, "w", newline="", encoding="utf-8", buffering=1 << 20) as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(HEADER)
            for chunk_start in range(0, size, CHUNK):
                chunk: list[list[str]] = []
                for _ in range(min(CHUNK, size - chunk_start)):
                    if index >= dup_region_start:
                        dup_region_left -= 1
                        if dup_left and sources and random_() * (dup_region_left + 1) < dup_left:
                            dup_left -= 1
                            n_dup += 1
                            chunk.append(sources[int(random_() * len(sources))])
                            index += 1
                            continue
                    row = make(f"TX{next_id:010d}", day_lo, day_hi)
                    next_id += 1
                    # exact count: bad_left among the non-dup rows still to come, this one included
                    if bad_left and random_() * (rows - index - dup_left) < bad_left:
                        row = maker.bad(row)
                        bad_left -= 1
                        n_bad += 1
                    else:
                        roll = random_()
                        if roll < HARMLESS_SHARE:
                            maker.harmless(row)
                        elif roll < HARMLESS_SHARE + newline:
                            row[6] = 'Card payment\nref. "gift", wrapped'
                        seen_valid += 1
                        if seen_valid <= keep:
                            reservoir.append(row)
                        else:
                            slot = int(random_() * seen_valid)
                            if slot < keep:
                                reservoir[slot] = row
                    chunk.append(row)
                    index += 1
                writer.writerows(chunk)
        if resend_window and files > 1:
            recent.append(reservoir)
        paths.append(str(path))
    size_bytes = sum(os.path.getsize(p) for p in paths)
    return {
        "rows": rows,
        "bad": n_bad,
        "dups": n_dup,
        "files": files,
        "bytes": size_bytes,
        "seconds": round(time.perf_counter() - started, 2),
        "out": str(target),
        "paths": paths,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, generate, print the one-line summary; return the exit code."""
    parser = argparse.ArgumentParser(prog="bench/generate.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="total data rows over all files")
    parser.add_argument("--bad-share", type=float, default=0.02, help="share of rows to be rejected (default 0.02)")
    parser.add_argument(
        "--dup-share",
        type=float,
        default=0.05,
        help="share of rows re-sending an earlier file's transaction (default 0.05)",
    )
    parser.add_argument("--files", type=int, default=1, help="number of CSV files (default 1)")
    parser.add_argument("--out", required=True, help="lake root: files go to OUT/raw/transactions/")
    parser.add_argument(
        "--resend-window",
        type=int,
        default=0,
        help="re-send rows of the last N files only (default 0: of any earlier file)",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = parser.parse_args(argv)
    try:
        stats = generate(
            args.rows, args.bad_share, args.dup_share, args.files, args.out, args.seed, resend_window=args.resend_window
        )
    except ValueError as exc:
        print(f"generate.py: {exc}", file=sys.stderr)
        return 2
    print(" ".join(f"{k}={stats[k]}" for k in ("rows", "bad", "dups", "files", "bytes", "seconds", "out")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
