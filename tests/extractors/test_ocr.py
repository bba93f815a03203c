"""OCR against the committed samples' ground truth: CER per language, orientation, deskew, language choice, boxes.

Each sample is read once per session (OCR is slow on two cores); the tests below judge the shared readings.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from extractors.language import LATIN
from extractors.model import Document, Line, Page
from extractors.ocr import ocr_page, read_document, render_page
from extractors.pages import split_pages
from samples.metrics import cer

SAMPLES = Path("samples/documents")

# A representative subset: every language, printed and handwritten, each degradation, each file kind.
# (sample, highest acceptable CER) — handwriting-style fonts read far worse than print, as in real life.
SUBSET = {
    "inv-de-scan.pdf": 0.05,  # deu, scanned PDF, skew, JPEG
    "inv-fr-clean.png": 0.05,  # fra
    "inv-es-rot270.jpg": 0.05,  # spa, turned sideways
    "rx-it-noise.jpg": 0.55,  # ita, handwriting, noise, blur
    "inv-en-lowdpi.jpg": 0.12,  # eng, 120 dpi
    "inv-pt-blur.jpg": 0.10,  # por, blur
    "rx-pt-rot180.jpg": 0.45,  # por, handwriting, upside down
    "rx-nl-printed.tif": 0.08,  # nld, bilevel TIFF
    "inv-ja-clean.png": 0.12,  # jpn
    "rx-ja-printed.png": 0.15,  # jpn (kanji-heavy: OSD says Han)
    "rx-es-rot90.png": 0.45,  # spa, handwriting, turned sideways
    "rx-de-clean.png": 0.30,  # deu, handwriting
    "rx-en-lowdpi.png": 0.45,  # eng, handwriting, 100 dpi
    "rx-fr-skew.jpg": 0.25,  # fra, handwriting, skew
    "inv-nl-webp.webp": 0.05,  # nld, WebP, noise
}


def truth(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{Path(name).stem}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def readings() -> dict[str, Document]:
    """Every subset sample read in automatic mode (languages and orientation unknown to the reader)."""
    return {name: read_document((SAMPLES / name).read_bytes(), workers=2) for name in SUBSET}


@pytest.mark.parametrize("name", list(SUBSET))
def test_character_error_rate(readings: dict[str, Document], name: str) -> None:
    rate = cer(truth(name)["text"], readings[name].text)
    assert rate <= SUBSET[name], f"{name}: CER {rate:.3f}"


@pytest.mark.parametrize("name", list(SUBSET))
def test_orientation_and_skew_are_undone(readings: dict[str, Document], name: str) -> None:
    expected = truth(name)["scan"]
    page = readings[name].pages[0]
    assert page.rotation == expected["rotation"]
    assert page.skew == pytest.approx(expected["skew"], abs=0.4)
    assert page.source == "ocr"


@pytest.mark.parametrize("name", list(SUBSET))
def test_language_is_chosen_per_page(readings: dict[str, Document], name: str) -> None:
    expected = truth(name)["tesseract_language"]
    chosen = readings[name].pages[0].languages
    # A Latin-script page is read with its own language's model alone; kanji may leave jpn and chi_sim both in.
    if expected in LATIN:
        assert chosen == [expected]
    else:
        assert expected in chosen


def test_low_resolution_is_upscaled(readings: dict[str, Document]) -> None:
    page = readings["inv-en-lowdpi.jpg"].pages[0]
    assert page.dpi == pytest.approx(180, abs=1)


def words_on_ink(png: bytes, page: Page) -> float:
    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert image.shape == (page.height, page.width)
    confident = [w for w in page.words if w.conf > 0.8 and len(w.text) >= 3]
    assert len(confident) >= 10
    hits = 0
    for word in confident:
        x0, y0, x1, y1 = (round(v) for v in word.bbox)
        hits += int(image[y0 : y1 + 1, x0 : x1 + 1].min(initial=255) < 110)
    return hits / len(confident)


@pytest.mark.parametrize("name", ["inv-es-rot270.jpg", "inv-de-scan.pdf", "inv-en-lowdpi.jpg"])
def test_boxes_land_on_the_rendered_upright_page(readings: dict[str, Document], name: str) -> None:
    [source] = split_pages((SAMPLES / name).read_bytes())
    assert source.image_png is not None
    page = readings[name].pages[0]
    png = render_page(source.image_png, page)
    assert words_on_ink(png, page) > 0.97
    # The title sits near the top of the upright page: proof the page is not turned in the picture.
    title = {"inv-es-rot270.jpg": "Factura", "inv-de-scan.pdf": "Rechnung", "inv-en-lowdpi.jpg": "Invoice"}[name]
    [word] = [w for w in page.words if w.text == title][:1]
    assert word.bbox[1] < 0.3 * page.height


def test_known_language_skips_detection() -> None:
    [source] = split_pages((SAMPLES / "rx-nl-printed.tif").read_bytes())
    assert source.image_png is not None
    page = ocr_page(source.image_png, number=1, dpi=source.dpi, languages=["nld"])
    assert page.languages == ["nld"]
    assert cer(truth("rx-nl-printed.tif")["text"], page.text) <= 0.08


def test_multipage_tiff_reads_every_page_in_order() -> None:
    document = read_document((SAMPLES / "inv-it-multipage.tif").read_bytes(), languages=["ita"], workers=2)
    assert [p.number for p in document.pages] == [1, 2]
    assert document.media_type == "image/tiff"
    assert cer(truth("inv-it-multipage.tif")["text"], document.text) <= 0.08
    assert "Totale" in document.pages[1].text


def test_text_layer_pdf_needs_no_ocr() -> None:
    document = read_document((SAMPLES / "rx-de-text.pdf").read_bytes())
    assert [p.source for p in document.pages] == ["text-layer"]
    assert cer(truth("rx-de-text.pdf")["text"], document.text) == 0.0


def test_automatic_english_page_reads_as_one_pass_would(readings: dict[str, Document]) -> None:
    """The English probe is kept as the top of the page: joined to the rest it matches a whole-page reading."""
    [source] = split_pages((SAMPLES / "inv-en-lowdpi.jpg").read_bytes())
    assert source.image_png is not None
    whole = ocr_page(source.image_png, number=1, dpi=source.dpi, languages=["eng"])
    auto = readings["inv-en-lowdpi.jpg"].pages[0]
    assert auto.languages == ["eng"]
    assert cer(whole.text, auto.text) <= 0.02
    assert abs(len(auto.lines) - len(whole.lines)) <= 2
    # No line is lost, doubled or shifted at the cut: each line of the whole-page reading has its twin, box and text.
    for line in whole.lines:
        twins = [
            other
            for other in auto.lines
            if all(abs(a - b) <= 3 for a, b in zip(other.words[0].bbox, line.words[0].bbox, strict=True))
        ]
        assert len(twins) == 1, line.text
        assert cer(line.text, twins[0].text) <= 0.2, (line.text, twins[0].text)


@pytest.mark.parametrize("name", ["inv-es-rot270.jpg", "rx-pt-rot180.jpg"])
def test_turned_page_with_language_given_is_read_upright(name: str) -> None:
    [source] = split_pages((SAMPLES / name).read_bytes())
    assert source.image_png is not None
    expected = truth(name)
    page = ocr_page(source.image_png, number=1, dpi=source.dpi, languages=[expected["tesseract_language"]])
    assert page.rotation == expected["scan"]["rotation"]
    assert page.languages == [expected["tesseract_language"]]
    assert cer(expected["text"], page.text) <= SUBSET[name]


CHINESE_INVOICE = [
    "上海明远光学有限公司",
    "增值税普通发票",
    "发票号码：2024031588  开票日期：2024年3月15日",
    "购买方名称：北京华新眼镜连锁店",
    "地址电话：北京市朝阳区建国路88号 010-65432100",
    "货物或应税劳务名称  规格型号  数量  单价  金额",
    "树脂镜片 1.60 非球面  2  180.00  360.00",
    "金属镜架 钛合金  1  450.00  450.00",
    "合计金额：930.00  税率：13%  税额：120.90",
    "备注：请于收到发票后三十日内付款",
]


def test_chinese_page_is_read_with_the_chinese_model() -> None:
    """A kanji-only page is first read with jpn (which covers most kanji); its text, with no kana, says Chinese."""
    image = Image.new("L", (1654, 2338), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 34, index=2)  # SC
    for row, line in enumerate(CHINESE_INVOICE):
        draw.text((120, 150 + row * 95), line, font=font, fill=0)
    png = io.BytesIO()
    image.save(png, format="PNG")
    page = ocr_page(png.getvalue(), number=1, dpi=200)
    assert page.languages == ["chi_sim"]
    assert cer("\n".join(CHINESE_INVOICE), page.text) <= 0.12


def test_text_left_out_of_a_reading_is_read_again() -> None:
    from extractors.ocr import _Reading, _tesseract, _with_unread

    image = Image.new("L", (1400, 500), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 30)
    for row, text in enumerate(["Rechnung Nr. 2024-0017", "Nettobetrag 100,00", "Summe gesamt 119,00 EUR"]):
        draw.text((100, 100 + row * 100), text, font=font, fill=0)
    full = _tesseract(image, ["deu"], 200.0, 60.0)
    # As if layout analysis had dropped the last line (Tesseract does so to a block between dash lines).
    partial = _Reading(lines=[line for line in full.lines if "Summe" not in line.text], languages=["deu"])
    assert "Summe" not in partial.text
    recovered = _with_unread(image, partial, 200.0, 60.0)
    assert "Summe gesamt 119,00 EUR" in recovered.text
    assert recovered.text.index("Nettobetrag") < recovered.text.index("Summe")  # kept in reading order
    assert _with_unread(image, full, 200.0, 60.0) is full  # nothing left out: no second run
    # An amount alone at a line's end, dropped as a speck: read again too.
    no_amount = _Reading(
        lines=[Line(words=[w for w in line.words if w.text != "100,00"]) for line in full.lines], languages=["deu"]
    )
    assert "100,00" not in no_amount.text
    assert "100,00" in _with_unread(image, no_amount, 200.0, 60.0).text


def test_many_words_left_out_are_read_again_each_where_it_was() -> None:
    from extractors.ocr import _Reading, _tesseract, _with_unread

    image = Image.new("L", (1400, 1000), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 30)
    for row in range(7):
        draw.text((100, 100 + row * 110), f"Artikel {row + 1}", font=font, fill=0)
        draw.text((1100, 100 + row * 110), f"{row + 1}2,50", font=font, fill=0)
    full = _tesseract(image, ["deu"], 200.0, 60.0)
    amounts = [w for w in full.words if w.bbox[0] > 1000]
    assert len(amounts) == 7
    # As if layout analysis had taken every amount for a speck: seven regions of unread ink, read in one run.
    kept = [[w for w in line.words if w.bbox[0] < 1000] for line in full.lines]
    partial = _Reading(lines=[Line(words=words) for words in kept if words], languages=["deu"])
    recovered = [w for w in _with_unread(image, partial, 200.0, 60.0).words if w.bbox[0] > 1000]
    assert [w.text for w in recovered] == [w.text for w in amounts]
    for again, printed in zip(recovered, amounts, strict=True):
        assert all(abs(a - b) <= 3 for a, b in zip(again.bbox, printed.bbox, strict=True))
