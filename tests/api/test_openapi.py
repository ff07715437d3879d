"""The OpenAPI document is the API's manual: every operation shows an example answer, every body an example."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from needcast.settings import Settings


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _schema_has_example(doc: dict, schema: dict) -> bool:
    schema = _resolve(doc, schema)
    if "example" in schema or "examples" in schema:
        return True
    return any(_schema_has_example(doc, s) for s in schema.get("anyOf", []) if s.get("type") != "null")


def _has_example(doc: dict, content: dict) -> bool:
    return any("example" in media or "examples" in media or _schema_has_example(doc, media.get("schema", {}))
               for media in content.values())


def _operations(app: FastAPI) -> list[tuple[str, str, dict]]:
    doc = app.openapi()
    return [(method.upper(), path, op) for path, item in doc["paths"].items() for method, op in item.items()]


def test_every_operation_has_an_example_answer_and_body(settings: Settings) -> None:
    app = create_app(settings)
    doc = app.openapi()
    operations = _operations(app)
    assert len(operations) >= 15
    missing = []
    for method, path, op in operations:
        success = [r for code, r in op["responses"].items() if code.startswith("2")]
        if not success or not any(_has_example(doc, r.get("content", {})) for r in success):
            missing.append(f"{method} {path}: no example answer")
        body = op.get("requestBody")
        if body is not None and not _has_example(doc, body["content"]):
            missing.append(f"{method} {path}: no example body")
    assert not missing, "\n".join(missing)


def test_every_keyed_operation_documents_its_errors(settings: Settings) -> None:
    app = create_app(settings)
    undocumented = []
    for method, path, op in _operations(app):
        codes = set(op["responses"])
        if op.get("security") and not {"401", "403"} <= codes:
            undocumented.append(f"{method} {path}: 401/403")
        if "requestBody" in op and "400" not in codes:
            undocumented.append(f"{method} {path}: 400")
        if "{" in path and "404" not in codes:
            undocumented.append(f"{method} {path}: 404")
    assert not undocumented, "\n".join(undocumented)
