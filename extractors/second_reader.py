"""A second reader for the words Tesseract reads poorly (handwriting, camera photos): PP-OCR's recognition model.

Tesseract reads the page first and stays the engine of every page. With a second reader configured
(``DOCLINE_OCR_SECOND_READER=rapidocr``; installed with ``pip install 'docline[rapidocr]'``), the runs of words on a
line that Tesseract read with less than print's confidence are cut out of the upright page and read again by
PP-OCRv6's multilingual recognition model (RapidOCR on ONNX Runtime, the model file inside RapidOCR's own wheel, never
downloaded); the second reading replaces the words when it is surer of itself than Tesseract was of them. Lines
Tesseract read like print cost nothing, so a printed page pays only the check.

Measured (``bench/ocr.py --second-reader rapidocr``, languages given): on the six handwritten sample prescriptions
CER 0.240 -> 0.095, fields 23 -> 58 of 84, 0.35 CPU-s more per page (15-20 runs re-read); on the ten printed sample
pages CER 0.019 -> 0.010, fields 98 -> 100 of 100, 0.13 CPU-s more (most on Japanese, which Tesseract reads less
surely). Words below 0.8 or 0.9 instead of 0.85 read 57 and 58 fields. Full-page PP-OCR (its own text detection
too) read the handwriting a little better (63 of 84 fields) but cost ~1 CPU-s more on every page, print included.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import util
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from extractors.model import Line, Word

log = logging.getLogger(__name__)

SECOND_READERS = ("rapidocr",)
UNSURE = 0.85  # words below this confidence are re-read (Tesseract reads print at ~0.9, handwriting at ~0.7)
SAME_RUN_GAP = 2.0  # words of one run are at most this many word heights apart
PAD_Y, PAD_X = 0.3, 0.4  # of the run's height, around its words: the model wants the whole letters and a margin


class SecondReaderUnavailable(RuntimeError):
    """The configured second reader cannot run here (not installed, or its model file is missing)."""

    code = "second_reader_unavailable"


class Recognizer(Protocol):
    def __call__(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, confidence 0..1) of each cut-out line image (RGB, rows x columns x 3)."""
        ...


@dataclass
class SecondReader:
    """Re-reads a page's unsure runs of words with ``recognize``."""

    name: str
    recognize: Recognizer

    def reread(self, lines: list[Line], upright: Image.Image) -> tuple[list[Line], int]:
        """``lines`` with each unsure run of words replaced by the second reading when it is surer; and how many
        runs were read again. Boxes are pixels of ``upright``, the picture Tesseract read."""
        runs = [(index, run) for index, line in enumerate(lines) for run in unsure_runs(line)]
        if not runs:
            return lines, 0
        rgb = np.asarray(upright.convert("RGB"))
        crops = [_crop(rgb, run, lines[index].words) for index, run in runs]
        readings = self.recognize(crops)
        replaced: dict[int, list[tuple[list[Word], list[Word]]]] = {}
        for (index, run), (text, confidence) in zip(runs, readings, strict=True):
            text = _without_neighbours(text, run, lines[index].words)
            if text.strip() and confidence > _score(run):
                replaced.setdefault(index, []).append((run, _words(text, confidence, run)))
        result = []
        for index, line in enumerate(lines):
            words = list(line.words)
            for run, new in replaced.get(index, []):
                start = words.index(run[0])
                words[start : start + len(run)] = new
            result.append(Line(words=words))
        return result, len(runs)


def unsure_runs(line: Line) -> list[list[Word]]:
    """Runs of neighbouring words on ``line`` that Tesseract read with less than ``UNSURE`` confidence."""
    runs: list[list[Word]] = []
    current: list[Word] = []
    for word in line.words:
        if word.conf >= UNSURE:
            if current:
                runs.append(current)
            current = []
            continue
        if current:
            last = current[-1]
            height = max(last.bbox[3] - last.bbox[1], word.bbox[3] - word.bbox[1])
            if word.bbox[0] - last.bbox[2] > SAME_RUN_GAP * height:
                runs.append(current)
                current = []
        current.append(word)
    if current:
        runs.append(current)
    return runs


def _box(run: list[Word]) -> tuple[float, float, float, float]:
    return (
        min(w.bbox[0] for w in run),
        min(w.bbox[1] for w in run),
        max(w.bbox[2] for w in run),
        max(w.bbox[3] for w in run),
    )


def _crop(rgb: np.ndarray, run: list[Word], line: list[Word]) -> np.ndarray:
    """The run's picture with a margin, which stops halfway to the line's next words; a box overlapping theirs is
    cut back to them. (Japanese is read character by character: a full margin, or a box Tesseract drew over the next
    characters, would take in the neighbours, and the reading would repeat them.)"""
    x0, y0, x1, y1 = _box(run)
    height = max(1.0, y1 - y0)
    start, end = line.index(run[0]), line.index(run[-1])
    previous = line[start - 1].bbox[2] if start > 0 else None
    following = line[end + 1].bbox[0] if end + 1 < len(line) else None
    if following is not None and x0 < following < x1:
        x1 = following
    if previous is not None and x0 < previous < x1:
        x0 = previous
    before = (x0 + previous) / 2 if previous is not None else 0.0
    after = (x1 + following) / 2 if following is not None else float(rgb.shape[1])
    top, bottom = max(0, int(y0 - PAD_Y * height)), min(rgb.shape[0], int(y1 + PAD_Y * height) + 1)
    left = max(0, int(max(x0 - PAD_X * height, min(before, x0))))
    right = min(rgb.shape[1], int(min(x1 + PAD_X * height, max(after, x1))) + 1)
    return rgb[top:bottom, left:right]


def _without_neighbours(text: str, run: list[Word], line: list[Word]) -> str:
    """The reading without the neighbouring words' text where it took them in at either end (a glyph reaching into
    the crop: "2024年" for the run "2024" followed by "年"), which the line keeps anyway."""
    start, end = line.index(run[0]), line.index(run[-1])
    text = text.strip()
    if end + 1 < len(line):
        following = line[end + 1].text
        if len(text) > len(following) and text.endswith(following):
            text = text[: -len(following)].rstrip()
    if start > 0:
        previous = line[start - 1].text
        if len(text) > len(previous) and text.startswith(previous):
            text = text[len(previous) :].lstrip()
    return text


def _score(run: list[Word]) -> float:
    """Tesseract's confidence in the run, weighted by characters as ocr._Reading.score weighs a page."""
    chars = sum(len(w.text) for w in run)
    return sum(w.conf * len(w.text) for w in run) / chars if chars else 0.0


def _words(text: str, confidence: float, run: list[Word]) -> list[Word]:
    """The second reading as words over the run's box, each as wide as its share of the characters."""
    x0, y0, x1, y1 = _box(run)
    parts = text.split()
    total = sum(len(part) for part in parts)
    words, x = [], x0
    for part in parts:
        width = (x1 - x0) * len(part) / total
        words.append(Word(text=part, conf=min(max(confidence, 0.0), 1.0), bbox=(x, y0, x + width, y1)))
        x += width
    return words


def load(name: str | None) -> SecondReader | None:
    """The second reader called ``name`` (one of ``SECOND_READERS``), ready to read; None for none.

    Raises SecondReaderUnavailable when it cannot run here, at start-up rather than on the first page.
    """
    if name is None:
        return None
    if name != "rapidocr":
        raise SecondReaderUnavailable(f"unknown second reader {name!r}; known: {', '.join(SECOND_READERS)}")
    return SecondReader(name=name, recognize=_rapidocr())


# PP-OCRv6's small multilingual recognition model, as RapidOCR's wheel carries it (Latin scripts, Chinese, Japanese).
RAPIDOCR_MODEL = "PP-OCRv6_rec_small.onnx"


def _rapidocr() -> Recognizer:
    spec = util.find_spec("rapidocr")
    if spec is None or util.find_spec("onnxruntime") is None or not spec.submodule_search_locations:
        raise SecondReaderUnavailable(
            "the rapidocr second reader is not installed: pip install 'docline[rapidocr]' (rapidocr, onnxruntime)"
        )
    model = Path(next(iter(spec.submodule_search_locations))) / "models" / RAPIDOCR_MODEL
    if not model.is_file():
        # RapidOCR would download a missing model at run time; docline never does.
        raise SecondReaderUnavailable(f"rapidocr's wheel has no {RAPIDOCR_MODEL} (a rapidocr without its models?)")
    from rapidocr import RapidOCR

    engine = RapidOCR(
        params={
            "Global.log_level": "warning",
            "Global.use_det": False,
            "Global.use_cls": False,
            "Rec.model_path": str(model),  # its configured default (PP-OCRv6, small), named: nothing to download
            # One thread per read, as Tesseract runs: parallelism comes from reading pages concurrently.
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )

    def recognize(crops: list[np.ndarray]) -> list[tuple[str, float]]:
        readings = []
        for crop in crops:
            if crop.size == 0:
                readings.append(("", 0.0))
                continue
            # No per-call arguments: they would be set on the shared engine (ONNX Runtime's run is thread-safe).
            out: Any = engine(crop)
            texts, scores = out.txts or ("",), out.scores or (0.0,)
            readings.append((str(texts[0]), float(scores[0])))
        return readings

    return recognize
