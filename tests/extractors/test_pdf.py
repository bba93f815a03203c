"""PDF pages: the real text layer with word boxes that land on the rendered page, or the page image."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pypdf
import pytest
from PIL import Image, ImageDraw

from extractors.errors import CorruptFile, EncryptedPdf, TooManyPages
from extractors.intake import Limits
from extractors.model import Page
from extractors.ocr import read_document, render_page
from extractors.pages import split_pages
from samples.metrics import cer

SAMPLES = Path("samples/documents")


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def truth(name: str) -> dict[str, object]:
    return json.loads((SAMPLES / f"{Path(name).stem}.json").read_text(encoding="utf-8"))


def ink_in_boxes(png: bytes, page: Page) -> float:
    """Share of word boxes with dark pixels inside them on the rendered page."""
    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert image.shape == (page.height, page.width)
    hits = 0
    for word in page.words:
        x0, y0, x1, y1 = (round(v) for v in word.bbox)
        hits += int(image[max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1].min(initial=255) < 100)
    return hits / len(page.words)


@pytest.mark.parametrize("name", ["rx-de-text.pdf", "inv-en-text.pdf"])
def test_text_layer_is_read_exactly(name: str) -> None:
    [source] = split_pages(sample(name))
    assert source.page is not None
    assert source.image_png is None
    page = source.page
    assert page.source == "text-layer"
    assert cer(str(truth(name)["text"]), page.text) == 0.0
    assert all(w.conf == 1.0 for w in page.words)


def test_text_layer_boxes_land_on_the_rendered_page() -> None:
    data = sample("inv-en-text.pdf")
    [source] = split_pages(data)
    assert source.page is not None
    assert ink_in_boxes(render_page(data, source.page), source.page) == 1.0


def test_rotated_pdf_page_boxes_are_upright() -> None:
    reader = pypdf.PdfReader(io.BytesIO(sample("rx-de-text.pdf")))
    writer = pypdf.PdfWriter(clone_from=reader)
    writer.pages[0].rotate(90)
    out = io.BytesIO()
    writer.write(out)
    data = out.getvalue()
    [source] = split_pages(data)
    page = source.page
    assert page is not None
    assert page.width > page.height  # a portrait page turned by /Rotate 90 shows landscape
    assert ink_in_boxes(render_page(data, page), page) == 1.0
    assert "Brillenverordnung" in page.text


def test_scanned_pdf_page_is_an_image_at_the_scan_resolution() -> None:
    data = sample("inv-de-scan.pdf")
    [source] = split_pages(data)
    assert source.page is None
    assert source.image_png is not None
    assert source.dpi == pytest.approx(200, abs=2)
    embedded = pypdf.PdfReader(io.BytesIO(data)).pages[0].images[0].image
    assert embedded is not None
    rendered = Image.open(io.BytesIO(source.image_png))
    assert rendered.size[0] == pytest.approx(embedded.size[0], abs=2)
    assert rendered.size[1] == pytest.approx(embedded.size[1], abs=2)


def test_empty_user_password_opens_and_real_password_is_a_clear_error() -> None:
    def encrypted(user_password: str) -> bytes:
        writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(sample("rx-de-text.pdf"))))
        writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    [source] = split_pages(encrypted(""))
    assert source.page is not None
    assert "Brillenverordnung" in source.page.text
    with pytest.raises(EncryptedPdf, match="password") as info:
        split_pages(encrypted("secret"))
    assert info.value.code == "encrypted_pdf"


def test_too_many_pages() -> None:
    writer = pypdf.PdfWriter()
    for _ in range(3):
        writer.add_blank_page(200, 200)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(TooManyPages, match="3 pages"):
        split_pages(out.getvalue(), Limits(max_pages=2))
    assert len(split_pages(out.getvalue(), Limits(max_pages=3))) == 3


def test_blank_page_is_an_image_page_without_words() -> None:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(300, 400)
    out = io.BytesIO()
    writer.write(out)
    document = read_document(out.getvalue(), languages=["eng"])
    [page] = document.pages
    assert page.source == "ocr"
    assert page.words == []


def test_truncated_pdf_is_corrupt() -> None:
    data = sample("rx-de-text.pdf")
    with pytest.raises(CorruptFile):
        split_pages(data[:2000])


def test_ccitt_fax_scan_inside_a_pdf_is_decoded() -> None:
    scan = Image.new("1", (800, 600), 1)
    ImageDraw.Draw(scan).rectangle([100, 100, 299, 199], fill=0)
    out = io.BytesIO()
    scan.save(out, format="PDF", resolution=200.0)
    data = out.getvalue()
    assert b"/CCITTFaxDecode" in data
    [source] = split_pages(data)
    assert source.dpi == pytest.approx(200, abs=1)
    page = np.asarray(Image.open(io.BytesIO(source.image_png or b"")).convert("L"))
    assert page.shape == (600, 800)
    assert page[150, 200] < 50  # inside the black box
    assert page[400, 600] > 200  # white paper


def test_utf16_halves_from_pdfium_become_whole_characters() -> None:
    # PDFium hands out UTF-16 code units: emoji in a text layer (📞 on real invoices) arrive as two halves, and a
    # lone half would make the page unserialisable.
    from extractors.pdf import join_utf16

    assert join_utf16(["\ud83d", "\udcde", "+", "4", "9"]) == "📞+49"
    assert join_utf16(["a", "\ud83d"]) == "a\ufffd"


def test_a_hyphen_breaking_a_word_at_the_lines_end_ends_the_line() -> None:
    # PDFium reports such a hyphen as U+0002 and glues the next line's part on, in one box over both lines.
    from samples.generate import Canvas, text_pdf

    canvas = Canvas(random.Random(1), "de", None)
    canvas.lines += [(1.0, 1.0, "Schutzhelm-6PUNKT-"), (1.2, 1.0, "WEISS 0,00"), (2.0, 1.0, "Total 5-")]
    [source] = split_pages(text_pdf([canvas]))
    assert source.page is not None
    lines = [[w.text for w in line.words] for line in source.page.lines]
    assert lines == [["Schutzhelm-6PUNKT-"], ["WEISS", "0,00"], ["Total", "5-"]]
    first, second = source.page.lines[0].words[0].bbox, source.page.lines[1].words[0].bbox
    assert first[3] <= second[1]  # each part's box on its own line
