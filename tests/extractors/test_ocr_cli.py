"""``docline ocr``: plain text, JSON with boxes, and exit status 2 with a message for a bad document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SAMPLES = Path("samples/documents")
DOCLINE = [sys.executable, "-c", "from pipeline.cli import main; main()"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DOCLINE, "ocr", *args], capture_output=True, text=True, timeout=240, check=False)


def test_json_of_a_text_layer_pdf() -> None:
    result = run(str(SAMPLES / "inv-en-text.pdf"), "--json")
    assert result.returncode == 0, result.stderr
    [page] = json.loads(result.stdout)["pages"]
    assert set(page) == {"number", "width", "height", "rotation", "language", "source", "text", "words"}
    assert page["source"] == "text-layer"
    assert "Invoice" in page["text"]
    word = page["words"][0]
    assert set(word) == {"text", "conf", "bbox"}
    assert len(word["bbox"]) == 4


def test_plain_text_pages_are_separated_by_form_feeds(tmp_path: Path) -> None:
    # Two text-layer pages: the command's plumbing, without paying for OCR (test_ocr.py covers that).
    import pypdf

    reader = pypdf.PdfReader(SAMPLES / "rx-de-text.pdf")
    writer = pypdf.PdfWriter()
    writer.append(reader)
    writer.append(pypdf.PdfReader(SAMPLES / "inv-en-text.pdf"))
    path = tmp_path / "two.pdf"
    writer.write(path)
    result = run(str(path))
    assert result.returncode == 0, result.stderr
    pages = result.stdout.split("\f")
    assert len(pages) == 2
    assert "Brillenverordnung" in pages[0]
    assert "Invoice" in pages[1]


def test_ocr_of_a_scan() -> None:
    result = run(str(SAMPLES / "rx-nl-printed.tif"), "--lang", "nld", "--json")
    assert result.returncode == 0, result.stderr
    [page] = json.loads(result.stdout)["pages"]
    assert page["source"] == "ocr"
    assert page["language"] == "nld"
    assert "Brilrecept" in page["text"]


def test_bad_document_exits_2_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "letter.pdf"
    path.write_bytes(b"not really a pdf")
    result = run(str(path))
    assert result.returncode == 2
    assert "not supported" in result.stderr
    assert result.stdout == ""
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    result = run(str(empty))
    assert result.returncode == 2
    assert "empty" in result.stderr


def test_unknown_language_is_a_usage_error() -> None:
    result = run(str(SAMPLES / "inv-en-text.pdf"), "--lang", "klingon")
    assert result.returncode == 2
    assert "klingon" in result.stderr
