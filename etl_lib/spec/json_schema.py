"""The JSON Schema of a dataset spec, for editors (completion and checks as you type).

Written by pydantic from the same model that validates specs, so the two cannot drift: the
copy in ``docs/dataset-spec.schema.json`` is checked against this by the tests, and
``etl-lib spec-schema`` prints it from the installed wheel.
"""

from __future__ import annotations

import json
from typing import Any

from etl_lib.spec.model import DatasetSpec

SCHEMA_ID = "https://etl-lib.dev/schemas/dataset-spec.schema.json"


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a dataset spec."""
    schema = DatasetSpec.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "etl_lib dataset spec",
    }


def spec_json_schema_text() -> str:
    """``spec_json_schema`` as the text of the published file."""
    return json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"
