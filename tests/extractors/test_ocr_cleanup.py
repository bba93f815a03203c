"""Clean-up steps on drawn pages: deskew angle, lossless quarter turns, resolution."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from extractors import cleanup


def lines_of_text() -> Image.Image:
    image = Image.new("L", (1600, 1200), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 32)
    for row in range(12):
        draw.text((100, 100 + row * 80), "Rechnung Nr. 2024-0017 Gesamtbetrag 1.234,56 EUR", font=font, fill=0)
    return image


@pytest.mark.parametrize("angle", [-3.0, -1.2, 0.0, 0.8, 2.5])
def test_skew_is_measured_and_undone(angle: float) -> None:
    skewed = lines_of_text().rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    correction = cleanup.estimate_skew(skewed)
    assert correction == pytest.approx(-angle, abs=0.25)
    assert cleanup.estimate_skew(cleanup.deskew(skewed, correction)) == pytest.approx(0.0, abs=0.25)


def test_blank_page_has_no_skew() -> None:
    assert cleanup.estimate_skew(Image.new("L", (800, 600), 255)) == 0.0


def test_quarter_turns_are_clockwise() -> None:
    image = Image.new("L", (40, 20), 255)
    image.putpixel((0, 0), 0)  # top-left
    turned = cleanup.rotate_clockwise(image, 90)
    assert turned.size == (20, 40)
    assert turned.getpixel((19, 0)) == 0  # top-left went to top-right
    assert cleanup.rotate_clockwise(image, 180).getpixel((39, 19)) == 0
    assert cleanup.rotate_clockwise(image, 270).getpixel((0, 39)) == 0
    assert cleanup.rotate_clockwise(image, 0) is image


def test_resolution_is_brought_into_tesseracts_range() -> None:
    assert cleanup.scale_for(100) == pytest.approx(1.8)
    assert cleanup.scale_for(300) == 1.0
    assert cleanup.scale_for(200) == 1.0
    assert cleanup.scale_for(600) == pytest.approx(0.5)
    assert cleanup.scale_for(20) == cleanup.MAX_SCALE


def test_page_is_cut_between_text_lines() -> None:
    image = lines_of_text()
    cut = cleanup.blank_row(image, image.height // 3)
    assert cut is not None
    assert abs(cut - image.height // 3) < 0.08 * image.height
    ink = [int(y) for y in np.flatnonzero((np.asarray(image) < 128).any(axis=1))]
    assert cut not in ink
    # A margin of white on both sides: the cut sits in the middle of the gap between two lines.
    above, below = max(y for y in ink if y < cut), min(y for y in ink if y > cut)
    assert min(cut - above, below - cut) >= 0.3 * (below - above)


def test_no_cut_through_a_solid_band() -> None:
    image = lines_of_text()
    image.paste(0, (0, 200, image.width, 700))
    assert cleanup.blank_row(image, image.height // 3) is None
    assert cleanup.blank_row(image, 0) is None


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_sideways_text_lines_are_seen(turn: int) -> None:
    skewed = lines_of_text().rotate(1.5, resample=Image.Resampling.BICUBIC, fillcolor=255)
    assert cleanup.looks_sideways(cleanup.rotate_clockwise(skewed, turn)) is (turn in (90, 270))


def test_blank_or_dark_page_is_not_sideways() -> None:
    assert cleanup.looks_sideways(Image.new("L", (800, 1100), 255)) is False
    assert cleanup.looks_sideways(Image.new("L", (800, 1100), 0)) is False


def test_ruled_table_is_not_taken_for_sideways_text() -> None:
    """A grid's vertical rules band columns as text lines band rows: rules are left out of the comparison."""
    image = Image.new("L", (1654, 2338), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 30)
    columns = [120 + k * 176 for k in range(9)]
    rows = [160 + k * 255 for k in range(9)]
    for x in columns:
        draw.line([(x, rows[0]), (x, rows[-1])], fill=0, width=3)
    for y in rows:
        draw.line([(columns[0], y), (columns[-1], y)], fill=0, width=3)
    for row, y in enumerate(rows[:-1]):
        for column, x in enumerate(columns[:-1]):
            if (row + column) % 2 == 0:
                draw.text((x + 10, y + 10), "12,50", font=font, fill=0)
    assert cleanup.looks_sideways(image) is False


def _drawn_lines(texts: list[str]) -> tuple[Image.Image, list[tuple[float, float, float, float]]]:
    """Text lines 80 px apart; each line's box as a word box, as if Tesseract had read every line."""
    image = Image.new("L", (1600, 200 + 80 * len(texts)), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 30)
    boxes = []
    for row, text in enumerate(texts):
        left, top, right, bottom = draw.textbbox((100, 100 + row * 80), text, font=font)
        draw.text((100, 100 + row * 80), text, font=font, fill=0)
        boxes.append((float(left), float(top), float(right), float(bottom)))
    return image, boxes


def test_a_line_of_text_no_word_box_covers_is_found() -> None:
    image, boxes = _drawn_lines(["Rechnung Nr. 2024-0017", "Nettobetrag 100,00", "Summe gesamt 119,00 EUR"])
    read = boxes[:2]  # the last line was left out
    regions = cleanup.unread_text(image, read)
    assert len(regions) == 1
    left, top, right, bottom = regions[0]
    assert left <= boxes[2][0]
    assert top <= boxes[2][1]
    assert right >= boxes[2][2]
    assert bottom >= boxes[2][3]
    assert cleanup.unread_text(image, boxes) == []


@pytest.mark.parametrize(
    ("read", "at", "text", "grey"),
    [
        # Beside a line read, an amount the layout analysis took for a speck.
        (["Kfz-Haftpflicht Typkl. 18", "Regio R9"], (1400, 180), "80,00", 0),
        # A row heading in 60 % grey, which binarising the whole page turns to paper.
        (["Detail", "Charges $0.01"], (100, 260), "AWS Data Transfer", 160),
    ],
    ids=["short amount alone in its column", "line in light grey"],
)
def test_print_left_out_is_unread_text(read: list[str], at: tuple[int, int], text: str, grey: int) -> None:
    image, boxes = _drawn_lines(read)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 30)
    printed = draw.textbbox(at, text, font=font)
    draw.text(at, text, font=font, fill=grey)
    regions = cleanup.unread_text(image, boxes)
    assert len(regions) == 1
    left, top, right, bottom = regions[0]
    assert left <= printed[0]
    assert top <= printed[1]
    assert right >= printed[2]
    assert bottom >= printed[3]
    assert right - left < printed[2] - printed[0] + 100  # that print alone, not the line beside it


def test_rules_and_dash_lines_are_not_unread_text() -> None:
    image, boxes = _drawn_lines(["Rechnung Nr. 2024-0017", "Summe gesamt 119,00 EUR"])
    draw = ImageDraw.Draw(image)
    draw.line((100, 150, 1500, 150), fill=0, width=3)  # a rule
    for x in range(100, 1500, 24):  # a dash line
        draw.line((x, 230, x + 14, 230), fill=0, width=3)
    assert cleanup.unread_text(image, boxes) == []


def test_a_dark_band_along_an_edge_is_painted_paper() -> None:
    page, _ = _drawn_lines(["Westfalen Tankstelle", "Gesamtbetrag 34,00 EUR"])
    bordered = page.copy()
    ImageDraw.Draw(bordered).rectangle((0, 0, 40, bordered.height), fill=20)  # a scanner lid's dark edge
    cleaned = np.asarray(cleanup.whiten_dark_borders(bordered))
    assert cleaned[:, :40].min() > 200  # the band is paper now
    assert np.array_equal(cleaned[:, 60:], np.asarray(page)[:, 60:])  # the text is untouched
    assert cleanup.whiten_dark_borders(page) is page  # no border: the picture as it is


def test_a_thin_dark_edge_does_not_whiten_the_page_beyond_it() -> None:
    # A greyish receipt on a white sheet beside a lid's dark edge: every row is darker on average than the sheet,
    # yet no row but the edge's own is a shadow of the thin dark line along the top.
    page = Image.new("L", (1200, 1600), 250)
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, 120, 1600), fill=10)
    draw.rectangle((400, 0, 800, 1600), fill=200)
    draw.rectangle((0, 0, 1200, 6), fill=10)
    cleaned = np.asarray(cleanup.whiten_dark_borders(page))
    assert cleaned[:6, 200:].min() > 200  # both edges are paper now
    assert cleaned[:, :120].min() > 200
    assert np.array_equal(cleaned[100:, 400:], np.asarray(page)[100:, 400:])  # the receipt is untouched
