"""Barcodes and QR codes on a page image (zxing-cpp: a self-contained wheel, no system libraries, offline).

Scanning stations put a sheet with a barcode between documents; ``agents.bundles`` treats a page that holds a barcode
and next to no text as such a separator.
"""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image


def read_barcodes(png: bytes) -> list[str]:
    """The text of every barcode and QR code found on the image, in the order zxing-cpp reports them."""
    with Image.open(io.BytesIO(png)) as image:
        grey = image.convert("L")
    return [code.text for code in zxingcpp.read_barcodes(grey) if code.valid]
