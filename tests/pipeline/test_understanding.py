"""``pipeline.understanding.Understanding.correct``: a reviewer's corrections validated like the model's output and
stored in the type's canonical form."""

from __future__ import annotations

import json
from pathlib import Path

from extractors.types import build_registry
from pipeline.metrics import Metrics
from pipeline.models import Draft, FieldInfo
from pipeline.understanding import Understanding

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"


def _understanding() -> Understanding:
    return Understanding(None, None, Metrics(), build_registry([]))


def _draft() -> Draft:
    fields = json.loads((SAMPLES / "rx-de-text.json").read_text(encoding="utf-8"))["fields"]
    fields["right"]["prism_base"] = "sideways"  # what a poor reading left for the reviewer
    return Draft(document_type="prescription", data=fields, fields={"right.prism_base": FieldInfo(value="sideways")})


def test_a_reviewer_writes_the_printed_code_and_docline_keeps_the_canonical_base() -> None:
    understanding = _understanding()
    assert not understanding.correct(_draft(), {}).validation.valid
    corrected = understanding.correct(_draft(), {"right.prism_base": "BU", "left.prism_base": "Basis innen"})
    assert corrected.validation.valid, corrected.validation.errors
    assert corrected.data["right"]["prism_base"] == "up"
    assert corrected.data["left"]["prism_base"] == "in"
    assert corrected.fields["right.prism_base"].value == "up"
    assert corrected.fields["right.prism_base"].confidence == 1.0


def test_an_invalid_correction_is_kept_as_written_for_the_reviewer_to_see() -> None:
    corrected = _understanding().correct(_draft(), {"right.prism_base": "BX"})
    assert not corrected.validation.valid
    assert ("right.prism_base", "invalid_prism_base") in {(e.field, e.code) for e in corrected.validation.errors}
    assert corrected.data["right"]["prism_base"] == "BX"
    assert corrected.fields["right.prism_base"].value == "BX"


def test_a_reviewers_code_is_read_in_the_documents_language() -> None:
    """On a German prescription the reviewer's BU is *Basis unten* (down), not the English base up."""
    german = _draft().model_copy(update={"language": "deu"})
    corrected = _understanding().correct(german, {"right.prism_base": "BU"})
    assert corrected.validation.valid, corrected.validation.errors
    assert corrected.data["right"]["prism_base"] == "down"
