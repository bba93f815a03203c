"""Intake: media types by content, and the size limit checked before anything is decoded."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from extractors.errors import EmptyFile, FileTooLarge, UnsupportedType
from extractors.intake import BMP, JPEG, PDF, PNG, TIFF, WEBP, Limits, check_size, sniff
from extractors.pages import count_pages, split_pages


def encoded(fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    Image.new("L", (40, 30), 200).save(out, format=fmt, **params)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [("PNG", PNG), ("JPEG", JPEG), ("TIFF", TIFF), ("WEBP", WEBP), ("BMP", BMP), ("PDF", PDF)],
)
def test_sniff_by_content(fmt: str, media_type: str) -> None:
    assert sniff(encoded(fmt)) == media_type


def test_the_name_does_not_matter_only_the_bytes() -> None:
    # A JPEG is a JPEG whatever it is called; text is not an image whatever it is called.
    assert sniff(encoded("JPEG")) == JPEG
    with pytest.raises(UnsupportedType, match="not supported"):
        sniff(b"%!PS-Adobe-3.0 this is PostScript, not a PDF")


def test_pdf_header_after_leading_junk_is_still_a_pdf() -> None:
    assert sniff(b"\r\n\xef\xbb\xbf" + encoded("PDF")) == PDF


def test_empty_file() -> None:
    with pytest.raises(EmptyFile) as info:
        sniff(b"")
    assert info.value.code == "empty_file"
    assert "empty" in info.value.message


@pytest.mark.parametrize("data", [b"hello world\n", b"PK\x03\x04zipfile", b"\x00" * 64, b"GIF89a\x01\x00"])
def test_unknown_types(data: bytes) -> None:
    with pytest.raises(UnsupportedType) as info:
        split_pages(data)
    assert info.value.to_dict()["code"] == "unsupported_type"


def test_file_size_limit_before_decoding() -> None:
    data = encoded("PNG")
    with pytest.raises(FileTooLarge, match="limit"):
        check_size(data, Limits(max_bytes=len(data) - 1))
    with pytest.raises(FileTooLarge):
        split_pages(data, Limits(max_bytes=10))
    check_size(data, Limits(max_bytes=len(data)))


def test_default_limits_are_sensible() -> None:
    limits = Limits()
    assert limits.max_bytes == 50 * 1024 * 1024
    assert limits.max_pages == 500
    assert limits.max_pixels == 100_000_000


def test_count_pages_of_each_kind() -> None:
    frames = [Image.new("L", (40, 30), v) for v in (10, 120, 240)]
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", save_all=True, append_images=frames[1:])
    assert count_pages(out.getvalue()) == 3
    assert count_pages(encoded("PNG")) == 1
    assert count_pages(encoded("PDF")) == 1
