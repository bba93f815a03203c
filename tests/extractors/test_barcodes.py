"""Barcodes on page images: a separator sheet's QR code and a Code 128, read back from a PNG page."""

from __future__ import annotations

import io

import numpy as np
import zxingcpp
from PIL import Image

from extractors.barcodes import read_barcodes


def _page_with(text: str, fmt: zxingcpp.BarcodeFormat, scale: int) -> bytes:
    """An A4 page at 150 dpi, white, with one barcode of ``text`` in the middle."""
    symbol = Image.fromarray(
        np.asarray(zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, fmt), scale=scale))
    )
    page = Image.new("L", (1240, 1754), 255)
    page.paste(symbol, ((page.width - symbol.width) // 2, (page.height - symbol.height) // 2))
    out = io.BytesIO()
    page.save(out, format="PNG")
    return out.getvalue()


def test_a_qr_code_is_read() -> None:
    assert read_barcodes(_page_with("DOCLINE-SEPARATOR", zxingcpp.BarcodeFormat.QRCode, 8)) == ["DOCLINE-SEPARATOR"]


def test_a_linear_barcode_is_read() -> None:
    assert read_barcodes(_page_with("PATCH-T 0042", zxingcpp.BarcodeFormat.Code128, 3)) == ["PATCH-T 0042"]


def test_a_page_without_one_has_none() -> None:
    blank = io.BytesIO()
    Image.new("RGB", (600, 800), "white").save(blank, format="PNG")
    assert read_barcodes(blank.getvalue()) == []
