"""`docline eval DIR`: committed samples with their ground truth through the real workflow (embedded sidecar,
offline extractor), scored as a direct offline extraction of the same files scores; a wrong ground truth, a
`scored` list, a rejected file; the same scores whatever the concurrency; the LLM path's calls and tokens."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agents.extract import extract
from extractors.compare import Scorecard, leaf_paths, score
from extractors.ocr import read_document
from extractors.types import get_type
from extractors.validation import validate
from pipeline.evaluation import DocumentReport, EvalReport
from tests.support.docline import run_app, write_components
from tests.support.llm_server import LLMServer, Reply

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "documents"
DOCLINE = str(Path(sys.executable).parent / "docline")
SCORED = ["patient.name", "pupillary_distance.right", "right.sphere"]

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "DOCLINE_"))}


def _truth(stem: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{stem}.json").read_text(encoding="utf-8"))


def _eval(root: Path, folder: Path, *args: str, components: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [DOCLINE, "eval", str(folder), "--resources-path", str(components or write_components(root))]
    command += ["--data", str(root / "eval-data"), *args]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=240, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _direct(stem: str) -> dict[str, Any]:
    """The sample read and extracted offline in this process, as the workflow's steps do (valid data in the
    type's JSON form)."""
    truth = _truth(stem)
    document = read_document((SAMPLES / truth["file"]).read_bytes())
    doc_type = get_type(truth["document_type"])
    extraction = extract(document, doc_type, None)
    report = validate(doc_type, extraction.data, document.language)
    assert report.valid  # else the workflow would repair it: these samples are meant to need none
    return dict(report.data)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two samples as committed, the invoice again under a ground truth with two wrong values (named by stem, no
    `file` key), the prescription again with a `scored` list, an empty file, and files eval must pass over."""
    folder = tmp_path_factory.mktemp("eval") / "documents"
    folder.mkdir()
    for stem in ("inv-en-text", "rx-de-text"):
        for suffix in (".pdf", ".json"):
            shutil.copy(SAMPLES / f"{stem}{suffix}", folder / f"{stem}{suffix}")
    wrong = _truth("inv-en-text")
    del wrong["file"]
    wrong["fields"]["invoice_number"] = "F-2025-0000"
    wrong["fields"]["seller"]["name"] = "Someone Else GmbH"
    shutil.copy(SAMPLES / "inv-en-text.pdf", folder / "inv-wrong.pdf")
    (folder / "inv-wrong.json").write_text(json.dumps(wrong))
    scored = {**_truth("rx-de-text"), "file": "rx-scored.pdf", "scored": SCORED}
    shutil.copy(SAMPLES / "rx-de-text.pdf", folder / "rx-scored.pdf")
    (folder / "rx-scored.json").write_text(json.dumps(scored))
    (folder / "empty.pdf").write_bytes(b"")
    (folder / "empty.json").write_text(json.dumps({**_truth("inv-en-text"), "file": "empty.pdf"}))
    shutil.copy(SAMPLES / "rx-de-clean.png", folder / "no-truth.png")
    (folder / "settings.json").write_text(json.dumps({"not": "a ground truth"}))
    return folder


@pytest.fixture(scope="module")
def report(folder: Path) -> EvalReport:
    done = _eval(folder.parent, folder, "--json", "--jobs", "3")
    return EvalReport.model_validate_json(done.stdout)


def _doc(report: EvalReport, name: str) -> DocumentReport:
    return next(d for d in report.documents if d.file == name)


def _right(*cards: Scorecard) -> tuple[int, int]:
    """Fields right, fields scored."""
    return sum(f.right for c in cards for f in c.fields), sum(len(c.fields) for c in cards)


def test_the_report_scores_what_a_direct_offline_extraction_gives(report: EvalReport) -> None:
    assert [d.file for d in report.documents] == [
        "empty.pdf",
        "inv-en-text.pdf",
        "inv-wrong.pdf",
        "rx-de-text.pdf",
        "rx-scored.pdf",
    ]
    assert report.extractor == "offline"
    cards = {
        "inv-en-text.pdf": score(_truth("inv-en-text")["fields"], _direct("inv-en-text")),
        "inv-wrong.pdf": score(
            json.loads((Path(report.folder) / "inv-wrong.json").read_text())["fields"], _direct("inv-en-text")
        ),
        "rx-de-text.pdf": score(_truth("rx-de-text")["fields"], _direct("rx-de-text")),
        "rx-scored.pdf": score(_truth("rx-de-text")["fields"], _direct("rx-de-text"), SCORED),
        "empty.pdf": score(_truth("inv-en-text")["fields"], None),
    }
    for name, card in cards.items():
        doc = _doc(report, name)
        assert [(f.path, f.right, f.got) for f in doc.fields] == [(f.path, f.right, f.got) for f in card.fields], name
        assert [(f.path, f.right) for f in doc.lists] == [(f.path, f.right) for f in card.lists], name
        assert (doc.accuracy.right, doc.accuracy.total) == _right(card), name
    right, total = _right(*cards.values())
    assert (report.total.right, report.total.total) == (right, total)
    assert 0 < right < total  # the offline extractor misses some fields of these samples (addresses, PD per eye)
    english = _right(*(cards[n] for n in ("inv-en-text.pdf", "inv-wrong.pdf", "empty.pdf")))
    assert (report.per_language["en"].right, report.per_language["en"].total) == english
    german = _right(*(cards[n] for n in ("rx-de-text.pdf", "rx-scored.pdf")))
    assert (report.per_language["de"].right, report.per_language["de"].total) == german
    assert report.per_field["invoice"]["invoice_number"].right == 1  # right in inv-en-text only
    assert report.per_field["invoice"]["invoice_number"].total == 3
    # Line items: a share of documents (the empty file's none).
    assert report.lists["invoice"]["line_items"].total == 3
    assert report.lists["invoice"]["line_items"].right == sum(cards[n].lists[0].right for n in cards if "inv" in n)
    assert report.document_type.right == 4  # the empty file has no type
    assert report.usage.llm_calls == 0
    assert all(d.seconds > 0 for d in report.documents if d.status != "rejected")
    assert (report.seconds_per_document.max or 0) > 0


def test_a_wrong_ground_truth_lowers_the_score(report: EvalReport) -> None:
    right, wrong = _doc(report, "inv-en-text.pdf"), _doc(report, "inv-wrong.pdf")
    assert wrong.accuracy.total == right.accuracy.total
    assert wrong.accuracy.right == right.accuracy.right - 2
    misses = {(m.file, m.path): (m.expected, m.got) for m in report.misses}
    assert misses[("inv-wrong.pdf", "invoice_number")] == ("F-2025-0000", "F-2025-9979")
    assert misses[("inv-wrong.pdf", "seller.name")] == ("Someone Else GmbH", "Clearview Optical Ltd")


def test_a_scored_list_is_respected(report: EvalReport) -> None:
    doc = _doc(report, "rx-scored.pdf")
    assert [f.path for f in doc.fields] == SCORED
    assert doc.lists == []
    assert report.per_field["prescription"]["patient.name"].total == 2
    assert report.per_field["prescription"]["left.sphere"].total == 1  # only rx-de-text scores it


def test_a_rejected_document_counts_as_all_wrong(report: EvalReport) -> None:
    doc = _doc(report, "empty.pdf")
    assert doc.status == "rejected"
    assert doc.error is not None
    assert doc.error.code == "empty_file"
    assert doc.accuracy.right == 0
    assert doc.accuracy.total == len(leaf_paths(_truth("inv-en-text")["fields"]))
    assert [(f.path, f.right) for f in doc.lists] == [("line_items", False)]
    assert not any(m.file == "empty.pdf" for m in report.misses)  # reported once, with its error code


def test_scores_do_not_depend_on_concurrency_and_no_documents_are_left(folder: Path, report: EvalReport) -> None:
    root = folder.parent
    one_at_a_time = EvalReport.model_validate_json(_eval(root, folder, "--json").stdout)
    assert [d.model_dump(exclude={"seconds"}) for d in one_at_a_time.documents] == [
        d.model_dump(exclude={"seconds"}) for d in report.documents
    ]
    # Every evaluated document was deleted (nothing waits for a review in the results store).
    with run_app(root) as app:
        assert app.client().get("/v1/documents").json()["items"] == []


def test_the_printed_report(folder: Path, report: EvalReport) -> None:
    printed = _eval(folder.parent, folder, "--only", "wrong").stdout
    doc = _doc(report, "inv-wrong.pdf")
    assert "1 documents" in printed
    share = f"{100 * doc.accuracy.right / doc.accuracy.total:5.1f}% ({doc.accuracy.right}/{doc.accuracy.total})"
    assert f"{'total':36} {share} fields" in printed
    assert f"{'en':34} {share}" in printed
    assert "LLM                                  0 calls, 0 tokens in, 0 out" in printed
    miss = next(line for line in printed.splitlines() if "invoice_number" in line and "expected" in line)
    assert miss.split() == ["inv-wrong.pdf", "invoice_number", "expected", '"F-2025-0000"', "got", '"F-2025-9979"']


def test_an_llm_component_is_counted(tmp_path: Path, folder: Path, llm_server: LLMServer) -> None:
    """A components folder with a conversation component runs the LLM path: its calls and tokens are reported."""
    llm_server.default = Reply(json={"type": "prescription", **_truth("rx-de-text")["fields"]}, usage=(120, 30))
    components = write_components(tmp_path, openai_endpoint=llm_server.openai_base_url)
    done = _eval(tmp_path, folder, "--json", "--only", "rx-de-text", "--type", "prescription", components=components)
    report = EvalReport.model_validate_json(done.stdout)
    assert report.extractor == "llm"
    assert [d.file for d in report.documents] == ["rx-de-text.pdf"]
    calls = len(llm_server.requests)
    assert calls > 0
    assert report.usage.model_dump() == {"llm_calls": calls, "input_tokens": 120 * calls, "output_tokens": 30 * calls}
    assert report.documents[0].usage == report.usage
