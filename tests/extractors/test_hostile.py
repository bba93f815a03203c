"""Hostile input: every damaged, oversized or unknown file ends in a typed DocumentError, never a crash or hang."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from extractors.errors import (
    CorruptFile,
    DocumentError,
    EmptyFile,
    ImageTooLarge,
    OcrFailed,
    PageTooLarge,
    UnsupportedType,
)
from extractors.intake import Limits
from extractors.ocr import ocr_page, read_document, render_page
from extractors.pages import split_pages
from extractors.pdf import render_page as render_pdf

SAMPLES = Path("samples/documents")
KINDS = [
    "rx-de-text.pdf",
    "inv-de-scan.pdf",
    "rx-nl-printed.tif",
    "rx-en-lowdpi.png",
    "inv-en-lowdpi.jpg",
    "inv-nl-webp.webp",
]


def small(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("L", (64, 48), 180).save(out, format=fmt)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width``×``height`` pixels but holds almost no data: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def test_zero_bytes() -> None:
    with pytest.raises(EmptyFile):
        read_document(b"")


def test_random_text_is_unsupported() -> None:
    with pytest.raises(UnsupportedType):
        read_document(b"Dear customer, please find attached ...")


@pytest.mark.parametrize("name", KINDS)
def test_truncated_files_are_corrupt(name: str) -> None:
    data = (SAMPLES / name).read_bytes()
    for cut in (len(data) // 2, 40):
        with pytest.raises(CorruptFile) as info:
            split_pages(data[:cut])
        assert info.value.message  # something a user can read


def test_header_claiming_a_billion_pixels_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLarge):
        split_pages(png_header_only(40_000, 40_000))
    with pytest.raises(ImageTooLarge):
        split_pages(png_header_only(12_000, 12_000))  # 144 MP: over the 100 MP default, under Pillow's own guard


def test_huge_pdf_page_is_refused() -> None:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(14_400, 14_400)  # 200 × 200 inches
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(PageTooLarge, match="inches") as refused:
        split_pages(out.getvalue(), Limits(max_pixels=1_000_000))
    assert refused.value.code == "page_too_large"


def bilevel_png(width: int, height: int, dpi: float) -> bytes:
    """A real, whole page image (blank, one bit per pixel: a small file) that declares ``dpi``."""
    out = io.BytesIO()
    Image.new("1", (width, height), 1).save(out, format="PNG", dpi=(dpi, dpi))
    return out.getvalue()


def test_a_page_upscaled_past_the_budget_is_refused_before_its_pixels_exist() -> None:
    """The issue's case: 10000×10000 pixels (within the 100 MP limit as stored) declaring 50 dpi would be read at
    180 dpi, 36000×36000 (1.3 GB). The budget holds after scaling, and nothing is decoded to find out."""
    page = bilevel_png(10_000, 10_000, 50)
    [source] = split_pages(page)  # as stored it is within the limit
    # 50 dpi would make it 200 inches long, larger than any paper: split_pages does not believe it (A4 guessed).
    assert source.dpi == pytest.approx(10_000 / 11.69, abs=0.1)
    with pytest.raises(PageTooLarge, match=r"36000×36000 pixels scaled to 180 dpi") as refused:
        ocr_page(page, number=1, dpi=50, languages=["eng"])  # a caller that takes 50 dpi at its word
    assert refused.value.code == "page_too_large"
    # Upscaled within the budget it is read as ever.
    read = ocr_page(bilevel_png(600, 800, 60), number=1, dpi=60, languages=["eng"], max_pixels=5_000_000)
    assert (read.width, read.height) == (1800, 2400)


def test_pdf_pages_are_drawn_within_the_budget() -> None:
    """A scan page is rendered at a lower resolution to fit; a text-layer page gets a coarser box grid; drawing a
    page over the budget is refused."""
    data = (SAMPLES / "rx-de-text.pdf").read_bytes()
    [fine] = split_pages(data)
    assert fine.page is not None
    assert fine.page.dpi == 150
    [coarse] = split_pages(data, Limits(max_pixels=1_000_000))
    assert coarse.page is not None
    assert coarse.page.dpi < 150
    assert coarse.page.width * coarse.page.height <= 1_000_000
    assert render_page(data, coarse.page).startswith(b"\x89PNG")
    with pytest.raises(PageTooLarge, match="drawn at 150 dpi"):
        render_pdf(data, 1, 150, max_pixels=1_000_000)


def test_pdf_header_with_garbage_body() -> None:
    with pytest.raises(CorruptFile):
        split_pages(b"%PDF-1.7\n" + bytes(range(256)) * 20)


def test_bogus_tiff_directory() -> None:
    with pytest.raises(CorruptFile):
        split_pages(b"II*\x00\xff\xff\xff\x7f" + b"\x00" * 100)


def test_ocr_timeout_is_a_typed_error() -> None:
    out = io.BytesIO()
    Image.new("L", (800, 600), 255).save(out, format="PNG")
    with pytest.raises(OcrFailed, match="too long"):
        ocr_page(out.getvalue(), number=1, dpi=300, languages=["eng"], timeout=0.001)


def test_damaged_page_image_handed_to_ocr() -> None:
    with pytest.raises(CorruptFile):
        ocr_page(small("PNG")[:30], number=1, dpi=300)


@pytest.mark.parametrize("size", [(1, 1), (3, 900), (40, 40)])
def test_tiny_images_read_as_empty_pages(size: tuple[int, int]) -> None:
    out = io.BytesIO()
    Image.new("L", size, 0).save(out, format="PNG")
    [page] = read_document(out.getvalue(), languages=["eng"]).pages
    assert page.words == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["PNG", "JPEG", "TIFF", "WEBP", "BMP", "PDF"]),
    cut=st.integers(min_value=0, max_value=400),
    flips=st.lists(st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(1, 255)), max_size=8),
)
def test_mangled_files_only_raise_document_errors(kind: str, cut: int, flips: list[tuple[int, int]]) -> None:
    data = bytearray(small(kind))
    for position, xor in flips:
        if position < len(data):
            data[position] ^= xor
    mangled = bytes(data[: max(len(data) - cut, 0)])
    error: DocumentError | None = None
    try:
        for source in split_pages(mangled):
            assert source.page is not None or source.image_png
    except DocumentError as exc:
        error = exc
    if error is not None:
        assert error.code
        assert error.message
