"""Page clean-up before OCR: grayscale, resolution, orientation (text lines, Tesseract OSD) and deskew; for camera
photos, the page cut out of the picture and seen from above, and uneven light evened out.

Every step is a pure function of the image and a few numbers recorded on the Page (rotation, skew, dpi, the corners
of a photographed page, whether its light was evened out), so ``render_page`` can rebuild exactly the picture the
OCR boxes refer to.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

import numpy as np
import pytesseract
from PIL import Image, ImageFilter

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
    return image.resize(size, _resampling(scale))


def _resampling(scale: float) -> Image.Resampling:
    """Bicubic to enlarge, Lanczos (no aliasing) to reduce."""
    return Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.LANCZOS


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


# Camera photos: a page lying on a darker surface, seen at an angle, lit unevenly. Measured on a reduced copy.
PAGE_SURROUND = 0.95  # a page on a surface: the picture's border darker than this share of its median
PAGE_INSET = 0.02  # of the way to the page's centre: each edge moves ~1 % of the page inwards
PAGE_AREA = (0.2, 0.93)  # of the photo: less is no page, more is a page that fills the frame (nothing to cut)
INK_PERCENTILE = 0.5  # the darkest half percent of a page's pixels is ink wherever there is a line of text
NOISY = 8.0  # grey levels of grain, once stretched, above which a page is smoothed before its ink is stretched
UNEVEN_LIGHT = 0.15  # the page's darkest paper this much darker than its brightest: flatten the light
_LIGHT_CELLS = 100  # cells of paper light along the long side: larger than a letter, smaller than a shadow's edge
_LIGHT_CELL = 4  # pixels of the reduced copy per cell
INK_CELL = 0.8  # a cell this much darker than its brightest neighbour is ink, not paper in a shadow

Corners = tuple[float, float, float, float, float, float, float, float]  # x, y of top-left, top-right, bottom-right,
# bottom-left


def find_page(image: Image.Image) -> Corners | None:
    """The corners of a page photographed on a darker surface (pixels of ``image``), or None.

    None when the image is the page (a scan, a photo filling the frame) or no page edge stands out. On a ~400 px
    copy with the text erased, each side of the page is the line through the sharpest dark-to-bright steps met
    going inwards from that side of the photo: a page edge is a step over a pixel or two, while a shadow or a
    fall-off of light changes brightness over many (so a shadow's edge is never taken for the page's).
    """
    factor = max(1, round(max(image.size) / 400))
    small = image.reduce(factor) if factor > 1 else image
    if min(small.size) < 4 * _EDGE_WIDE:
        return None
    plain = np.asarray(small)
    ring = np.concatenate([plain[:2].ravel(), plain[-2:].ravel(), plain[:, :2].ravel(), plain[:, -2:].ravel()])
    # The paper's light is the bright end of the picture, not its median: a narrow receipt is a minority of it.
    if np.median(ring) >= PAGE_SURROUND * np.percentile(plain, 90):
        return None  # the picture's border is as light as the page: a scan, or a page filling the frame (~1 ms)
    grey = np.asarray(small.filter(ImageFilter.MaxFilter(3)), dtype=np.float32)  # text strokes erased
    height, width = grey.shape
    left = _edge(grey)
    right = _edge(grey[:, ::-1])
    top = _edge(grey.T)
    bottom = _edge(grey.T[:, ::-1])
    if left is None or right is None or top is None or bottom is None:
        return _bright_region(grey, image.width / width, image.height / height)
    # Each side as x = a * y + b (left, right) or y = a * x + b (top, bottom), in the reduced copy's pixels.
    sides = {
        "left": left,
        "right": (-right[0], width - 1 - right[1]),
        "top": top,
        "bottom": (-bottom[0], height - 1 - bottom[1]),
    }
    quad = [
        _crossing(sides["left"], sides["top"]),
        _crossing(sides["right"], sides["top"]),
        _crossing(sides["right"], sides["bottom"]),
        _crossing(sides["left"], sides["bottom"]),
    ]
    area = _polygon_area(quad) / (width * height)
    if not PAGE_AREA[0] <= area <= PAGE_AREA[1] or not _roughly_rectangular(quad):
        return None
    if any(not (-1 <= x <= width and -1 <= y <= height) for x, y in quad):
        return None
    # A little inside the edges found: a sliver of the table left along an edge reads as a column of garbage (and
    # bands the columns like text lines turned sideways); a page's margin is blank.
    centre_x, centre_y = sum(x for x, _ in quad) / 4, sum(y for _, y in quad) / 4
    inset = [(x + PAGE_INSET * (centre_x - x), y + PAGE_INSET * (centre_y - y)) for x, y in quad]
    sx, sy = image.width / width, image.height / height
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = ((float((x + 0.5) * sx), float((y + 0.5) * sy)) for x, y in inset)
    return (x0, y0, x1, y1, x2, y2, x3, y3)


REGION_AREA = (0.04, 0.9)  # of the picture: a till receipt on a flatbed's open lid is narrow
REGION_FILL = 0.5  # of a column's (row's) pixels bright for it to belong to the paper
# What lies around the paper at most this share of its light: a grey board under a receipt is ~0.8 of it, a page
# filling the picture leaves nothing around it darker than its own paper.
REGION_SURROUND = 0.85
# Of the broad step within two pixels of the copy: a scanner's lid blurs a receipt's edge over a few pixels, a
# shadow's border spreads over tens.
REGION_SHARPNESS = 0.35
# Paper is the bright end of the picture: first split it from the rest halfway between dark and bright (a black lid),
# then, where a light surface counts as bright too (a grey board), within this share of the brightest.
REGION_PAPER_SPREAD = 0.12
REGION_BRIDGE = 0.12  # of the picture's height: dark rows across the paper this short are print (a logo, a band)


def _bright_region(grey: np.ndarray, sx: float, sy: float) -> Corners | None:
    """The paper as the bright upright rectangle in a darker picture (a receipt scanned with the lid open, running
    off the glass at the top and bottom, so it has no four edges to find), as corners in pixels of the picture;
    None when there is no such rectangle. ``grey``: the reduced copy, text erased; ``sx``, ``sy``: its scale."""
    low, high = np.percentile(grey, 5), np.percentile(grey, 95)
    if high - low < EDGE_MIN_STEP * 4:
        return None
    for level in ((low + high) / 2, high * (1 - REGION_PAPER_SPREAD)):
        region = _region_brighter_than(grey, level)
        if region is not None:
            left, top, right, bottom = (
                (region[0] + 1) * sx,
                (region[1] + 1) * sy,
                (region[2] - 1) * sx,
                (region[3] - 1) * sy,
            )
            return (left, top, right, top, right, bottom, left, bottom)
    return None


def _region_brighter_than(grey: np.ndarray, level: float) -> tuple[int, int, int, int] | None:
    """The rectangle (x0, y0, x1, y1) of paper brighter than ``level`` set off by sharp edges from a darker
    surround, in pixels of ``grey``, or None."""
    bright = grey > level
    columns = _longest_run(bright.mean(axis=0) > REGION_FILL)
    if columns is None:
        return None
    # Along the paper, a printed logo or a black band is no end of it: bridged, up to the paper's edge.
    paper_rows = bright[:, columns[0] : columns[1]].mean(axis=1) > REGION_FILL
    rows = _longest_run(paper_rows, bridge=int(REGION_BRIDGE * len(paper_rows)))
    if rows is None:
        return None
    (x0, x1), (y0, y1) = columns, rows
    height, width = grey.shape
    if not REGION_AREA[0] <= (x1 - x0) * (y1 - y0) / (width * height) <= REGION_AREA[1]:
        return None
    inside = np.zeros_like(bright)
    inside[y0:y1, x0:x1] = True
    if np.median(grey[~inside]) > REGION_SURROUND * np.median(grey[inside]):
        return None  # light all around: no surface, nothing to cut
    # Every side that cuts something off must be the paper's edge: a sharp step, not a shadow's soft fall-off.
    strips = [grey[y0:y1].T, grey[y0:y1].T[::-1], grey[:, x0:x1], grey[::-1, x0:x1]]
    cuts = [x0, width - x1, y0, height - y1]
    for strip, cut in zip(strips, cuts, strict=True):
        if cut >= _EDGE_WIDE and not _sharp_step(strip, cut):
            return None
    return x0, y0, x1, y1


def _sharp_step(lines: np.ndarray, at: int) -> bool:
    """Whether ``lines`` (index 0: the side cut off) step from dark to bright at ``at`` within a pixel or two."""

    def mean(start: int, count: int) -> float:
        return float(lines[start : start + count].mean())

    near = mean(at, _EDGE_NEAR) - mean(at - _EDGE_NEAR, _EDGE_NEAR)
    wide = mean(at, _EDGE_WIDE) - mean(at - _EDGE_WIDE, _EDGE_WIDE)
    return near >= EDGE_MIN_STEP and near >= REGION_SHARPNESS * wide


def _longest_run(flags: np.ndarray, bridge: int = 0) -> tuple[int, int] | None:
    """The [start, end) of the longest run of True in ``flags``, or None; a run of False no longer than ``bridge``
    joins the runs on either side of it, or a run to the end of ``flags`` it lies against."""
    runs: list[tuple[int, int]] = []
    start = None
    for index, flag in enumerate([*flags.tolist(), False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            runs.append((start, index))
            start = None
    if not runs:
        return None
    joined = [runs[0]]
    for begin, end in runs[1:]:
        if begin - joined[-1][1] <= bridge:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((begin, end))
    begin, end = max(joined, key=lambda run: run[1] - run[0])
    if begin <= bridge:
        begin = 0
    if len(flags) - end <= bridge:
        end = len(flags)
    return begin, end


_EDGE_NEAR, _EDGE_WIDE = 2, 8  # pixels of the reduced copy averaged on each side of a step: sharp, and broad
EDGE_STEP = 0.06  # the page at least this much brighter than what lies outside it, within two pixels
EDGE_MIN_STEP = 8.0  # and by this many grey levels, above a surface's grain and the sensor's noise
EDGE_SHARPNESS = 0.6  # of the broad step already there within two pixels: an edge, not a shadow's soft border
EDGE_REACH = 0.4  # of the photo's width (height) from its side within which the page's edge is looked for
EDGE_ROWS = 0.3  # of the rows (columns) that must show the edge on one line


def _edge(grey: np.ndarray) -> tuple[float, float] | None:
    """The left edge of a bright page in ``grey`` (rows, columns): (a, b) of x = a * y + b, or None."""
    height, width = grey.shape
    reach = int(width * EDGE_REACH)
    sums = np.concatenate([np.zeros((height, 1), np.float32), np.cumsum(grey, axis=1, dtype=np.float32)], axis=1)
    x = np.arange(_EDGE_WIDE, reach)

    def mean(start: np.ndarray, count: int) -> np.ndarray:
        return (sums[:, start + count] - sums[:, start]) / count

    inside = mean(x, _EDGE_WIDE)
    near = mean(x, _EDGE_NEAR) - mean(x - _EDGE_NEAR, _EDGE_NEAR)  # inside minus outside, at the boundary before x
    wide = inside - mean(x - _EDGE_WIDE, _EDGE_WIDE)
    # Relative to the paper's brightness: in a shadow, page and table darken alike.
    sharp = (near >= np.maximum(EDGE_STEP * inside, EDGE_MIN_STEP)) & (near >= EDGE_SHARPNESS * wide)
    score = np.where(sharp, near, 0.0)
    best = np.argmax(score, axis=1)
    rows = np.flatnonzero(score[np.arange(height), best] > 0)
    if len(rows) < EDGE_ROWS * height:
        return None
    ys, xs = rows.astype(np.float64), (x[best[rows]] - 0.5).astype(np.float64)
    # The line most rows' steps lie on (steps off it: the surface's grain, boxes printed on the page). Candidate
    # lines through pairs of rows half the edge apart, the one with most rows within 2 pixels, refined.
    half = len(ys) // 2
    pairs = np.linspace(0, half - 1, num=min(half, 40)).astype(int)
    slopes = (xs[pairs + half] - xs[pairs]) / np.maximum(ys[pairs + half] - ys[pairs], 1.0)
    offsets = xs[pairs] - slopes * ys[pairs]
    near_line = np.abs(xs[None, :] - (slopes[:, None] * ys[None, :] + offsets[:, None])) <= 2.0
    keep = near_line[int(np.argmax(near_line.sum(axis=1)))]
    if keep.sum() < EDGE_ROWS * height:
        return None
    a, b = np.polyfit(ys[keep], xs[keep], 1)
    return float(a), float(b)


def _crossing(vertical: tuple[float, float], horizontal: tuple[float, float]) -> tuple[float, float]:
    """Where x = a * y + b meets y = c * x + d."""
    a, b = vertical
    c, d = horizontal
    y = (c * b + d) / (1 - a * c)
    return a * y + b, y


def _polygon_area(points: list[tuple[float, float]]) -> float:
    return 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True)))


def _roughly_rectangular(quad: list[tuple[float, float]]) -> bool:
    """Every corner between 60 and 120 degrees: a sheet of paper seen from above, not a sliver or a triangle."""
    for i in range(4):
        (ax, ay), (bx, by), (cx, cy) = quad[i - 1], quad[i], quad[(i + 1) % 4]
        u, v = np.array([ax - bx, ay - by]), np.array([cx - bx, cy - by])
        norms = float(np.linalg.norm(u) * np.linalg.norm(v))
        if norms == 0 or abs(float(np.dot(u, v)) / norms) > 0.5:
            return False
    return True


def unwarp(
    image: Image.Image, corners: Corners, scale: float = 1.0, *, size: tuple[int, int] | None = None
) -> Image.Image:
    """The page inside ``corners`` as a flat rectangle seen from straight above: ``size``, or its edge lengths
    times ``scale``."""
    quad = [(corners[i], corners[i + 1]) for i in range(0, 8, 2)]

    def length(a: tuple[float, float], b: tuple[float, float]) -> float:
        return float(np.hypot(a[0] - b[0], a[1] - b[1]))

    width, height = size or (
        max(1, round(scale * (length(quad[0], quad[1]) + length(quad[3], quad[2])) / 2)),
        max(1, round(scale * (length(quad[0], quad[3]) + length(quad[1], quad[2])) / 2)),
    )
    xs, ys = [round(x) for x, _ in quad], [round(y) for _, y in quad]
    if xs[0] == xs[3] and xs[1] == xs[2] and ys[0] == ys[1] and ys[2] == ys[3]:
        # An upright rectangle (paper found as a bright region): cut on whole pixels. Resampling at a fractional
        # offset blurs thin till-printer strokes enough to cost Tesseract digits.
        cut = image.crop((xs[0], ys[0], xs[1], ys[2]))
        if cut.size == (width, height):
            return cut
        return cut.resize((width, height), _resampling(scale))
    rectangle = [(0.0, 0.0), (float(width), 0.0), (float(width), float(height)), (0.0, float(height))]
    return image.transform(
        (width, height), Image.Transform.PERSPECTIVE, homography(rectangle, quad), Image.Resampling.BICUBIC
    )


def homography(source: list[tuple[float, float]], target: list[tuple[float, float]]) -> tuple[float, ...]:
    """Pillow's PERSPECTIVE coefficients: output pixel ``source[i]`` reads input pixel ``target[i]``."""
    rows, values = [], []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        values += [u, v]
    solved = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(values, dtype=np.float64))
    return tuple(float(c) for c in solved)


def paper_light(image: Image.Image) -> np.ndarray:
    """How bright the paper is across the page, about ``_LIGHT_CELLS`` cells along the long side: the brightest of
    each cell of a ~400 px copy (text has paper around it; the copy's averaging keeps sensor noise out of the
    maximum), cells of ink alone filled from their neighbours, smoothed."""
    factor = max(1, round(max(image.size) / (_LIGHT_CELLS * _LIGHT_CELL)))
    grey = np.asarray(image.reduce(factor) if factor > 1 else image)
    rows, cols = grey.shape[0] // _LIGHT_CELL, grey.shape[1] // _LIGHT_CELL
    if rows < 3 or cols < 3:
        return np.full((1, 1), float(grey.max()), dtype=np.float32)
    cells = (
        grey[: rows * _LIGHT_CELL, : cols * _LIGHT_CELL].reshape(rows, _LIGHT_CELL, cols, _LIGHT_CELL).max(axis=(1, 3))
    )
    # A cell much darker than its brightest neighbour holds only ink (a bold heading, a black bar): take the
    # neighbour's light. Others keep their own, so the light follows a shadow's edge closely.
    brightest = np.asarray(Image.fromarray(cells).filter(ImageFilter.MaxFilter(3)), dtype=np.float32)
    filled = np.where(cells < INK_CELL * brightest, brightest, cells.astype(np.float32))
    light = Image.fromarray(filled.astype(np.uint8)).filter(ImageFilter.BoxBlur(1))
    return np.asarray(light, dtype=np.float32)


def uneven_light(image: Image.Image) -> float:
    """0 for paper lit evenly (a scan); towards 1 as its darkest part falls below its brightest (photo, shadow)."""
    light = paper_light(image)
    bright = float(np.percentile(light, 95))
    return 0.0 if bright <= 0 else max(0.0, 1.0 - float(np.percentile(light, 5)) / bright)


def flatten_light(image: Image.Image) -> Image.Image:
    """The page with the light made even: each pixel divided by the paper's brightness around it (paper -> white),
    then the darkest ink stretched to black.

    Stretched because a photo's ink is grey: evened out, a dim page's darkest ink can be lighter than 180, which
    Tesseract's global threshold then drops with the paper's noise (a photographed page read as empty).
    """
    light = Image.fromarray(np.clip(paper_light(image), 1, 255).astype(np.uint8)).resize(
        image.size, Image.Resampling.BILINEAR
    )
    grey = np.asarray(image, dtype=np.float32)
    even = np.clip(grey * (255.0 / np.asarray(light, dtype=np.float32)), 0, 255)
    ink = min(float(np.percentile(even[::4, ::4], INK_PERCENTILE)), 200.0)
    gain = 255.0 / (255.0 - ink)
    if _noise(even) * gain > NOISY:
        # Stretched, a small sensor's grain turns the paper into speckles that Tesseract takes for a picture and
        # reads nothing on: smooth it first (a 1 px Gaussian, ~50 ms a page; a median filter costs 8 times that).
        even = np.asarray(Image.fromarray(even.astype(np.uint8)).filter(ImageFilter.GaussianBlur(1)), np.float32)
    return Image.fromarray(np.clip((even - ink) * gain, 0, 255).astype(np.uint8))


def _noise(grey: np.ndarray) -> float:
    """The grain's standard deviation in grey levels, from differences of neighbouring pixels (text edges are too
    few to move their median)."""
    sample = grey[::4]
    return float(np.median(np.abs(np.diff(sample, axis=1)))) * 1.4826 / np.sqrt(2)


# --- text Tesseract's layout analysis left out ----------------------------------------------------------------------

# Darker than this share of the paper's level is ink (print, a rule, a logo), light grey print too (a row's heading
# set in 60 % grey, which Tesseract's binarisation of the whole page turns to paper; a crop of it reads well).
UNREAD_INK = 0.7
UNREAD_LINE = (0.6, 2.5)  # a band of unread ink this tall, in median word heights, may be a line of text
# Ink runs across a band (letters) from which it reads as text, not a bar, and word heights of ink across it: a
# short amount alone in its column ("80,00", a table's only unread word) spans ~2.5 word heights, and blurred by a
# scan its letters run together into two runs. (Rules and dash lines are too thin for a band of text.)
UNREAD_RUNS = 2
UNREAD_SPAN = 2.0


def unread_text(image: Image.Image, boxes: list[tuple[float, float, float, float]]) -> list[tuple[int, int, int, int]]:
    """Regions (left, top, right, bottom) holding lines of text that no word box covers: Tesseract's page layout
    analysis drops blocks it takes for a picture (a totals block between lines of dashes on a scan). A band of ink
    counts as text when it is about a word high and broken into many runs (letters); rules, dash lines and
    specks do not. Neighbouring bands are one region. Empty when the page has no words to measure against."""
    if not boxes:
        return []
    heights = sorted(b[3] - b[1] for b in boxes)
    word_height = max(4.0, heights[len(heights) // 2])
    grey = np.asarray(image.convert("L"), dtype=np.uint8)
    paper = float(np.percentile(grey, 90))
    ink = grey < UNREAD_INK * paper
    pad = int(word_height / 4)
    for left, top, right, bottom in boxes:
        ink[max(0, int(top) - pad) : int(bottom) + pad, max(0, int(left) - pad) : int(right) + pad] = False
    rows = np.flatnonzero(ink.sum(axis=1) >= 3)
    bands: list[tuple[int, int]] = []
    for row in rows:
        if bands and row - bands[-1][1] <= 2:
            bands[-1] = (bands[-1][0], int(row))
        else:
            bands.append((int(row), int(row)))
    regions: list[list[int]] = []
    low, high = UNREAD_LINE[0] * word_height, UNREAD_LINE[1] * word_height
    for top, bottom in bands:
        if not low <= bottom - top + 1 <= high:
            continue
        columns: np.ndarray = np.asarray(ink[top : bottom + 1].any(axis=0), dtype=bool)
        if columns.sum() < UNREAD_SPAN * word_height:
            continue
        starts = np.flatnonzero(columns[1:] & ~columns[:-1])
        if len(starts) + int(columns[0]) < UNREAD_RUNS:
            continue
        spread = np.flatnonzero(columns)
        left, right = int(spread[0]), int(spread[-1])
        if regions and top - regions[-1][3] <= 3 * word_height:
            region = regions[-1]
            region[0], region[2], region[3] = min(region[0], left), max(region[2], right), bottom
        else:
            regions.append([left, top, right, bottom])
    margin = int(word_height / 2)
    width, height = image.size
    return [
        (max(0, r[0] - margin), max(0, r[1] - margin), min(width, r[2] + margin), min(height, r[3] + margin))
        for r in regions
    ]


# --- dark borders ------------------------------------------------------------------------------------------------

BORDER_DARK = 0.5  # a column (row) darker on average than this share of the paper's level is a border, not paper
BORDER_SHADOW = 0.85  # and the columns next to it darker than this share are its shadow
BORDER_BAND = 0.15  # of the width (height): the most a border may take from one side
BORDER_SHADOW_REACH = 0.01  # of the width (height): how far its shadow may reach (rows crossing print are darker too)


def whiten_dark_borders(image: Image.Image) -> Image.Image:
    """``image`` with dark bands along its edges (a scanner's lid or shadow beside a narrow receipt) painted the
    paper's level. Tesseract's layout analysis reads nothing at all on such a page (its binarisation is thrown by the
    band); the pixels stay where they are, so boxes still fit the page as given. Costs ~10 ms on an A4 page."""
    grey = np.asarray(image.convert("L"))
    reduced = grey[::4, ::4].astype(np.float32)
    paper = float(np.percentile(reduced, 90))
    if paper <= 0:
        return image
    columns, rows = reduced.mean(axis=0) / paper, reduced.mean(axis=1) / paper
    bands: list[tuple[str, int]] = []  # side, pixels to whiten from that edge
    for side, profile in (("left", columns), ("right", columns[::-1]), ("top", rows), ("bottom", rows[::-1])):
        dark = _edge_run(profile, BORDER_DARK)
        if dark == 0 or dark > BORDER_BAND * len(profile):
            continue
        reach = max(1, int(BORDER_SHADOW_REACH * len(profile)))
        shadow = dark + min(reach, _edge_run(profile[dark:], BORDER_SHADOW))
        bands.append((side, min(len(profile), shadow + 1) * 4))
    if not bands:
        return image
    out = grey.copy()
    level = int(paper)  # the paper level measured above, on the same reduced pixels
    for side, width in bands:
        if side == "left":
            out[:, :width] = level
        elif side == "right":
            out[:, -width:] = level
        elif side == "top":
            out[:width, :] = level
        else:
            out[-width:, :] = level
    return Image.fromarray(out, mode="L")


def _edge_run(profile: np.ndarray, below: float) -> int:
    """How many values from the start of ``profile`` lie below ``below``."""
    above = np.flatnonzero(profile >= below)
    return int(above[0]) if len(above) else len(profile)
