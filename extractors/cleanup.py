"""Page clean-up before OCR: grayscale, resolution, orientation (text lines, Tesseract OSD) and deskew.

Every step is a pure function of the image and a few numbers recorded on the Page (rotation, skew, dpi), so
``render_page`` can rebuild exactly the picture the OCR boxes refer to.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

import numpy as np
import pytesseract
from PIL import Image

from extractors.errors import CorruptFile

log = logging.getLogger(__name__)

# Upscaled print reads better: printed samples scaled down to 120 dpi (7) read at CER .045 as they are, .021-.025
# upscaled to 150-180 dpi, .033 to 200 dpi; at 100 dpi all ~.024; handwriting gains nothing either way (noise).
# Each 10 dpi costs ~2 % more Tesseract CPU. 180 is the cheapest target under which the committed low-dpi scans
# read no worse than at 200 (inv-en-lowdpi: .004 at 180 and 200, .010 at 150).
UPSCALE_TO_DPI = 180.0
DOWNSCALE_TO_DPI = 300.0
UPSCALE_BELOW_DPI = 150.0  # Tesseract scales text lines itself; only truly low-resolution scans gain from pixels
DOWNSCALE_ABOVE_DPI = 450.0  # more pixels than this only slows Tesseract down
MAX_SCALE = 4.0
MIN_SKEW, MAX_SKEW = 0.15, 6.0  # degrees: below is noise, above is not "small"
_STRIP = 16  # columns (of the reduced page) per strip of the skew profile
SIDEWAYS_CONTRAST = 1.3  # columns banded this much more than rows: text lines run top to bottom


def decode(image_png: bytes) -> Image.Image:
    """The page image as 8-bit grayscale."""
    try:
        image = Image.open(io.BytesIO(image_png))
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptFile("The page image is damaged and cannot be read.") from exc
    return image if image.mode == "L" else image.convert("L")


def size_of(image_png: bytes) -> tuple[int, int]:
    """The page image's (width, height) from its header, before any pixel is decoded."""
    try:
        width, height = Image.open(io.BytesIO(image_png)).size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise CorruptFile("The page image is damaged and cannot be read.") from exc
    return int(width), int(height)


def is_bilevel(image_png: bytes) -> bool:
    """Whether the page image is stored with one bit per pixel (a fax or bilevel TIFF scan)."""
    try:
        return bool(Image.open(io.BytesIO(image_png)).mode == "1")  # reads the header only
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


def scale_for(dpi: float) -> float:
    """How much to resize a page scanned at ``dpi`` (1.0 = leave it)."""
    if dpi < UPSCALE_BELOW_DPI:
        return min(UPSCALE_TO_DPI / dpi, MAX_SCALE)
    if dpi > DOWNSCALE_ABOVE_DPI:
        return DOWNSCALE_TO_DPI / dpi
    return 1.0


def rescale(image: Image.Image, scale: float) -> Image.Image:
    if abs(scale - 1.0) < 1e-3:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.LANCZOS)


def rotate_clockwise(image: Image.Image, degrees: int) -> Image.Image:
    """Rotate by a multiple of 90 degrees clockwise (lossless)."""
    ops = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
    degrees %= 360
    return image.transpose(ops[degrees]) if degrees in ops else image


@dataclass(frozen=True)
class Orientation:
    rotation: int  # clockwise degrees that make the page upright
    script: str  # Tesseract script name, e.g. "Latin", "Han", "Japanese"
    confidence: float


_OSD_FIELD = re.compile(r"^(Rotate|Orientation confidence|Script|Script confidence):\s*(.+)$", re.M)


def detect_orientation(image: Image.Image, *, timeout: float = 60.0) -> Orientation | None:
    """Tesseract OSD on ``image``; None when the page has too little text to tell."""
    # OSD needs only a few hundred characters: a ~1500 px long side is plenty and 4x cheaper than full size.
    small = rescale(image, min(1.0, 1600 / max(image.size)))
    try:
        out = pytesseract.image_to_osd(small, config="--psm 0", timeout=timeout)
    except (pytesseract.TesseractError, RuntimeError) as exc:
        log.debug("OSD found nothing: %s", exc)
        return None
    fields = dict(_OSD_FIELD.findall(str(out)))
    try:
        return Orientation(
            rotation=int(fields.get("Rotate", "0")) % 360,
            script=fields.get("Script", "Latin").strip(),
            confidence=float(fields.get("Orientation confidence", "0")),
        )
    except ValueError:
        return None


class _Profiles:
    """Darkness profiles of a page's strips across one axis, and their sums sheared by small angles.

    ``dark`` is (strips, positions): strip k's darkness at each position along the axis the text lines cross.
    Ink at (u, v) (u along the strips, v across) lands at v - u tan(angle): strip k's profile read from offset
    u_k tan(angle). A strip is a few pixels wide, so within it a line drifts < 2 positions at 6 degrees.
    """

    def __init__(self, dark: np.ndarray) -> None:
        self.count, self.length = dark.shape
        self.centres = (np.arange(self.count) + 0.5) * _STRIP  # strip centres in reduced pixels
        self.margin = int(np.ceil(self.centres[-1] * np.tan(np.radians(MAX_SKEW + 0.6)))) + 1
        padded = np.pad(dark, ((0, 0), (2 * self.margin, 2 * self.margin)))
        self.windows = np.lib.stride_tricks.sliding_window_view(padded, self.length + 2 * self.margin, axis=1)

    def sheared(self, angles: np.ndarray) -> np.ndarray:
        """(angles, positions): the profile of the whole page sheared by each angle."""
        offsets = np.round(np.outer(np.tan(np.radians(angles)), self.centres)).astype(np.int64) + self.margin
        result: np.ndarray = self.windows[np.arange(self.count), offsets].sum(axis=1)
        return result

    def sharpest(self, angles: np.ndarray) -> tuple[float, np.ndarray]:
        """The angle whose sheared profile is sharpest (text lines in few positions, white between), and it."""
        sheared = self.sheared(angles)
        best = int(np.argmax(np.einsum("ij,ij->i", sheared, sheared, dtype=np.float64)))
        return float(angles[best]), sheared[best]


def _darkness(image: Image.Image, long_side: int) -> np.ndarray | None:
    """Darkness of the page's vertical strips as (strips, rows), about ``long_side`` rows; None if no text.

    A uniform grey background or noise darkens every row alike and sharpens nothing.
    """
    factor = max(1, round(max(image.size) / long_side))
    strip = _STRIP * factor
    if min(image.size) < 2 * strip:
        return None
    dark = 255.0 - np.asarray(image.reduce((strip, factor)), dtype=np.float32)
    ink = float(dark.mean()) / 255.0
    if ink * dark.size * _STRIP < 200 or ink > 0.5:  # a blank page, or a photo rather than text
        return None
    return np.ascontiguousarray(dark.T)


def estimate_skew(image: Image.Image) -> float:
    """The small angle (degrees, counter-clockwise correction) that makes text lines horizontal; 0 if none.

    The angle whose sheared row profile is sharpest, coarse then fine; Pillow's box filter does the reduction.
    """
    dark = _darkness(image, 1000)  # about 1000 rows: enough to see text lines
    if dark is None:
        return 0.0
    profiles = _Profiles(dark)
    best, _ = profiles.sharpest(np.arange(-MAX_SKEW, MAX_SKEW + 1e-9, 0.5))
    best, _ = profiles.sharpest(np.arange(best - 0.5, best + 0.5 + 1e-9, 0.1))
    return round(best, 2) if MIN_SKEW <= abs(best) <= MAX_SKEW else 0.0


def _contrast(profile: np.ndarray) -> float:
    """Mean square over squared mean of the profile where the page has ink: high when ink comes in bands."""
    inked = np.flatnonzero(profile > 0.02 * float(profile.max()))
    if len(inked) == 0:
        return 0.0
    span = profile[inked[0] : inked[-1] + 1].astype(np.float64)
    return float(np.dot(span, span) / len(span) / span.mean() ** 2)


def _without_rules(profiles: np.ndarray) -> np.ndarray:
    """Strip profiles (strips, positions) without features under 3 positions wide: the ruled lines of tables and
    boxes (a grid's vertical rules band columns as text lines band rows), not text lines (5 or more at this scale)."""
    padded = np.pad(profiles, ((0, 0), (1, 1)), mode="edge")
    eroded = np.minimum(np.minimum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
    padded = np.pad(eroded, ((0, 0), (1, 1)), mode="edge")
    return np.ascontiguousarray(np.maximum(np.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:]))


def looks_sideways(image: Image.Image) -> bool:
    """Text lines run top to bottom: the page lies on its side (a quarter turn either way stands it upright).

    Compares how sharply ink bands into rows and into columns (~3 ms, no OCR): horizontal text lines band rows,
    the gaps between words do not band columns; ruled lines are left out. Columns/rows on the samples: upright
    pages at most 0.69 (heavy noise), sideways at least 1.47; ruled grids with little text 0.55-0.96 (1.6 with
    1 mm thick rules: read from a wrong turn first, then turned back, costing time but not accuracy).
    """
    factor = max(1, round(max(image.size) / 500))
    dark = 255.0 - np.asarray(image.reduce(factor) if factor > 1 else image, dtype=np.float32)
    height, width = (dark.shape[0] // _STRIP) * _STRIP, (dark.shape[1] // _STRIP) * _STRIP
    ink = float(dark.mean()) / 255.0
    if height < 2 * _STRIP or width < 2 * _STRIP or ink * dark.size < 200 or ink > 0.5:
        return False
    # One reduction, then strips summed in numpy: vertical strips (profiles over rows), horizontal (over columns).
    rows = _without_rules(dark[:, :width].reshape(dark.shape[0], width // _STRIP, _STRIP).mean(axis=2).T)
    columns = _without_rules(dark[:height].reshape(height // _STRIP, _STRIP, dark.shape[1]).mean(axis=1))
    angles = np.arange(-MAX_SKEW, MAX_SKEW + 1e-9, 1.0)
    across_rows = _contrast(_Profiles(rows).sharpest(angles)[1])
    across_columns = _contrast(_Profiles(columns).sharpest(angles)[1])
    return across_columns > SIDEWAYS_CONTRAST * across_rows


def deskew(image: Image.Image, angle: float) -> Image.Image:
    """Rotate counter-clockwise by ``angle`` degrees about the centre, keeping the page size."""
    if angle == 0:
        return image
    return image.rotate(angle, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=255)


def blank_row(image: Image.Image, near: int, *, window: float = 0.08) -> int | None:
    """A pixel row without ink close to ``near`` (within ``window`` of the height), or None if text fills the band.

    Cutting a page there splits it between text lines, so both parts read as the whole page would.
    """
    if not 0 < near < image.height:
        return None
    factor = max(1, round(image.height / 1000))
    small = image.reduce(factor) if factor > 1 else image
    empty = np.flatnonzero((np.asarray(small) < 128).sum(axis=1) == 0)
    span = max(1, round(window * small.height))
    target = near // factor
    candidates = empty[(empty >= target - span) & (empty <= target + span)]
    if len(candidates) == 0:
        return None
    # The middle of the gap nearest the target: a margin of white on both sides of the cut.
    best = int(candidates[np.argmin(np.abs(candidates - target))])
    blank = set(empty.tolist())
    top = bottom = best
    while top - 1 in blank:
        top -= 1
    while bottom + 1 in blank:
        bottom += 1
    return (top + bottom) // 2 * factor + factor // 2
