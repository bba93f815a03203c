"""Check boxes and option lists on a form page, read from the marks printed next to their words.

A choice (an ``enum``) is the option whose words have a checked mark beside them (``☒ Spouse``, ``[x] Savings``,
``Employment ✔``); a yes/no question is its ``Yes`` or ``No`` so marked; a single check box is its label with a
checked mark beside it (``✔`` after a leader ``. . . . ▶``, as tax forms print them) or an empty box (``☐``). Pure
functions of a page's words: the offline extractor calls them for ``choice`` and ``boolean`` fields.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from extractors.model import BBox, Word
from extractors.normalize import fold

# What prints a ticked box, a chosen radio button, or a cross in a box; and what prints an empty one.
CHECKED = frozenset("☒☑✓✔✗✘⊠■●◉⦿⬛▣✅🗹🗷")
EMPTY = frozenset("☐□○◯◻⬜❍")
_BRACKETED = re.compile(r"^[\[(]\s*([xX✓✔✗✘*]?)\s*[\])]$")
_GLUED = re.compile(r"^([☒☑✓✔✗✘⊠■●◉⦿☐□○◯◻]|[\[(][xX ]?[\])])(\w.*)$")
_LEADER = re.compile(r"^[.·…_\-▶►>:]+$")  # dots, arrows and colons between a label and its box
# "Yes" and "No" in the languages docline reads.
YES = frozenset({"yes", "y", "ja", "j", "oui", "si", "sim", "sì", "jawohl", "はい"})
NO = frozenset({"no", "n", "nein", "non", "nao", "não", "nee", "いいえ"})
_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")


@dataclass(frozen=True)
class Mark:
    """A box printed on the page: ``checked`` when it is ticked, crossed or filled."""

    bbox: BBox
    checked: bool
    word: Word


def mark_of(word: Word) -> Mark | None:
    """The box ``word`` prints (``☒``, ``☐``, ``[x]``, ``( )``, a lone ``X``), or ``None`` for any other word."""
    text = word.text.strip()
    if not text:
        return None
    if len(text) == 1 and text in CHECKED:
        return Mark(word.bbox, True, word)
    if len(text) == 1 and text in EMPTY:
        return Mark(word.bbox, False, word)
    bracketed = _BRACKETED.match(text)
    if bracketed:
        return Mark(word.bbox, bool(bracketed.group(1)), word)
    if text in ("X", "x"):
        # A lone cross only counts where a box would be: callers check that it sits right beside option words.
        return Mark(word.bbox, True, word)
    return None


def split_glued(words: Sequence[Word]) -> list[Word]:
    """``words`` with a mark glued to the word after it (``☒Yes``, ``[x]Savings``) split into two words, so the
    mark and the option are read apart; the split is proportional to the characters, which is what a box needs."""
    out: list[Word] = []
    for word in words:
        glued = _GLUED.match(word.text)
        if glued is None:
            out.append(word)
            continue
        mark, rest = glued.group(1), glued.group(2)
        x0, y0, x1, y1 = word.bbox
        cut = x0 + (x1 - x0) * len(mark) / len(word.text)
        out.append(Word(text=mark, conf=word.conf, bbox=(x0, y0, cut, y1)))
        out.append(Word(text=rest, conf=word.conf, bbox=(cut, y0, x1, y1)))
    return out


def _height(words: Sequence[Word]) -> float:
    return max(1.0, max(w.bbox[3] - w.bbox[1] for w in words))


def _same_row(a: BBox, b: BBox) -> bool:
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    return overlap >= 0.4 * min(a[3] - a[1], b[3] - b[1])


def mark_beside(words: Sequence[Word], row: Sequence[Word], *, leaders: bool = False) -> Mark | None:
    """The box right before ``words`` (``☒ Spouse``) or right after them (``Spouse ☒``) on their ``row``; with
    ``leaders``, also at the end of a run of leader dots and arrows after them (``check here . . . ▶ ✔``)."""
    if not words:
        return None
    height = _height(words)
    x0, x1 = words[0].bbox[0], words[-1].bbox[2]
    ids = {id(word) for word in words}
    others = [w for w in row if id(w) not in ids and _same_row(w.bbox, words[0].bbox)]
    before = sorted((w for w in others if w.bbox[2] <= x0 + 1), key=lambda w: -w.bbox[2])
    after = sorted((w for w in others if w.bbox[0] >= x1 - 1), key=lambda w: w.bbox[0])
    if before and x0 - before[0].bbox[2] <= 2.0 * height:
        found = mark_of(before[0])
        if found is not None:
            return found
    edge = x1
    for word in after:
        if word.bbox[0] - edge > (40.0 if leaders else 2.0) * height:
            break
        found = mark_of(word)
        if found is not None:
            # A lone "X" right after the words is a letter of the text unless it stands apart like a box.
            if word.text in ("X", "x") and word.bbox[0] - edge < 0.5 * height:
                return None
            return found
        if not (leaders and _LEADER.match(word.text)):
            break
        edge = word.bbox[2]
    return None


def answer_near(row_words: Sequence[Word]) -> bool | None:
    """A yes/no answer marked among ``row_words`` (``☒ Yes ☐ No``, ``Yes ✔  No``): ``True``, ``False``, or
    ``None`` when neither or both are marked."""
    words = split_glued(row_words)
    chosen: set[bool] = set()
    for word in words:
        token = _PUNCT.sub("", fold(word.text))
        if token not in YES and token not in NO:
            continue
        mark = mark_beside([word], words)
        if mark is not None and mark.checked:
            chosen.add(token in YES)
    return chosen.pop() if len(chosen) == 1 else None
