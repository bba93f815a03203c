"""Camera photos of pages, made in the test: a page of PIL text photographed at an angle on a table, in uneven light,
under a shadow. The clean-up finds the page, evens the light, and the OCR reads the words; a clean page is left
exactly as it was."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from extractors import cleanup
from extractors.images import guess_dpi
from extractors.model import Page
from extractors.ocr import _tesseract, ocr_page, render_page
from extractors.pages import split_pages
from samples.metrics import cer

WORDS = ["Rechnung", "Lieferung", "Gesamtbetrag", "Zahlungsziel", "Bankverbindung", "Steuernummer"]
LINES = [f"{WORDS[i % len(WORDS)]} {1000 + 37 * i} Artikel {i + 1} Preis {12 + i},50 EUR" for i in range(16)]


def printed_page() -> Image.Image:
    """A 200-dpi half page of text, as a scanner gives it."""
    page = Image.new("L", (1400, 1100), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 30)
    for row, line in enumerate(LINES):
        draw.text((90, 80 + row * 58), line, font=font, fill=0)
    return page


PAGE_CORNERS = [(190.0, 150.0), (1560.0, 185.0), (1620.0, 1340.0), (130.0, 1300.0)]  # tl, tr, br, bl in the photo


def on_table(page: Image.Image) -> Image.Image:
    """The page lying on a grey table, seen at an angle: its corners land on PAGE_CORNERS."""
    size = (1750, 1450)
    rectangle = [(0.0, 0.0), (float(page.width), 0.0), (float(page.width), float(page.height)), (0.0, page.height)]
    coefficients = cleanup.homography(PAGE_CORNERS, rectangle)
    noise = np.random.default_rng(7).normal(0, 5, (size[1] // 8, size[0] // 8))
    table = Image.fromarray(np.clip(90 + noise, 0, 255).astype(np.uint8)).resize(size, Image.Resampling.BILINEAR)
    seen = page.transform(size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC)
    mask = Image.new("L", page.size, 255).transform(size, Image.Transform.PERSPECTIVE, coefficients)
    table.paste(seen, (0, 0), mask)
    return table


def in_uneven_light(image: Image.Image) -> Image.Image:
    """A grey exposure (ink 70, paper 200) with the light falling off from left to right to 40 %, and the soft
    shadow of a hand over the top right."""
    width, height = image.size
    light = np.repeat(np.linspace(1.0, 0.4, width, dtype=np.float32)[None, :], height, axis=0)
    hand = Image.new("L", image.size, 0)
    ImageDraw.Draw(hand).ellipse((int(0.55 * width), -int(0.3 * height), int(1.3 * width), int(0.45 * height)), 255)
    light *= 1.0 - 0.55 * np.asarray(hand.filter(ImageFilter.GaussianBlur(40)), dtype=np.float32) / 255.0
    grey = 70 + np.asarray(image, dtype=np.float32) * (130 / 255)
    return Image.fromarray(np.clip(grey * light, 0, 255).astype(np.uint8))


def as_phone_jpeg(image: Image.Image) -> bytes:
    """As a phone saves it: JPEG, declaring 72 dpi whatever the page's resolution."""
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=85, dpi=(72, 72))
    return out.getvalue()


def read(data: bytes) -> tuple[str, bytes, Page]:
    [source] = split_pages(data)
    assert source.image_png is not None
    page = ocr_page(source.image_png, number=1, dpi=source.dpi, languages=["deu"])
    return page.text, source.image_png, page


def test_the_corners_of_a_photographed_page_are_found() -> None:
    corners = cleanup.find_page(on_table(printed_page()))
    assert corners is not None
    found = [(corners[i], corners[i + 1]) for i in range(0, 8, 2)]
    centre = np.mean(PAGE_CORNERS, axis=0)
    for (x, y), (tx, ty) in zip(found, PAGE_CORNERS, strict=True):
        # At the corner, a little inside the page (none of the table is kept).
        assert np.hypot(x - tx, y - ty) < 30
        assert np.hypot(x - centre[0], y - centre[1]) < np.hypot(tx - centre[0], ty - centre[1])


def test_a_scan_or_a_shadow_is_no_page_edge() -> None:
    assert cleanup.find_page(printed_page()) is None
    # A shadow's soft border across a page that fills the frame is not the page's edge.
    assert cleanup.find_page(in_uneven_light(printed_page())) is None


def test_the_page_is_seen_from_straight_above() -> None:
    photo = on_table(printed_page())
    corners = cleanup.find_page(photo)
    assert corners is not None
    flat = cleanup.unwarp(photo, corners)
    (tlx, tly), (trx, try_), (brx, bry), (blx, bly) = PAGE_CORNERS
    width = (np.hypot(trx - tlx, try_ - tly) + np.hypot(brx - blx, bry - bly)) / 2
    height = (np.hypot(blx - tlx, bly - tly) + np.hypot(brx - trx, bry - try_)) / 2
    assert flat.width == pytest.approx(width * (1 - cleanup.PAGE_INSET), rel=0.02)
    assert flat.height == pytest.approx(height * (1 - cleanup.PAGE_INSET), rel=0.02)
    # Its text lines are level again: no skew left to correct.
    assert cleanup.estimate_skew(flat) == 0.0


def test_uneven_light_is_measured_and_evened_out() -> None:
    page = printed_page()
    assert cleanup.uneven_light(page) == 0.0
    lit = in_uneven_light(page)
    assert cleanup.uneven_light(lit) > cleanup.UNEVEN_LIGHT
    even = cleanup.flatten_light(lit)
    assert cleanup.uneven_light(even) < cleanup.UNEVEN_LIGHT / 2
    pixels = np.asarray(even)
    ink = np.asarray(page) < 100
    assert pixels[ink].mean() < 90  # ink stays dark, also where the light was dim
    assert pixels[~ink].mean() > 235  # the paper is white everywhere


def test_a_photographed_page_is_read() -> None:
    photo = as_phone_jpeg(in_uneven_light(on_table(printed_page())))
    text, image_png, _page = read(photo)
    for word in WORDS:
        assert word in text
    assert cer("\n".join(LINES), text) < 0.03
    # Tesseract on the photo as it is loses the words in the shadow and the dim half.
    plain = _tesseract(cleanup.decode(image_png), ["deu"], guess_dpi(Image.open(io.BytesIO(photo))), 60)
    assert cer("\n".join(LINES), plain.text) > 2 * cer("\n".join(LINES), text)


def test_the_rendered_page_is_the_picture_the_boxes_land_on() -> None:
    _, image_png, page = read(as_phone_jpeg(in_uneven_light(on_table(printed_page()))))
    assert page.corners is not None
    assert page.flattened
    rendered = np.asarray(Image.open(io.BytesIO(render_page(image_png, page))).convert("L"))
    assert rendered.shape == (page.height, page.width)
    words = [w for w in page.words if w.conf > 0.8 and len(w.text) >= 4]
    assert len(words) > 40
    on_ink = sum(
        rendered[round(w.bbox[1]) : round(w.bbox[3]) + 1, round(w.bbox[0]) : round(w.bbox[2]) + 1].min() < 110
        for w in words
    )
    assert on_ink / len(words) > 0.97


def test_a_clean_page_is_read_exactly_as_tesseract_reads_it() -> None:
    out = io.BytesIO()
    printed_page().save(out, format="PNG", dpi=(200, 200))
    text, image_png, page = read(out.getvalue())
    assert page.corners is None
    assert not page.flattened
    assert text == _tesseract(cleanup.decode(image_png), ["deu"], 200, 60).text


def test_a_phones_72_dpi_is_not_taken_for_a_scan_resolution() -> None:
    photo = Image.new("RGB", (3024, 4032), "white")
    out = io.BytesIO()
    photo.save(out, format="JPEG", dpi=(72, 72))
    assert guess_dpi(Image.open(io.BytesIO(out.getvalue()))) == pytest.approx(4032 / 11.69, abs=0.01)
    scan = Image.new("L", (1654, 2339), 255)
    out = io.BytesIO()
    scan.save(out, format="PNG", dpi=(200, 200))
    assert guess_dpi(Image.open(io.BytesIO(out.getvalue()))) == pytest.approx(200, abs=0.01)


def test_a_receipt_scanned_with_the_lid_open_is_cut_out_of_the_dark() -> None:
    """A narrow receipt running off the glass at top and bottom has no four edges: the bright upright rectangle in
    the dark picture is the paper."""
    scan = Image.new("L", (1240, 1754), 40)
    receipt = Image.new("L", (420, 1754), 235)
    draw = ImageDraw.Draw(receipt)
    for row in range(20):
        draw.text((30, 80 + 80 * row), f"ITEM {row:02d}      {row + 1},99", fill=20)
    scan.paste(receipt.filter(ImageFilter.GaussianBlur(1)), (760, 0))
    corners = cleanup.find_page(scan)
    assert corners is not None
    left, top, right, _, _, bottom, _, _ = corners
    assert left == pytest.approx(760, abs=15)
    assert right == pytest.approx(1180, abs=15)
    assert top < 30
    assert bottom > 1720
    # The same receipt lying on white (a cropped scan) is the picture itself: nothing to cut.
    assert cleanup.find_page(receipt) is None


def test_a_receipt_on_a_grey_board_is_cut_out_across_its_black_logos() -> None:
    """A receipt on a light grey board (what lies around it ~0.75 of its light, and brighter than the halfway
    level between the picture's black edge and the paper) whose black logo bands cross it from side to side: the
    paper is still the bright rectangle, logos and all, from where it starts to where it ends."""
    scan = Image.new("L", (1240, 1754), 165)
    scan.paste(25, (0, 0, 60, 1754))  # the scanner's black border
    receipt = Image.new("L", (340, 1500), 232)
    draw = ImageDraw.Draw(receipt)
    draw.rectangle((0, 0, 340, 110), fill=15)  # a logo band across the top of the paper
    draw.rectangle((0, 900, 340, 1000), fill=15)  # another lower down
    for row in range(9):
        draw.text((30, 150 + 80 * row), f"ITEM {row:02d}      {row + 1},99", fill=20)
    scan.paste(receipt.filter(ImageFilter.GaussianBlur(1)), (760, 0))
    corners = cleanup.find_page(scan)
    assert corners is not None
    left, top, right, _, _, bottom, _, _ = corners
    assert left == pytest.approx(760, abs=15)
    assert right == pytest.approx(1100, abs=15)
    assert top < 30
    assert bottom == pytest.approx(1500, abs=15)


def test_an_upright_paper_is_cut_on_whole_pixels_not_resampled() -> None:
    """A paper found as an upright rectangle is cut out pixel for pixel: resampling at a fractional offset would
    blur a till printer's thin strokes."""
    picture = Image.fromarray(np.random.default_rng(3).integers(0, 256, (300, 400), dtype=np.uint8))
    corners = (100.4, 20.3, 300.2, 20.3, 300.2, 250.1, 100.4, 250.1)
    cut = cleanup.unwarp(picture, corners)
    assert cut.size == (200, 230)
    assert np.array_equal(np.asarray(cut), np.asarray(picture)[20:250, 100:300])
    # A page seen at an angle is still straightened by the perspective transform.
    turned = (100.0, 20.0, 300.0, 30.0, 290.0, 250.0, 95.0, 240.0)
    assert not np.array_equal(np.asarray(cleanup.unwarp(picture, turned))[:5, :5], np.asarray(picture)[20:25, 100:105])
