"""PDF pages through pypdfium2: the real text layer with word boxes when there is one, else the page image.

pypdfium2 (PDFium) reads the text layer with per-character boxes in C, which is what word boxes need and what
keeps text-layer PDFs far above 50 pages/s; it also decodes every scan codec (CCITT, JBIG2, JPX) without poppler.
PDFium is not thread-safe, so every call into it holds one process-wide lock.
"""

from __future__ import annotations

import ctypes
import logging
import math
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from extractors.errors import CorruptFile, EncryptedPdf, PageTooLarge, TooManyPages
from extractors.images import encode_png
from extractors.intake import DEFAULT_MAX_PIXELS, Limits, check_page_pixels
from extractors.model import Line, Page, Word
from extractors.pages import PageSource

log = logging.getLogger(__name__)

_PDFIUM_LOCK = threading.RLock()

TEXT_LAYER_DPI = 150.0  # pixel grid for text-layer boxes (and for rendering those pages for review)
DEFAULT_SCAN_DPI = 300.0
MIN_SCAN_DPI, MAX_SCAN_DPI = 150.0, 400.0
MIN_FIT_DPI = 50.0  # a page that fits the pixel budget only below this is unreadable anyway: refused
MIN_TEXT_CHARS = 16  # fewer visible characters than this is not a text layer worth trusting
LOW_SURROGATES = (0xDC00, 0xDFFF)  # second halves of UTF-16 pairs
LINE_END_HYPHEN = 0x02  # PDFium's code for a hyphen breaking a word at a line's end


def _load(data: bytes) -> pdfium.PdfDocument:
    try:
        # PDFium tries the empty user password itself, so PDFs that are merely "protected" open.
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise EncryptedPdf("The PDF is password-protected. Send it without a password.") from exc
        raise CorruptFile("The PDF is damaged or incomplete and cannot be read.") from exc


@contextmanager
def _open(data: bytes) -> Iterator[pdfium.PdfDocument]:
    with _PDFIUM_LOCK:
        doc = _load(data)
        try:
            yield doc
        finally:
            doc.close()


def count_pages(data: bytes, limits: Limits) -> int:
    with _open(data) as doc:
        n = len(doc)
    _check_count(n, limits)
    return n


def _check_count(n: int, limits: Limits) -> None:
    if n > limits.max_pages:
        raise TooManyPages(f"The PDF has {n} pages; the limit is {limits.max_pages}.")


def iter_pages(data: bytes, limits: Limits, *, first: int = 1, last: int | None = None) -> Iterator[PageSource]:
    """Pages ``first..last`` of the PDF. The lock is held while a page is read, never across a yield."""
    with _PDFIUM_LOCK:
        doc = _load(data)
    try:
        n = len(doc)
        _check_count(n, limits)
        last = n if last is None else min(last, n)
        for number in range(max(first, 1), last + 1):
            with _PDFIUM_LOCK:
                source = _read_page(doc, number, limits)
            yield source
    finally:
        with _PDFIUM_LOCK:
            doc.close()


def _read_page(doc: pdfium.PdfDocument, number: int, limits: Limits) -> PageSource:
    try:
        page = doc[number - 1]
    except pdfium.PdfiumError as exc:
        raise CorruptFile(f"Page {number} of the PDF is damaged and cannot be read.") from exc
    try:
        text_page = _text_layer(page, number, limits)
        if text_page is not None:
            return PageSource(number=number, dpi=text_page.dpi, page=text_page)
        dpi = _scan_dpi(page, limits, number)
        return PageSource(number=number, dpi=dpi, image_png=_render(page, dpi))
    finally:
        page.close()


def _text_layer(page: pdfium.PdfPage, number: int, limits: Limits) -> Page | None:
    """The page's words with boxes if it has a real text layer, else None. The boxes' pixel grid is the picture
    the review page draws: TEXT_LAYER_DPI, or less for a page that big (within the pixel budget)."""
    textpage = page.get_textpage()
    try:
        n = textpage.count_chars()
        if n < MIN_TEXT_CHARS:
            return None
        text = textpage.get_text_range(0, n)
        visible = [c for c in text if not c.isspace()]
        good = sum(1 for c in visible if unicodedata.category(c)[0] in "LNPS" and c != "\ufffd")
        if len(visible) < MIN_TEXT_CHARS or good < 0.9 * len(visible):
            return None  # an empty or garbled layer (broken font encodings): OCR the image instead
        width_pt, height_pt = page.get_size()
        dpi = _fit_dpi(width_pt, height_pt, TEXT_LAYER_DPI, limits, number)
        scale = dpi / 72.0
        # The same rounding as PDFium's renderer, so boxes and the rendered page share one pixel grid.
        width, height = max(1, math.ceil(width_pt * scale)), max(1, math.ceil(height_pt * scale))
        to_px = _page_to_pixels(page, width, height)
        lines = _words(textpage, n, to_px)
    finally:
        textpage.close()
    return Page(number=number, width=width, height=height, dpi=dpi, source="text-layer", lines=lines)


def _page_to_pixels(page: pdfium.PdfPage, width: int, height: int) -> tuple[float, float, float, float, float, float]:
    """The affine map from PDF user space to upright pixels (honours /Rotate and the crop box)."""

    def device(x: float, y: float) -> tuple[float, float]:
        dx, dy = ctypes.c_int(), ctypes.c_int()
        # Map points far apart so integer rounding does not matter.
        pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, width * 100, height * 100, 0, x, y, dx, dy)
        return dx.value / 100.0, dy.value / 100.0

    ox, oy = device(0.0, 0.0)
    ax, ay = device(100.0, 0.0)
    bx, by = device(0.0, 100.0)
    return ox, oy, (ax - ox) / 100.0, (ay - oy) / 100.0, (bx - ox) / 100.0, (by - oy) / 100.0


def _words(textpage: pdfium.PdfTextPage, n: int, to_px: tuple[float, float, float, float, float, float]) -> list[Line]:
    ox, oy, axx, axy, byx, byy = to_px
    lines: list[Line] = []
    words: list[Word] = []
    chars: list[str] = []
    box: list[float] = []

    def end_word() -> None:
        if chars:
            words.append(Word(text=join_utf16(chars), conf=1.0, bbox=(box[0], box[1], box[2], box[3])))
            chars.clear()

    def end_line() -> None:
        end_word()
        if words:
            lines.append(Line(words=list(words)))
            words.clear()

    raw = textpage.raw
    left, right, bottom, top = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    for i in range(n):
        code = pdfium_c.FPDFText_GetUnicode(raw, i) or 0x20
        char = chr(code)
        if LOW_SURROGATES[0] <= code <= LOW_SURROGATES[1] and chars:
            chars.append(char)  # the second half of an emoji or other non-BMP character: the first half has the box
            continue
        if char in "\r\n":
            end_line()
            continue
        if char.isspace() or char == "\x00":
            end_word()
            continue
        # PDFium reports a hyphen that ends a line inside a word as U+0002 and joins the next line's part to it
        # ("Rech\x02nung", one box over two lines): it is printed as "-", and its line ends there.
        hyphen_ends_line = code == LINE_END_HYPHEN
        if hyphen_ends_line:
            char = "-"
        if not pdfium_c.FPDFText_GetCharBox(raw, i, left, right, bottom, top):
            continue
        xs = [ox + axx * x + byx * y for x, y in ((left.value, bottom.value), (right.value, top.value))]
        ys = [oy + axy * x + byy * y for x, y in ((left.value, bottom.value), (right.value, top.value))]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        if chars:
            box[0], box[1], box[2], box[3] = min(box[0], x0), min(box[1], y0), max(box[2], x1), max(box[3], y1)
        else:
            box[:] = [x0, y0, x1, y1]
        chars.append(char)
        if hyphen_ends_line:
            end_line()
    end_line()
    return lines


def join_utf16(units: list[str]) -> str:
    """PDFium hands out UTF-16 code units: join surrogate pairs into characters; a lone half becomes U+FFFD."""
    return "".join(units).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _fit_dpi(width_pt: float, height_pt: float, dpi: float, limits: Limits, number: int) -> float:
    """``dpi``, lowered until the drawn page fits the pixel budget; a page that fits only below MIN_FIT_DPI is
    refused (PageTooLarge) before anything is drawn."""

    def pixels(at: float) -> int:  # as PDFium rounds a rendered page (and the text layer's grid does)
        return math.ceil(width_pt / 72.0 * at) * math.ceil(height_pt / 72.0 * at)

    if pixels(dpi) <= limits.max_pixels:
        return dpi
    fitted = math.floor(dpi * (limits.max_pixels / pixels(dpi)) ** 0.5 * 100) / 100
    while fitted >= MIN_FIT_DPI and pixels(fitted) > limits.max_pixels:  # the rounding up of a row or column
        fitted = round(fitted - 0.01, 2)
    if fitted < MIN_FIT_DPI:
        raise PageTooLarge(
            f"Page {number} of the PDF is {width_pt / 72:.0f}×{height_pt / 72:.0f} inches: too large to read within"
            f" the limit of {limits.max_pixels / 1e6:g} megapixels."
        )
    return fitted


def _scan_dpi(page: pdfium.PdfPage, limits: Limits, number: int) -> float:
    """Render at the embedded scan's own resolution (clamped), shrunk if the page would exceed the pixel limit."""
    width_pt, height_pt = page.get_size()
    dpi = DEFAULT_SCAN_DPI
    best = 0.0
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        try:
            px_w, _ = obj.get_px_size()
            x0, _, x1, _ = obj.get_bounds()
        except (pdfium.PdfiumError, RuntimeError):
            continue
        if x1 - x0 > best and px_w > 0:
            best = x1 - x0
            dpi = px_w / ((x1 - x0) / 72.0)
    dpi = min(max(dpi, MIN_SCAN_DPI), MAX_SCAN_DPI)
    return _fit_dpi(width_pt, height_pt, round(dpi, 2), limits, number)


def _render(page: pdfium.PdfPage, dpi: float) -> bytes:
    try:
        bitmap = page.render(scale=dpi / 72.0, grayscale=True)
        image = bitmap.to_pil()
    except pdfium.PdfiumError as exc:
        raise CorruptFile("A PDF page could not be drawn.") from exc
    return encode_png(image, dpi)


def render_page(
    data: bytes, number: int, dpi: float = TEXT_LAYER_DPI, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> bytes:
    """PNG of PDF page ``number`` at ``dpi``: the picture a text-layer page's boxes land on (PageTooLarge if it
    would be over ``max_pixels``)."""
    with _open(data) as doc:
        if not 1 <= number <= len(doc):
            raise CorruptFile(f"The PDF has no page {number}.")
        page = doc[number - 1]
        try:
            width_pt, height_pt = page.get_size()
            check_page_pixels(
                width_pt / 72 * dpi, height_pt / 72 * dpi, max_pixels, number=number, why=f"drawn at {dpi:g} dpi"
            )
            return _render(page, dpi)
        finally:
            page.close()
