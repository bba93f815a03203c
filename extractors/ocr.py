"""OCR of page images with Tesseract (pytesseract, ``--oem 1``), and the one-shot ``read_document``.

Per page: grayscale, resolution (upscale below 150 dpi, to 180) and small-angle deskew first. A camera photo is
recognised by what its pixels show, never by its name: a page lying on a darker surface is cut out along its edges
and seen from straight above (``cleanup.find_page``, ~6 ms to look), light falling off across the page or a shadow
is evened out (``cleanup.uneven_light``, ~2 ms to measure; ``flatten_light``); a scan shows neither and is read as
it is. A photo whose cleaned page reads poorly is read as given too, and the reading with more text read surely is
kept. An optional second reader (``extractors.second_reader``) re-reads the words Tesseract was unsure of.

A page whose text lines run top to bottom (seen in its ink profiles in ~2 ms, before any reading) starts from a
quarter turn: the probe (a third of the page) of the 90-degree turn tells whether it or 270 stands the page upright.
With languages
given, one Tesseract pass; when it reads sideways (or so badly that the page is probably upside down) the candidate
turns are probed, and only when none reads well is Tesseract OSD asked for orientation and script (OSD costs more
than reading the page).

In automatic mode the top third of the page (cut at a blank row between text lines) is first read with English to
learn the language, then the page is read once with that language's model. On a page of 200 dpi or more the probe
reads that third at half resolution (20 % cheaper, as sure of language and orientation on the samples); below, it
reads at full resolution, and when the page is English and reads like print the probe is kept and only the rest of
the page is read, so such a page costs one pass. A probe that reads like garbage is read again with jpn (an upright
CJK page; kept as the page's top when it reads like print); a sideways or upside-down probe makes the candidate
turns be probed; OSD only when neither settles it. The whole page is read again only when its text turns out to be
in yet another language (a Chinese page read with jpn: chi_sim). The probe is the price of not knowing the
language: ~0.08 CPU-s of Tesseract start-up and model load plus a third of the page, which a smaller probe barely
lowers (a quarter of the page: 0.16 instead of 0.19 CPU-s, but 12 of 17 sample pages' languages recognised instead
of 15). Tesseract gets the cleaned page as an uncompressed BMP (it need not decode again what docline decoded),
except a bilevel page that clean-up left unchanged: its own 1-bit PNG.

Measured alternatives (bench/ocr.py, CPU-s per page): Debian's Latin *script* model reads every Western European
language in one pass but costs ~0.85 s against ~0.43 s for a language model (0.33 s just to load its 89 MB word
list, in every process), more than probe + pass; ``eng+deu+fra+...`` in one pass costs ~0.9 s. Keeping the English
probe as the top of a page in another language saves a third of a pass but loses its accents (printed de CER .003
-> .009, fr .004 -> .006, pt .006 -> .010). ``-c tessedit_do_invert=0`` saves ~3 % of Tesseract's CPU but no longer
reads white text on dark bars (invoice table headers). Nearest-neighbour deskew is 6x cheaper than bilinear (5 vs
32 ms) but reads worse (skewed samples: print CER .066 -> .070, handwriting .189 -> .212).

Tesseract runs as a subprocess with ``OMP_THREAD_LIMIT=1``; parallelism comes from reading pages concurrently.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytesseract
from PIL import Image

from extractors import cleanup, language
from extractors.errors import OcrFailed
from extractors.intake import DEFAULT_MAX_PIXELS, PDF, Limits, check_page_pixels, sniff
from extractors.model import Document, Line, Page, Word
from extractors.pages import PageSource, iter_pages
from extractors.second_reader import SecondReader

log = logging.getLogger(__name__)

# A first pass reading at least this well is upright (upside-down pages read ~0.3, handwriting ~0.7).
GOOD_CONFIDENCE = 0.6
PRINT_CONFIDENCE = 0.85  # print reads ~0.9, handwriting-style fonts ~0.7-0.8
UPSIDE_DOWN_CONFIDENCE = 0.4  # a reading this poor is more likely a page upside down than a bad scan
OSD_TRUSTED = 2.0  # Tesseract's orientation confidence above which its answer beats a confidence comparison
SIDEWAYS_ASPECT = 1.3  # height over width of a word read sideways (four letters: 2-3; upright small print: <= 1.5)
# A language probe of a page scanned at this resolution or more reads at half of it: as sure, 20 % cheaper.
REDUCED_PROBE_DPI = 200.0
DEFAULT_TIMEOUT = 180.0  # seconds per Tesseract run: a page that takes longer is hostile, not slow


@dataclass(frozen=True)
class _Reading:
    lines: list[Line]
    languages: list[str]
    scale: float = 1.0  # of the picture read against the page's: a reduced probe's boxes are not the page's

    @property
    def words(self) -> list[Word]:
        return [w for line in self.lines for w in line.words]

    @property
    def score(self) -> float:
        """Mean confidence weighted towards pages where many characters were read."""
        words = self.words
        if not words:
            return 0.0
        chars = sum(len(w.text) for w in words)
        return sum(w.conf * len(w.text) for w in words) / chars

    @property
    def surely_read(self) -> float:
        """Characters read, each counted by Tesseract's confidence in its word: how much text the reading holds."""
        return sum(w.conf * len(w.text) for w in self.words)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def sideways(self) -> bool:
        """Most longer words stand upright in their boxes: Tesseract read a page turned by 90 degrees. A word read
        sideways is two or more times taller than wide; small print read at a low resolution has boxes about as tall
        as wide (three digits in a 10-pixel font: 12 by 28), so only a clearly tall box counts."""
        long = [w for w in self.words if len(w.text) >= 4]
        tall = [w for w in long if (w.bbox[3] - w.bbox[1]) > SIDEWAYS_ASPECT * (w.bbox[2] - w.bbox[0])]
        return len(long) >= 3 and len(tall) > 0.3 * len(long)


def _tesseract(
    image: Image.Image,
    languages: list[str],
    dpi: float,
    timeout: float,
    *,
    original: bytes | None = None,
    block: bool = False,
) -> _Reading:
    """One Tesseract run; ``original`` is the page's own PNG when ``image`` is that bilevel page unchanged;
    ``block``: the picture is one block of text (no layout analysis, which could drop it as a figure)."""
    # Tesseract runs its LSTM with OpenMP threads that fight each other on a busy machine: one thread per run.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    config = f"--oem 1 --psm {6 if block else 3} --dpi {round(dpi)}"
    with tempfile.TemporaryDirectory(prefix="docline-ocr-") as tmp:
        if original is not None:
            path = os.path.join(tmp, "page.png")
            with open(path, "wb") as f:
                f.write(original)  # a 1-bit PNG: Tesseract skips binarisation, cheaper than an 8-bit copy
        else:
            # Uncompressed: Tesseract spends no time decoding what docline has decoded already (a noisy page's
            # PNG costs it ~35 ms), and Leptonica reads BMP faster than PNM.
            path = os.path.join(tmp, "page.bmp")
            image.save(path, format="BMP")
        # pytesseract's run with our own output path: its image_to_data names the output in the shared temp
        # directory and globs that whole directory to clean up (~2 ms a run with a few hundred files there).
        out = os.path.join(tmp, "page")
        try:
            pytesseract.pytesseract.run_tesseract(
                path, out, "tsv", "+".join(languages), f"-c tessedit_create_tsv=1 {config}", timeout=timeout
            )
            with open(f"{out}.tsv", encoding="utf-8") as f:
                tsv = f.read()
        except RuntimeError as exc:  # pytesseract reports its timeout as a bare RuntimeError
            raise OcrFailed("Reading the page took too long and was stopped.") from exc
        except pytesseract.TesseractError as exc:
            raise OcrFailed(f"Tesseract could not read the page: {exc.message}".strip()) from exc
        except (OSError, UnicodeDecodeError) as exc:  # no result written, or not text
            raise OcrFailed("Tesseract gave no readable result for the page.") from exc
    return _Reading(lines=_lines(tsv), languages=languages)


def _lines(tsv: str) -> list[Line]:
    """Words of Tesseract's TSV grouped into its lines (rows: level page block par line word l t w h conf text)."""
    grouped: dict[tuple[str, str, str], list[Word]] = {}
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t", 11)
        if len(cells) < 12 or cells[0] != "5":  # level 5 = word
            continue
        text, conf = cells[11].strip(), float(cells[10])
        if not text or conf < 0:
            continue
        left, top, width, height = int(cells[6]), int(cells[7]), int(cells[8]), int(cells[9])
        word = Word(text=text, conf=min(max(conf / 100.0, 0.0), 1.0), bbox=(left, top, left + width, top + height))
        grouped.setdefault((cells[2], cells[3], cells[4]), []).append(word)
    return [Line(words=words) for words in grouped.values()]


@dataclass(frozen=True)
class _View:
    """The page turned by ``rotation``, deskewed, and (unless not asked for) the English probe of its top third."""

    rotation: int
    skew: float
    upright: Image.Image
    probe: _Reading
    cut: int | None
    detected: str | None

    @property
    def upright_latin(self) -> bool:
        """Text of a known Latin-script language that reads well: this turn stands the page upright."""
        return self.detected in language.LATIN and self.reads_well

    @property
    def reads_well(self) -> bool:
        return len(self.probe.words) >= 3 and not self.probe.sideways and self.probe.score >= GOOD_CONFIDENCE


def _turn_and_probe(
    image: Image.Image,
    rotation: int,
    dpi: float,
    timeout: float,
    *,
    probe: bool = True,
    languages: list[str] | None = None,
    reduced: bool = False,
) -> _View:
    turned = cleanup.rotate_clockwise(image, rotation)
    skew = cleanup.estimate_skew(turned)
    upright = cleanup.deskew(turned, skew)
    if not probe:
        return _View(rotation, skew, upright, _Reading(lines=[], languages=["eng"]), None, None)
    reading, cut = _probe(upright, dpi, timeout, languages, reduced=reduced)
    return _View(rotation, skew, upright, reading, cut, language.detect(reading.text))


def _probe(
    upright: Image.Image, dpi: float, timeout: float, languages: list[str] | None = None, *, reduced: bool = False
) -> tuple[_Reading, int | None]:
    """The top third of a page read with English: letterhead, title and first labels name the language.

    The page is cut at a blank row near a third of its height (None if there is none), so that the probe can be
    the first part of the page's reading rather than an extra pass. A ``reduced`` probe reads the third at half
    resolution: it names the language and the orientation as well (all 14 upright sample pages) for 20 % less
    CPU (0.16 instead of 0.20 CPU-s), but cannot be kept as part of the page's reading.
    """
    cut = cleanup.blank_row(upright, upright.height // 3)
    bottom = cut if cut is not None else max(1, upright.height // 3)
    top = upright.crop((0, 0, upright.width, bottom))
    if reduced:
        reading = _tesseract(top.reduce(2), languages or ["eng"], dpi / 2, timeout)
        return _Reading(lines=reading.lines, languages=reading.languages, scale=0.5), cut
    return _tesseract(top, languages or ["eng"], dpi, timeout), cut


def _with_rest(upright: Image.Image, probe: _Reading, cut: int, dpi: float, timeout: float) -> _Reading:
    """The probe joined with the rest of the page below ``cut``, read with the same model."""
    rest = _tesseract(upright.crop((0, cut, upright.width, upright.height)), probe.languages, dpi, timeout)
    shifted = [
        Line(
            words=[
                w.model_copy(update={"bbox": (w.bbox[0], w.bbox[1] + cut, w.bbox[2], w.bbox[3] + cut)})
                for w in line.words
            ]
        )
        for line in rest.lines
    ]
    return _Reading(lines=probe.lines + shifted, languages=probe.languages)


def _with_unread(upright: Image.Image, reading: _Reading, dpi: float, timeout: float) -> _Reading:
    """``reading`` with the lines of text Tesseract's layout analysis left out (``cleanup.unread_text``): the regions
    are cut out and stacked on one sheet, each on lines of its own, and the sheet is read in one run as a block of
    text. Costs ~20 ms to look on a 200-dpi A4 page, and one run when anything was found."""
    if reading.scale != 1.0 or not reading.words:
        return reading
    boxes = [w.bbox for w in reading.words]
    regions = cleanup.unread_text(upright, boxes)
    if not regions:
        return reading
    sheet, tops = _stacked(upright, regions)
    part = _tesseract(sheet, reading.languages, dpi, timeout, block=True)
    lines = list(reading.lines)
    for line in part.lines:
        # Back from the sheet to the page: the region the line's middle lies in.
        middle = sum(w.bbox[1] + w.bbox[3] for w in line.words) / (2 * len(line.words))
        index = next((i for i, top in enumerate(tops) if top <= middle < top + regions[i][3] - regions[i][1]), None)
        if index is None:
            continue
        left, top = regions[index][0] - SHEET_MARGIN, regions[index][1] - tops[index]
        words = [
            w.model_copy(update={"bbox": (w.bbox[0] + left, w.bbox[1] + top, w.bbox[2] + left, w.bbox[3] + top)})
            for w in line.words
            if any(ch.isalnum() for ch in w.text)
        ]
        words = [w for w in words if not any(_overlap(w.bbox, box) > 0.5 for box in boxes)]
        if not words or sum(w.conf for w in words) / len(words) < GOOD_CONFIDENCE:
            continue  # a picture, a barcode or print showing through thin paper reads as garbage: left out
        # In reading order: before the first line that starts below it.
        at = next((i for i, old in enumerate(lines) if old.words[0].bbox[1] > words[0].bbox[1]), len(lines))
        lines.insert(at, Line(words=words))
    return _Reading(lines=lines, languages=reading.languages) if len(lines) > len(reading.lines) else reading


SHEET_MARGIN = 20  # pixels of paper around each region on the sheet of unread regions


def _stacked(image: Image.Image, regions: list[tuple[int, int, int, int]]) -> tuple[Image.Image, list[int]]:
    """``regions`` of ``image`` cut out and stacked on a sheet of paper, left-aligned, ``2 * SHEET_MARGIN`` apart,
    and where on the sheet each one's top lies. One run reads them all, each alone (the regions' bounding box read
    as one block would be most of the page again)."""
    gap = 2 * SHEET_MARGIN
    width = max(right - left for left, _, right, _ in regions) + 2 * SHEET_MARGIN
    height = sum(bottom - top for _, top, _, bottom in regions) + gap * (len(regions) + 1)
    grey = image if image.mode == "L" else image.convert("L")
    paper = int(np.percentile(np.asarray(grey.reduce(4)), 90))  # the page's paper level: no frame around a cut
    sheet = Image.new("L", (width, height), paper)
    tops = []
    y = gap
    for left, top, right, bottom in regions:
        sheet.paste(grey.crop((left, top, right, bottom)), (SHEET_MARGIN, y))
        tops.append(y)
        y += bottom - top + gap
    return sheet, tops


def _overlap(box: tuple[float, float, float, float], other: tuple[float, float, float, float]) -> float:
    """The share of ``box``'s area that ``other`` covers."""
    width = min(box[2], other[2]) - max(box[0], other[0])
    height = min(box[3], other[3]) - max(box[1], other[1])
    area = (box[2] - box[0]) * (box[3] - box[1])
    return width * height / area if width > 0 and height > 0 and area > 0 else 0.0


def _turns(rotation: int, *, sideways: bool, tried: set[int]) -> list[int]:
    """The quarter turns (of the page as given) left to try when the page turned by ``rotation`` reads sideways
    (the two quarter turns from it) or badly (the half turn)."""
    steps = (90, 270) if sideways else (180,)
    return [turn for turn in ((rotation + step) % 360 for step in steps) if turn not in tried]


def _reads_english(probe: _Reading, detected: str | None) -> bool:
    """The probe is good English (or good Latin text with no sign of another language): keep reading with eng."""
    if probe.sideways or len(probe.words) < 3:
        return False
    return detected == "eng" or (detected is None and probe.score >= GOOD_CONFIDENCE)


def _keeps(probe: _Reading, cut: int | None) -> bool:
    """Whether the probe can stand as the top of the page's reading.

    On print the two parts read as the whole page does (CER equal on the samples); handwriting read in two parts
    lost accuracy on 3 of 5 samples (Tesseract's line finding uses the whole page), so only a probe that reads
    like print is kept (a printed letterhead over a handwritten body is the case this cannot see).
    """
    return cut is not None and probe.scale == 1.0 and probe.score >= PRINT_CONFIDENCE


def ocr_page(
    image_png: bytes,
    *,
    number: int,
    dpi: float,
    languages: list[str] | None = None,
    hint: list[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    second_reader: SecondReader | None = None,
) -> Page:
    """Clean up and OCR one page image.

    ``languages`` fixes the Tesseract models; None chooses per page (script from OSD, language from the text),
    starting from ``hint`` (e.g. the languages of the document's first page) or English. A ``second_reader``
    re-reads the words Tesseract was unsure of (handwriting). Boxes are in pixels of ``render_page(image_png, page)``.
    A page that would be over ``max_pixels`` once scaled (a large image declaring a low resolution is upscaled) is
    refused as PageTooLarge before it is scaled.
    """
    width, height = cleanup.size_of(image_png)
    scale = cleanup.scale_for(dpi)
    check_page_pixels(width * scale, height * scale, max_pixels, number=number, why=f"scaled to {dpi * scale:.0f} dpi")
    image = cleanup.decode(image_png)
    bilevel = cleanup.is_bilevel(image_png)
    # A photo of a page lying on a table: cut the page out, seen from straight above (~6 ms to look for one).
    corners = cleanup.find_page(image)
    given = image
    image = cleanup.unwarp(image, corners, scale) if corners is not None else cleanup.rescale(image, scale)
    # A dark band along an edge (a scanner's lid beside a narrow receipt) stops Tesseract reading anything at all.
    bordered = cleanup.whiten_dark_borders(image)
    image, whitened = bordered, bordered is not image
    # Light falling off across a photographed page or a shadow over it (~2 ms to measure): even it out.
    flattened = cleanup.uneven_light(image) >= cleanup.UNEVEN_LIGHT
    if flattened:
        image = cleanup.flatten_light(image)
    page_dpi = dpi * scale
    as_given = corners is None and not flattened and not whitened and scale == 1.0
    auto = languages is None
    langs = list(languages or hint or ["eng"])
    rotation = 0
    asked_osd = False
    from_script = False
    best: _Reading | None = None
    kept: _Reading | None = None  # a probe read with the page's own model: the top part of its reading
    cut: int | None = None  # where that probe ends
    # Text lines running top to bottom (~2 ms to see): start from a quarter turn instead of reading sideways.
    sideways = cleanup.looks_sideways(image)

    if auto and hint is None:
        # Probe: the top third of a form (letterhead, title, first labels) read with English tells the language
        # for a third of a page's cost; on an English page the probe is kept and only the rest is read.
        reduced = page_dpi >= REDUCED_PROBE_DPI
        view = _turn_and_probe(image, 90 if sideways else 0, page_dpi, timeout, reduced=reduced)
        probed = {view.rotation: view}  # the turns whose probe was read, by rotation
        if sideways and not view.upright_latin:
            other = _turn_and_probe(image, 270, page_dpi, timeout, reduced=reduced)
            probed[other.rotation] = other
            if other.upright_latin or other.probe.score > view.probe.score:
                view = other
            if not view.upright_latin:
                # Ink profiles mislead on monospaced print (a till receipt's letters stand in columns): neither
                # quarter turn reads, so the page as given may well be upright.
                level = _turn_and_probe(image, 0, page_dpi, timeout, reduced=reduced)
                probed[0] = level
                if level.upright_latin or level.probe.score > view.probe.score:
                    view = level
        probe = view.probe
        if len(probe.words) >= 3 and (probe.sideways or (view.detected is None and probe.score < GOOD_CONFIDENCE)):
            # Text that reads badly or sideways: another script, or a turned page.
            cjk = None if probe.sideways else _cjk_probe(view.upright, view.cut, page_dpi, timeout)
            # A turned Latin page: the probe of the right turn reads well and names its language, for a third of
            # OSD's cost (OSD costs more than reading the page).
            turns = () if cjk is not None else _turns(view.rotation, sideways=probe.sideways, tried=set(probed))
            found = None
            for turn in turns:
                probed[turn] = _turn_and_probe(image, turn, page_dpi, timeout, reduced=reduced)
                if probed[turn].upright_latin:
                    found = probed[turn]
                    break
            if cjk is not None:
                # An upright CJK page: its own model read the probe well (and, read like print, is its top part).
                langs, from_script = cjk.languages, True
                kept, cut = (cjk, view.cut) if _keeps(cjk, view.cut) else (None, None)
            elif found is not None:
                view, langs = found, [str(found.detected)]
            else:
                asked_osd = True
                osd = cleanup.detect_orientation(image, timeout=timeout)
                if osd is not None:
                    rotation = osd.rotation if osd.confidence >= OSD_TRUSTED or probe.sideways else 0
                    langs, from_script = language.languages_for_script(osd.script), True
                    if rotation and langs == ["eng"]:
                        # A turned Latin page: probe its real top third for the language. OSD misjudges small
                        # blurred print (a Latin page taken for upside-down Fraktur): its turn must read at least
                        # as well as the page as it stands.
                        seen = probed.get(rotation)
                        if seen is None or seen.probe.score >= view.probe.score:
                            osd_view = _turn_and_probe(image, rotation, page_dpi, timeout)
                            if osd_view.probe.score >= view.probe.score:
                                view = osd_view
                                if view.detected is not None:
                                    langs, from_script = [view.detected], False
                    elif rotation:
                        view = _turn_and_probe(image, rotation, page_dpi, timeout, probe=False)
        elif view.detected is not None:
            langs = [view.detected]
        rotation, skew, upright = view.rotation, view.skew, view.upright
        english = langs == ["eng"] and _reads_english(view.probe, view.detected)
        if english and _keeps(view.probe, view.cut):
            kept, cut = view.probe, view.cut
    elif sideways:
        # One quarter turn stands the page upright: the probe of one (with the page's model) tells which, and
        # when it reads like print it is the top part of the page's reading.
        view = _turn_and_probe(image, 90, page_dpi, timeout, languages=langs)
        if view.reads_well:
            kept, cut = (view.probe, view.cut) if _keeps(view.probe, view.cut) else (None, None)
        else:
            view = _turn_and_probe(image, 270, page_dpi, timeout, probe=False)
        rotation, skew, upright = view.rotation, view.skew, view.upright
    else:
        skew = cleanup.estimate_skew(image)
        upright = cleanup.deskew(image, skew)

    if kept is not None and cut is not None:
        best = _with_rest(upright, kept, cut, page_dpi, timeout)
    if best is None:
        same = image_png if bilevel and as_given and skew == 0.0 and rotation == 0 else None
        best = _tesseract(upright, langs, page_dpi, timeout, original=same)

    if from_script and langs != ["eng"] and best.score < GOOD_CONFIDENCE:
        # OSD's script guess is weak (noise and handwriting can look "Japanese" to it): let English compete.
        latin = _tesseract(upright, ["eng"], page_dpi, timeout)
        if latin.score > best.score:
            best, langs = latin, ["eng"]
    upside_down = len(best.words) >= 3 and best.score < UPSIDE_DOWN_CONFIDENCE
    if not asked_osd and (best.sideways or upside_down):
        # Read sideways or upside down with the right model: probing the candidate turns is cheaper than OSD.
        turns = _turns(rotation, sideways=best.sideways, tried={rotation})
        views = (_turn_and_probe(image, turn, page_dpi, timeout, languages=langs) for turn in turns)
        found = next((turned for turned in views if turned.reads_well), None)
        if found is not None:
            asked_osd = True  # settled without it
            rotation, skew, upright = found.rotation, found.skew, found.upright
            if found.cut is not None and _keeps(found.probe, found.cut):
                best = _with_rest(upright, found.probe, found.cut, page_dpi, timeout)
            else:
                best = _tesseract(upright, langs, page_dpi, timeout)
    if not asked_osd and (best.score < GOOD_CONFIDENCE or len(best.words) < 3 or best.sideways):
        osd = cleanup.detect_orientation(image, timeout=timeout)
        if osd is not None:
            # Switch models by script only when the reading shows no sign of a Latin-script language.
            is_latin = language.detect(best.text) in language.LATIN
            script_langs = language.languages_for_script(osd.script) if auto and not is_latin else langs
            if osd.rotation or script_langs != langs:
                turned = cleanup.rotate_clockwise(image, osd.rotation)
                turned_skew = cleanup.estimate_skew(turned)
                candidate_image = cleanup.deskew(turned, turned_skew)
                candidate = _tesseract(candidate_image, script_langs, page_dpi, timeout)
                # Tesseract reads sideways text too, but its boxes then lie in a turned frame: trust a sure OSD.
                trusted = osd.rotation != 0 and (best.sideways or osd.confidence >= OSD_TRUSTED)
                if trusted or candidate.score > best.score:
                    best, rotation, skew, upright = candidate, osd.rotation, turned_skew, candidate_image
                    langs = script_langs
    if auto:
        detected = language.detect(best.text)
        if detected is not None and detected not in langs:
            same = image_png if bilevel and as_given and skew == 0.0 and rotation == 0 else None
            again = _tesseract(upright, [detected], page_dpi, timeout, original=same)
            # The right model reads the language's own letters; keep it unless it is clearly worse.
            if again.score >= best.score - 0.03:
                best, langs = again, [detected]
    if (corners is not None or flattened) and (best.score < GOOD_CONFIDENCE or len(best.words) < 3):
        # A photo's clean-up read poorly: read the page as given too and keep the reading with more text read
        # surely (Tesseract's mean confidence is no guide across pictures: a read that misses a shadowed half is
        # surer of what it kept). Only here: on the photos measured the cleaned page read better in 95 of 96.
        turned = cleanup.rotate_clockwise(cleanup.rescale(given, scale), rotation)
        given_skew = cleanup.estimate_skew(turned)
        given_upright = cleanup.deskew(turned, given_skew)
        as_read = _tesseract(given_upright, langs, page_dpi, timeout)
        if as_read.surely_read > best.surely_read:
            best, skew, upright, corners, flattened = as_read, given_skew, given_upright, None, False
    best = _with_unread(upright, best, page_dpi, timeout)
    lines = best.lines
    if second_reader is not None:
        lines, reread = second_reader.reread(lines, upright)
        log.debug("page %d: %s re-read %d runs of unsure words", number, second_reader.name, reread)
    return Page(
        number=number,
        width=upright.width,
        height=upright.height,
        dpi=round(page_dpi, 2),
        rotation=rotation,
        skew=skew,
        corners=corners,
        flattened=flattened,
        languages=langs,
        source="ocr",
        lines=lines,
    )


def _cjk_probe(upright: Image.Image, cut: int | None, dpi: float, timeout: float) -> _Reading | None:
    """The probe read with jpn, if so read it looks Chinese or Japanese; else None."""
    bottom = cut if cut is not None else max(1, upright.height // 3)
    probe = _tesseract(upright.crop((0, 0, upright.width, bottom)), ["jpn"], dpi, timeout)
    detected = language.detect(probe.text)
    if detected not in language.CJK or probe.score < GOOD_CONFIDENCE:
        return None
    # A kanji-only letterhead cannot tell Chinese from Japanese. jpn reads the page (its kanji cover most Chinese)
    # and the page's own text decides: a Chinese page shows no kana and is read again with chi_sim. Cheaper than
    # jpn+chi_sim in one pass (a Japanese page: ~0.4 instead of ~0.7 CPU-s) and reads Chinese better (CER .065
    # with chi_sim alone vs .071 with both on a printed Chinese invoice).
    return probe


def upright_image(image_png: bytes, page: Page) -> Image.Image:
    """The cleaned, upright page image that ``page``'s boxes refer to."""
    check_page_pixels(page.width, page.height, DEFAULT_MAX_PIXELS, number=page.number, why="drawn upright")
    image = cleanup.decode(image_png)
    turned = page.rotation in (90, 270)
    if page.corners is not None:
        size = (page.height, page.width) if turned else (page.width, page.height)
        image = cleanup.unwarp(image, page.corners, size=size)
    else:
        source_width = image.height if turned else image.width
        image = cleanup.rescale(image, page.width / source_width)
    if page.flattened:
        image = cleanup.flatten_light(image)
    image = cleanup.rotate_clockwise(image, page.rotation)
    image = cleanup.deskew(image, page.skew)
    if image.size != (page.width, page.height):  # rounding of the scale: pin to the page's exact size
        image = image.resize((page.width, page.height), Image.Resampling.BICUBIC)
    return image


def render_page(source: bytes, page: Page) -> bytes:
    """PNG of the upright cleaned page whose pixels ``page``'s word boxes land on.

    ``source`` is the page image (for OCR pages) or the whole PDF (for text-layer pages).
    """
    if page.source == "text-layer" or sniff(source) == PDF:
        from extractors import pdf

        return pdf.render_page(source, page.number, page.dpi)
    out = io.BytesIO()
    upright_image(source, page).save(out, format="PNG", compress_level=1, dpi=(page.dpi, page.dpi))
    return out.getvalue()


def _page_from(
    source: PageSource,
    languages: list[str] | None,
    hint: list[str] | None,
    max_pixels: int,
    second_reader: SecondReader | None = None,
) -> Page:
    if source.page is not None:
        return source.page
    assert source.image_png is not None
    return ocr_page(
        source.image_png,
        number=source.number,
        dpi=source.dpi,
        languages=languages,
        hint=hint,
        max_pixels=max_pixels,
        second_reader=second_reader,
    )


def read_document(
    data: bytes,
    *,
    languages: list[str] | None = None,
    limits: Limits | None = None,
    workers: int | None = None,
    second_reader: SecondReader | None = None,
) -> Document:
    """Every page of ``data`` as text with boxes: pages are split lazily and OCR'd ``workers`` at a time.

    At most ``2 * workers`` page images are held at once. In automatic mode the first page's languages are the
    starting guess for the others.
    """
    limits = limits or Limits()
    media_type = sniff(data)
    workers = max(1, workers or os.cpu_count() or 1)
    sources = iter_pages(data, limits)
    pages: list[Page] = []
    first = next(sources, None)
    if first is None:
        return Document(media_type=media_type, pages=[])
    pages.append(_page_from(first, languages, None, limits.max_pixels, second_reader))
    hint = pages[0].languages if pages[0].source == "ocr" and pages[0].languages else None
    pages.extend(_parallel(sources, languages, hint, workers, limits.max_pixels, second_reader))
    return Document(media_type=media_type, pages=pages)


def _parallel(
    sources: Iterable[PageSource],
    languages: list[str] | None,
    hint: list[str] | None,
    workers: int,
    max_pixels: int,
    second_reader: SecondReader | None,
) -> Iterator[Page]:
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docline-ocr") as pool:
        pending: deque[Future[Page]] = deque()
        for source in sources:
            pending.append(pool.submit(_page_from, source, languages, hint, max_pixels, second_reader))
            while len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
