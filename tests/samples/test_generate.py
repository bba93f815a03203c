"""The sample generator: deterministic, the committed set is its output, and the ground truth is valid data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from stdnum import iban
from stdnum.eu import vat

from samples import generate

SAMPLES = Path("samples/documents")


def truths() -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.json"))]


def test_committed_set_is_exactly_what_the_generator_makes(tmp_path: Path) -> None:
    generate.main(["--out", str(tmp_path)])
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in SAMPLES.iterdir())
    for name in made:
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name


def test_random_samples_are_deterministic(tmp_path: Path) -> None:
    generate.main(["--out", str(tmp_path / "a"), "--count", "2", "--seed", "7"])
    generate.main(["--out", str(tmp_path / "b"), "--count", "2", "--seed", "7"])
    a = sorted((tmp_path / "a").iterdir())
    assert len(a) == 4
    for path in a:
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()


def test_committed_set_is_small_and_covers_languages_and_formats() -> None:
    assert sum(p.stat().st_size for p in SAMPLES.iterdir()) < 5 * 1024 * 1024
    items = truths()
    assert 16 <= len(items) <= 24
    assert {t["language"] for t in items} >= {"de", "fr", "es", "it", "en", "pt", "nl", "ja"}
    assert {Path(t["file"]).suffix for t in items} >= {".png", ".jpg", ".tif", ".pdf", ".webp"}
    assert {t["scan"]["rotation"] for t in items} >= {0, 90, 180, 270}
    assert any(t["scan"]["handwriting"] for t in items)
    assert any(t["source"] == "text-layer" for t in items)
    assert any(t["pages"] > 1 for t in items)
    for t in items:
        assert (SAMPLES / t["file"]).exists()
        assert t["text"].strip()


def iso(value: str) -> None:
    assert dt.date.fromisoformat(value).isoformat() == value


@pytest.mark.parametrize("item", [t for t in truths() if t["document_type"] == "invoice"], ids=lambda t: t["file"])
def test_invoice_ground_truth_passes_validation_rules(item: dict[str, Any]) -> None:
    fields = item["fields"]
    iso(fields["issue_date"])
    iso(fields["due_date"])
    assert fields["due_date"] >= fields["issue_date"]
    assert fields["currency"] in ("EUR", "JPY")
    for line in fields["line_items"]:
        assert line["amount"] == pytest.approx(line["quantity"] * line["unit_price"], abs=0.005)
    assert fields["net_amount"] == pytest.approx(sum(line["amount"] for line in fields["line_items"]), abs=0.005)
    assert fields["total_amount"] == pytest.approx(fields["net_amount"] + fields["tax_amount"], abs=0.005)
    seller, buyer = fields["seller"], fields["buyer"]
    if item["language"] == "ja":
        assert seller["vat_id"].startswith("T")
        assert len(seller["vat_id"]) == 14
    else:
        assert vat.is_valid(seller["vat_id"]), seller["vat_id"]
        assert vat.is_valid(buyer["vat_id"]), buyer["vat_id"]
        assert iban.is_valid(seller["iban"]), seller["iban"]
        assert seller["iban"] in item["text"]
    assert fields["invoice_number"] in item["text"]


@pytest.mark.parametrize("item", [t for t in truths() if t["document_type"] == "prescription"], ids=lambda t: t["file"])
def test_prescription_ground_truth_is_plausible(item: dict[str, Any]) -> None:
    fields = item["fields"]
    iso(fields["issue_date"])
    iso(fields["patient"]["date_of_birth"])
    assert fields["patient"]["date_of_birth"] < fields["issue_date"]
    assert fields["patient"]["name"] in item["text"]
    for eye in ("right", "left"):
        values = fields[eye]
        assert -20 <= values["sphere"] <= 20
        assert (values["sphere"] * 4) == int(values["sphere"] * 4)  # quarter dioptres
        assert (values["cylinder"] is None) == (values["axis"] is None)
        assert values["axis"] is None or 1 <= values["axis"] <= 180
        assert (values["prism"] is None) == (values["prism_base"] is None)
    pd = fields["pupillary_distance"]
    assert pd["right"] + pd["left"] == pytest.approx(pd["binocular"], abs=0.05)
    assert fields["lens_type"] in ("single_vision", "progressive", "bifocal")


@pytest.mark.parametrize("item", [t for t in truths() if t["document_type"] == "prescription"], ids=lambda t: t["file"])
def test_prescription_ground_truth_is_valid_and_canonical(item: dict[str, Any]) -> None:
    """The truth holds what the type stores (prism bases as in/out/up/down, not the BI/BU printed on the form)."""
    from extractors.types import get_type
    from extractors.validation import validate

    report = validate(get_type("prescription"), item["fields"])
    assert report.valid, report.errors
    assert report.data == item["fields"]
    for eye in ("right", "left"):
        assert item["fields"][eye]["prism_base"] in (None, "in", "out", "up", "down")


def test_prism_bases_are_printed_as_codes_and_kept_canonical() -> None:
    with_prism = [t for t in truths() if t["document_type"] == "prescription" and t["fields"]["right"]["prism"]]
    assert with_prism  # the committed set has a prescription with prisms
    for item in with_prism:
        for eye in ("right", "left"):
            code = {v: k for k, v in generate.PRISM_BASE_CODES.items()}[item["fields"][eye]["prism_base"]]
            assert code in item["text"]
