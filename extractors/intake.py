"""Intake: what a file is (by its content, never its name) and the limits every file must stay within."""

from __future__ import annotations

from pydantic import BaseModel, Field

from extractors.errors import EmptyFile, FileTooLarge, PageTooLarge, UnsupportedType

PDF = "application/pdf"
TIFF = "image/tiff"
PNG = "image/png"
JPEG = "image/jpeg"
WEBP = "image/webp"
BMP = "image/bmp"

SUPPORTED = (PDF, TIFF, PNG, JPEG, WEBP, BMP)
# One page's pixel budget: the image as stored, after OCR's scaling, and any PDF page drawn (8-bit grey: 100 MB).
DEFAULT_MAX_PIXELS = 100_000_000


class Limits(BaseModel):
    """Upper bounds that keep one hostile file from exhausting memory or time."""

    max_bytes: int = Field(50 * 1024 * 1024, gt=0, description="largest accepted file")
    max_pages: int = Field(500, gt=0, description="most pages per document")
    max_pixels: int = Field(
        DEFAULT_MAX_PIXELS, gt=0, description="most pixels per page, as stored, scaled for OCR or drawn from a PDF"
    )


def sniff(data: bytes) -> str:
    """The media type of ``data`` judged by its magic bytes.

    Raises EmptyFile for zero bytes and UnsupportedType for anything docline cannot read.
    """
    if not data:
        raise EmptyFile("The file is empty (0 bytes).")
    head = data[:1024]
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return TIFF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"BM") and len(head) >= 26:
        return BMP
    # PDF readers accept the header anywhere in the first kilobyte (some writers prepend junk).
    if b"%PDF-" in head:
        return PDF
    raise UnsupportedType("This file type is not supported. Send a PDF, TIFF, PNG, JPEG, WebP or BMP file.")


def check_page_pixels(width: float, height: float, max_pixels: int, *, number: int, why: str) -> None:
    """Refuse page ``number`` if its picture would be over ``max_pixels``; ``why`` says what makes it that big."""
    if width * height > max_pixels:
        raise PageTooLarge(
            f"Page {number} would be {width:.0f}×{height:.0f} pixels {why};"
            f" the limit is {max_pixels / 1e6:g} megapixels."
        )


def check_size(data: bytes, limits: Limits) -> None:
    """Reject files over ``limits.max_bytes`` before any decoding."""
    if len(data) > limits.max_bytes:
        raise FileTooLarge(f"The file is {len(data) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.1f} MB.")
