"""A spec's fingerprint changes with what can change a row, and with nothing else."""

from __future__ import annotations

import yaml

from etl_lib.spec.fingerprint import spec_fingerprint
from etl_lib.spec.load import parse_spec

SPEC = """
# accounts of a partner
dataset: acct
description: Accounts
columns:
  - name: id
    type: string
    required: true
  - {name: amount, type: "decimal(18,2)", min: 0, description: in euros}
keys: [id]
"""


def fingerprint(text: str) -> str:
    return spec_fingerprint(parse_spec(yaml.safe_load(text)))


def test_comments_key_order_defaults_and_descriptions_do_not_count() -> None:
    same = """
dataset: acct
keys: ["id"]
columns:
  - {type: string, name: id, required: true, pii: false}   # pii false is the default
  - name: amount
    min: 0
    type: decimal(18,2)
    description: amounts in EUR, reworded
expectations: []
receipts: false   # what is written beside the rows, not the rows
"""
    assert fingerprint(SPEC) == fingerprint(same)
    assert len(fingerprint(SPEC)) == 16


def test_anything_that_changes_rows_counts() -> None:
    changed = [
        SPEC.replace("min: 0", "min: 1"),
        SPEC.replace("keys: [id]", "keys: []"),
        SPEC.replace("required: true", "required: false"),
        SPEC + "expectations:\n  - {type: expect_column_values_to_not_be_null, kwargs: {column: id}}\n",
        SPEC.replace('type: "decimal(18,2)"', 'type: "decimal(18,3)"'),
    ]
    prints = {fingerprint(text) for text in changed}
    assert fingerprint(SPEC) not in prints and len(prints) == len(changed)
