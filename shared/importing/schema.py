"""JSON Schemas of the import format, generated from ``shared.importing.records``.

``python -m shared.importing.schema`` writes ``schemas/import/<kind>.json`` (one per record kind) and
``schemas/import/record.json`` (any record: the union, discriminated by ``kind``); a test fails when
the committed files differ from the models, so the published format and the validator never drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter

from shared.importing.records import RECORD_MODELS, ImportRecord

IMPORT_SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas" / "import"
_BASE = "https://customer360.example/schemas/import/"


def _document(schema: dict[str, Any], name: str, description: str) -> bytes:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{_BASE}{name}.json",
              "description": description, **{k: v for k, v in schema.items() if k != "description"}}
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def generated_files(root: Path = IMPORT_SCHEMAS_DIR) -> dict[Path, bytes]:
    """Path → content of every import schema file."""
    files = {
        root / f"{kind}.json": _document(model.model_json_schema(), kind,
                                         (model.__doc__ or f"A {kind} record.").strip().splitlines()[0])
        for kind, model in RECORD_MODELS.items()
    }
    union = TypeAdapter(ImportRecord).json_schema()
    files[root / "record.json"] = _document(union, "record", "One line of an import file (NDJSON): any record kind.")
    return files


def main() -> None:
    IMPORT_SCHEMAS_DIR.mkdir(parents=True, exist_ok=True)
    for path, content in generated_files().items():
        path.write_bytes(content)
        print(path.relative_to(IMPORT_SCHEMAS_DIR.parents[1]))


if __name__ == "__main__":
    main()
