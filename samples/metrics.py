"""Text accuracy measures shared by the OCR tests and benchmarks."""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz.distance import Levenshtein

_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def normalize(text: str) -> str:
    """NFC, one space between words, pages and lines flattened: layout is not what CER measures."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def cer(truth: str, text: str, *, ordered: bool = False) -> float:
    """Character error rate of ``text`` against ``truth`` (edit distance / characters of truth).

    By default the better of reading order and sorted words, so a form read column by column instead of row by row
    is not punished for the order; ``ordered=True`` gives the classic reading-order CER.
    """
    if _CJK.search(truth):
        # Chinese and Japanese have no spaces between words: compare the characters in reading order.
        reference, hypothesis = "".join(normalize(truth).split()), "".join(normalize(text).split())
        return Levenshtein.distance(reference, hypothesis) / max(len(reference), 1)
    truth_words, text_words = normalize(truth).split(), normalize(text).split()
    reference = " ".join(truth_words)
    if not reference:
        return 0.0 if not text_words else 1.0
    in_order = Levenshtein.distance(reference, " ".join(text_words)) / len(reference)
    if ordered:
        return in_order
    by_words = Levenshtein.distance(" ".join(sorted(truth_words)), " ".join(sorted(text_words))) / len(reference)
    return min(in_order, by_words)
