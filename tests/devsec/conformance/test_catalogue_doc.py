"""docs/conformance-cases.md is the catalogue of the cases that run (issue 12 item 7)."""

from __future__ import annotations

from pathlib import Path

from devsec.conformance.document import markdown
from devsec.conformance.registry import catalogue
from devsec.conformance.requester import catalogue as requester_catalogue

DOC = Path(__file__).resolve().parents[3] / "docs" / "conformance-cases.md"


def test_the_committed_catalogue_is_generated_from_the_cases() -> None:
    cases, requester_cases = catalogue(), requester_catalogue()
    text = markdown(cases, requester_cases)
    assert all(f"`{case.id}`" in text and case.reference in text for case in cases)
    assert all(f"`{case.id}`" in text and case.reference in text for case in requester_cases)
    assert DOC.read_text() == text, (
        "regenerate: python -m devsec.conformance.document > docs/conformance-cases.md")
