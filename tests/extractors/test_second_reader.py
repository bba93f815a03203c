"""The second reader (PP-OCR through rapidocr) on a form made in the test: printed labels, handwritten values.

Tesseract reads the labels surely and the handwriting poorly; the second reader re-reads only the unsure words.
The tests that run the model skip when rapidocr is not installed (``pip install 'docline[rapidocr]'``).
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw, ImageFont

from extractors import second_reader
from extractors.model import Line, Word
from extractors.ocr import ocr_page
from pipeline.settings import Settings

PRINTED = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
HANDWRITTEN = "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf"  # Debian fonts-dkg-handwriting
FORM = [("Geburtsdatum:", "26.05.1999"), ("Datum:", "03.01.2024"), ("Pupillendistanz:", "57,5 mm"), ("SPH R:", "-5,75")]


def handwritten_form() -> bytes:
    page = Image.new("L", (1500, 700), 255)
    draw = ImageDraw.Draw(page)
    label, hand = ImageFont.truetype(PRINTED, 30), ImageFont.truetype(HANDWRITTEN, 44)
    for row, (name, value) in enumerate(FORM):
        draw.text((80, 80 + row * 130), name, font=label, fill=0)
        draw.text((560, 62 + row * 130), value, font=hand, fill=40)
    out = io.BytesIO()
    page.save(out, format="PNG", dpi=(200, 200))
    return out.getvalue()


def word(text: str, conf: float, x: float) -> Word:
    return Word(text=text, conf=conf, bbox=(x, 100.0, x + 20.0 * len(text), 130.0))


def test_unsure_words_are_grouped_into_runs_between_sure_ones() -> None:
    words = [word("Datum:", 0.95, 0), word("03.0l", 0.41, 200), word("2024", 0.55, 320), word("Ort:", 0.93, 450)]
    words += [word("Bcrlin", 0.62, 600), word("x", 0.3, 1400)]  # "x" lies far from the run before it: its own run
    line = Line(words=words)
    runs = second_reader.unsure_runs(line)
    assert [[w.text for w in run] for run in runs] == [["03.0l", "2024"], ["Bcrlin"], ["x"]]


def test_a_reading_that_took_in_its_neighbours_gives_them_back() -> None:
    line = [word("発行日:", 0.93, 0), word("2024", 0.84, 100), word("年", 0.93, 180), word("7", 0.97, 210)]
    run = [line[1]]
    assert second_reader._without_neighbours("2024年", run, line) == "2024"
    assert second_reader._without_neighbours("発行日:2024", run, line) == "2024"
    assert second_reader._without_neighbours("2024", run, line) == "2024"
    assert second_reader._without_neighbours("年", run, line) == "年"  # all of it: a reading, not a neighbour


def test_no_second_reader_unless_configured() -> None:
    assert second_reader.load(None) is None
    assert Settings().ocr_second_reader is None
    with pytest.raises(second_reader.SecondReaderUnavailable):
        second_reader.load("no-such-reader")


def test_the_setting_names_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCLINE_OCR_SECOND_READER", "rapidocr")
    assert Settings().ocr_second_reader == "rapidocr"
    monkeypatch.setenv("DOCLINE_OCR_SECOND_READER", "easyocr")
    with pytest.raises(ValueError, match="rapidocr"):
        Settings()


@pytest.fixture(scope="module")
def rapidocr() -> second_reader.SecondReader:
    pytest.importorskip("rapidocr", reason="the rapidocr extra is not installed")
    reader = second_reader.load("rapidocr")
    assert reader is not None
    return reader


def test_handwritten_values_are_read_again(rapidocr: second_reader.SecondReader) -> None:
    png = handwritten_form()
    alone = ocr_page(png, number=1, dpi=200, languages=["deu"])
    both = ocr_page(png, number=1, dpi=200, languages=["deu"], second_reader=rapidocr)
    values = [value for _, value in FORM]
    assert sum(value in both.text for value in values) > sum(value in alone.text for value in values)
    assert sum(value in both.text for value in values) >= 3
    # The printed labels Tesseract read surely are Tesseract's, untouched.
    sure = [w for w in alone.words if w.conf >= second_reader.UNSURE]
    assert sure
    assert all(w in both.words for w in sure)
    # A re-read word keeps a box on the page and carries the second reader's confidence.
    for w in both.words:
        assert 0 <= w.bbox[0] < w.bbox[2] <= both.width
        assert 0 <= w.bbox[1] < w.bbox[3] <= both.height


def test_a_printed_page_is_not_read_again(rapidocr: second_reader.SecondReader) -> None:
    page = Image.new("L", (1400, 500), 255)
    draw = ImageDraw.Draw(page)
    for row in range(5):
        draw.text(
            (80, 60 + row * 80),
            f"Rechnung Nr. 2024-{row:04d} Betrag 1.234,56 EUR",
            font=ImageFont.truetype(PRINTED, 32),
            fill=0,
        )
    out = io.BytesIO()
    page.save(out, format="PNG", dpi=(200, 200))
    alone = ocr_page(out.getvalue(), number=1, dpi=200, languages=["deu"])
    lines, reread = rapidocr.reread(alone.lines, Image.open(io.BytesIO(out.getvalue())))
    assert reread == 0
    assert lines == alone.lines
