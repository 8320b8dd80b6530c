"""Checking JSON bodies against the API's own OpenAPI document."""

from __future__ import annotations


def check_schema(document: dict, schema: str, body: object) -> None:
    """``body`` against a schema of the document ($refs resolved within the document)."""
    from jsonschema import Draft202012Validator, FormatChecker

    validator = Draft202012Validator(
        {**document, "$ref": f"#/components/schemas/{schema}"}, format_checker=FormatChecker()
    )
    errors = [e.message for e in validator.iter_errors(body)]
    assert errors == [], errors
