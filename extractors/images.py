"""Image files (TIFF incl. multi-page, PNG, JPEG, WebP, BMP) as pages, via Pillow.

Sizes are checked from the header before any pixel is decoded (decompression bombs); EXIF orientation is
honoured so page 1 is what the user sees in a viewer.
"""

from __future__ import annotations

import io
import logging
import struct
import zlib
from collections.abc import Iterator

from isal import isal_zlib
from PIL import Image, ImageOps, UnidentifiedImageError

from extractors.errors import CorruptFile, ImageTooLarge, TooManyPages
from extractors.intake import PNG, Limits
from extractors.pages import PageSource

log = logging.getLogger(__name__)

A4_LONG_SIDE_INCHES = 11.69
MIN_DPI, MAX_DPI = 50.0, 1200.0
MAX_PAPER_INCHES = 17.5  # A3 and tabloid, the largest paper an office scanner takes; larger is no scan resolution

# Pillow raises these for damaged or truncated data (a TIFF with no dimensions is a TypeError, a short header a
# struct.error, a bad tag table a KeyError or IndexError); each becomes CorruptFile.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    TypeError,
    KeyError,
    IndexError,
    ZeroDivisionError,
    struct.error,
    Image.DecompressionBombError,
    UnidentifiedImageError,
)


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge("The image has too many pixels to read safely.") from exc
    except _DECODE_ERRORS as exc:
        raise CorruptFile("The image is damaged or incomplete and cannot be read.") from exc


def count_pages(data: bytes, media_type: str, limits: Limits) -> int:
    image = _open(data)
    try:
        n = int(getattr(image, "n_frames", 1))
    except _DECODE_ERRORS as exc:
        raise CorruptFile("The image is damaged or incomplete and cannot be read.") from exc
    if n > limits.max_pages:
        raise TooManyPages(f"The file has {n} pages; the limit is {limits.max_pages}.")
    return n


def guess_dpi(image: Image.Image) -> float:
    """The resolution the file declares, else the one that makes it an A4 page.

    A declared resolution that makes the image larger than any paper a scanner takes is not a scan's: phone cameras
    write 72 dpi into every photo (a 4032 px photo of a page would be 56 inches long), so it is guessed as well.
    """
    declared = image.info.get("dpi")
    dpi = 0.0
    if isinstance(declared, tuple) and declared:
        try:
            dpi = float(declared[0])
        except (TypeError, ValueError):
            dpi = 0.0
    if not MIN_DPI <= dpi <= MAX_DPI or max(image.size) / dpi > MAX_PAPER_INCHES:
        dpi = max(image.size) / A4_LONG_SIDE_INCHES
    return round(min(max(dpi, MIN_DPI), MAX_DPI), 2)


def iter_pages(
    data: bytes, media_type: str, limits: Limits, *, first: int = 1, last: int | None = None
) -> Iterator[PageSource]:
    """Frames ``first..last`` as PNG page images, decoded one at a time."""
    n = count_pages(data, media_type, limits)
    last = n if last is None else min(last, n)
    image = _open(data)
    for number in range(max(first, 1), last + 1):
        try:
            if n > 1:
                image.seek(number - 1)
            width, height = image.size
            if width * height > limits.max_pixels:
                raise ImageTooLarge(
                    f"Page {number} is {width}×{height} pixels; the limit is {limits.max_pixels / 1e6:.0f} megapixels."
                )
            dpi = guess_dpi(image)
            orientation = image.getexif().get(0x0112, 1) if media_type != PNG else 1
            if n == 1 and media_type == PNG and image.mode in ("L", "RGB", "1"):
                # Prove the file whole (every chunk there, every CRC right) without inflating it, then pass the
                # original bytes on untouched: OCR decodes the pixels once, not split and OCR both (a damaged
                # stream behind valid CRCs is rejected by OCR's decode, as corrupt_file too).
                image.verify()
                png = data
            else:
                frame = ImageOps.exif_transpose(image) if orientation != 1 else image
                png = _to_png(frame, dpi)
        except (ImageTooLarge, CorruptFile):
            raise
        except _DECODE_ERRORS as exc:
            raise CorruptFile(f"Page {number} of the image is damaged or incomplete.") from exc
        yield PageSource(number=number, dpi=dpi, image_png=png)


def _to_png(image: Image.Image, dpi: float) -> bytes:
    if image.mode not in ("L", "1"):
        # Palette, CMYK, 16-bit and alpha images: flatten onto white so transparent areas do not read as black.
        if image.mode in ("RGBA", "LA", "PA", "P"):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba)
        elif image.mode.startswith("I"):
            image = image.point(lambda v: v / 256) if image.mode != "I" else image
        # Grey, as OCR and the upright page image use it anyway (the same pixels): a third of the PNG to encode,
        # store and send (a colour JPEG photo as an RGB PNG was 2.6 MB and 130-210 ms to encode).
        image = image.convert("L")
    return encode_png(image, dpi)


# Rows encoded at a time: bounds the extra memory to a strip, not a second copy of the page.
_STRIP_ROWS = 512


def encode_png(image: Image.Image, dpi: float) -> bytes:
    """A page image as PNG, fast: 8-bit grey or bilevel, written with no row filter and ISA-L's deflate.

    Pillow's encoder tries every PNG row filter on every row (half its time on a scanned page) and offers no choice;
    unfiltered rows of a page scan are long runs of white and compress as well. Deflate is ISA-L's (``isal``) at
    level 1: on the samples' 17 scans 38 ms against zlib's 167 ms at level 1 with RLE, for 6 % more bytes (6.0 MB
    against 5.7; Pillow's own PNGs were 6.4 MB and took 356 ms). A bilevel page (fax TIFF) stays one bit per pixel:
    3 ms against Pillow's 8.
    """
    if image.mode not in ("L", "1"):
        image = image.convert("L")  # callers pass grey already (colour is flattened onto white first)
    width, height = image.size
    bits = 8 if image.mode == "L" else 1
    row_bytes = width if bits == 8 else (width + 7) // 8  # Pillow packs "1" rows MSB first, as PNG does
    deflate = isal_zlib.compressobj(1)
    # PNG rows are a filter byte (0: none) then the pixels. Pillow's raw encoder pads each row to a stride with a
    # zero byte at its end: after one leading zero, each row's padding is the next row's filter byte.
    parts = [deflate.compress(b"\x00")]
    for top in range(0, height, _STRIP_ROWS):
        strip = image.crop((0, top, width, min(top + _STRIP_ROWS, height)))
        rows = strip.tobytes("raw", image.mode, row_bytes + 1)
        parts.append(deflate.compress(memoryview(rows)[:-1] if top + _STRIP_ROWS >= height else rows))
    parts.append(deflate.flush())
    per_metre = int(dpi / 0.0254 + 0.5)  # pHYs: the resolution, as Pillow writes it
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0)),
            _chunk(b"pHYs", struct.pack(">IIB", per_metre, per_metre, 1)),
            _chunk(b"IDAT", b"".join(parts)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
