"""Bundles: where one scanned file holds several documents, and where each of them starts.

A stack of paper scanned into one file (ten prescriptions, a month of invoices) is split at the pages where a new
document begins. Each page gives signals (``PageSignals``): its own type (the offline classifier on the page's text),
a page counter ("Seite 1 von 3", "Page 2 of 2", "1/2"), the document's own identity as the offline extractor reads
it from that page alone (its number, the parties' names, VAT IDs and IBANs, its dates), whether its type's title
stands at the top, the letterhead lines, continuation cues (a running sum carried over at its head, "Fortsetzung",
"continued" or "./." at its foot), and whether it is a separator sheet (blank, or nothing but a barcode). A page
without a head of its own (no title, no sender's block) after a titled one reads its dates and numbers from its
content: they weigh little there.

Each gap between two pages is scored as the probability that a new document starts after it (``Gap.score``): the
signals add up as log-odds, the page compared with the pages of the document it would continue. A gap scored in the
middle band (``UNSURE_LOW`` .. ``UNSURE_HIGH``) is for a person to decide. Nothing here knows a sender or a sample.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from agents.classify import classify
from agents.layout_memory import _CONFUSABLE
from agents.models import Classification
from agents.offline import offline_extract
from agents.tables import _CARRIED
from extractors.model import Document, Page
from extractors.normalize import compact, fold
from extractors.types import DocumentType

# A gap scored inside this band is not decided by the machine: the split waits for a reviewer.
UNSURE_LOW = 0.15
UNSURE_HIGH = 0.85
# Fewer letters and digits than this on a page: nothing printed there (a blank sheet, its scan noise read as text).
BLANK_CHARACTERS = 12
# A page with a barcode and at most this many words is a separator sheet (a barcode's bars read as a few "words").
SEPARATOR_WORDS = 12
# A page's own type counts when the classifier is at least this sure of it.
TYPE_CONFIDENCE = 0.5

# Log-odds each signal adds to "a new document starts here".
PRIOR = -0.25  # no signal at all: a little more likely the page goes on (and a person is asked)
WEIGHTS: Mapping[str, float] = {
    "separator": 5.0,  # a blank page before the page (strong, not final: a duplex scan's empty back side)
    "separator_sheet": 20.0,  # a barcode separator sheet before the page: put there to separate, nothing overrides it
    "counter_restarts": 4.0,  # the page says it is page 1 (of n)
    "counter_continues": -4.5,  # the page says it is page k > 1
    "previous_was_last": 2.0,  # the page before said it was page n of n
    "previous_not_last": -3.0,  # the page before said it was page k of n, k < n
    "carried_in": -3.0,  # the page's top carries a running sum over ("Übertrag 1.234,50")
    "previous_goes_on": -3.0,  # the page before ended saying it goes on ("Fortsetzung auf Seite 2", "./.")
    "type_changes": 4.0,  # the classifier is sure of both pages' types, and they differ
    "type_differs": 2.0,  # sure of one of them, and the other leans to another type
    "type_appears": 1.0,  # sure of the page's type, where the document so far had none at all
    "title_at_top": 1.5,  # the type's title stands in the page's upper part
    "no_title": -0.5,
    "new_letterhead": 1.5,  # a sender's block at the top shares nothing with the document's letterhead so far
    # A page that repeats the document's sender block (with its title, too) mostly continues it; the same sender's
    # next document is told apart by its number or date.
    "same_letterhead": -1.5,
    "letterhead_appears": 0.5,  # a sender's block at the top, where the document so far had none
}
# Per kind of field read from both sides of a gap: (weight when the values differ, weight when one agrees).
IDENTITY: Mapping[str, tuple[float, float]] = {
    "identifier": (3.0, -2.5),  # the document's own number
    "vat_id": (1.5, -0.75),
    "iban": (1.5, -0.75),
    "name": (1.5, -0.75),
    "date": (1.0, -0.5),
}
# What a differing number, name, VAT ID or IBAN weighs, as a share, on a headless page of a titled document: alone
# it leaves the gap to a reviewer rather than splitting.
HEADLESS_DIFFERS = 0.2
# A document's number read shorter than this is a position's or a page's number taken for it, not the number.
MIN_IDENTIFIER = 3
# A number this long or longer still tells itself from another after one misread character.
MIN_SLIPPED = 6
# What identity fields can say at most either way: one misread value must not decide alone.
IDENTITY_CAP = 4.0
NAME_SIMILARITY = 85.0  # rapidfuzz ratio at which two OCR'd names are the same name
TOP_SHARE = 0.4  # the title of a first page stands in this upper share of it
LETTERHEAD_SHARE = 0.3  # the letterhead lines: this upper share of the page
# What marks the top lines as a sender's block (a letterhead) rather than the content of a page that continues:
# a postal code before a place ("33100 Paderborn", "1100-449 Lisboa", "2003 AB Haarlem"), a phone or fax number,
# a web or mail address, a VAT ID.
_SENDER = re.compile(
    r"(?<![\d./,-])\d{4,5}(?:-\d{3})?(?:\s?[a-z]{2})?\s+[a-z][a-z-]{2,}"
    r"|(?:tel|fon|phone|fax|telefon|telefono|telephone)\b\.?\s*:?\s*[+(\d]"
    r"|www\.|https?://|@\w+\.|\b[\w-]+\.(?:com|net|org|eu|de|fr|it|es|nl|pt|at|ch|be|uk|jp)\b"
    r"|\b[a-z]{2}\s?\d{8,12}\b"
)

# A printed amount with its cents ("12,50", "1.234,00"; not the date "03.05.2024"): a line holding one is a row of
# content (an item, a total, a sum carried over), not a line of a sender's block, even when it starts with an article
# number.
_AMOUNT = re.compile(r"(?<![\d.,])\d{1,3}(?:[.,' ]\d{3})*[.,]\d{2}(?![\d.,])")

# A line at a page's foot saying the document goes on over the page; short, so no sentence of the text.
_GOES_ON = re.compile(
    r"\b(?:fortsetzung|continued|continues|continuation|a suivre|suite au verso|voir suite|segue|continua|sigue|"
    r"vervolg|bitte wenden|b\.\s?w\.|p\.\s?t\.\s?o\b)|(?:^|\s)\./\.(?:\s|$)"
)
GOES_ON_WORDS = 6
EDGE_SHARE = 0.3  # the head and the foot of a page: this upper and lower share of it

_COUNTER_WORDS = r"(?:seite|page|pagina|pag|blatt|blad|folha|hoja|feuille|sheet)"
_OF_WORDS = r"(?:/|von|of|de|di|sur|van|from|\|)"
_COUNTERS = (
    re.compile(rf"(?<![a-z]){_COUNTER_WORDS}\.?\s*:?\s*(\d{{1,3}})\s*{_OF_WORDS}\s*(\d{{1,3}})(?!\d)"),
    re.compile(r"^\W*(\d{1,3})\s*(?:/|of|von|de|di|sur|van)\s*(\d{1,3})\W*$"),  # a line of its own: "1/2", "2 of 3"
    re.compile(r"(\d{1,3})\s*/\s*(\d{1,3})\s*(?:ページ|頁)"),
)
_COUNTER_ALONE = (
    # "Seite 3" alone; not the start of an impossible "Seite 4 von 2"
    re.compile(rf"(?<![a-z]){_COUNTER_WORDS}\.?\s*:?\s*(\d{{1,3}})(?![\d.,])(?!\s*{_OF_WORDS}\s*\d)"),
    re.compile(r"(?<!\d)(\d{1,3})\s*(?:ページ|頁)"),
    re.compile(r"^\W*[-–—]\s*(\d{1,3})\s*[-–—]\W*$"),  # "- 2 -" on a line of its own
)
_IDENTITY_KINDS = frozenset(IDENTITY)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# Below this the offline extractor guessed a name from where it stands, not from a label: too weak to tell documents
# apart (the top line of a page of line items is no company).
NAME_CONFIDENCE = 0.5


@dataclass(frozen=True)
class PageSignals:
    """What one page says about where it belongs."""

    number: int
    separator: bool = False  # a page in no document: blank, or a barcode sheet
    sheet: bool = False  # a barcode separator sheet, put in the stack to separate
    counter: tuple[int, int | None] | None = None  # (k, n) of "page k of n"; n None when not printed
    doc_type: str | None = None  # the page's own type, when the classifier is sure of it
    leaning: str | None = None  # the type its text leans to, sure or not
    identity: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # path → (kind, normalised value)
    title_at_top: bool = False
    letterhead: frozenset[str] = frozenset()
    carried_in: bool = False  # its head carries a running sum over from the page before
    goes_on: bool = False  # its foot says the document goes on (a sum carried forward, "Fortsetzung", "./.")


@dataclass(frozen=True)
class Gap:
    """The gap before ``page``: how likely a new document starts at ``page``, and the signals that said so."""

    page: int
    score: float
    signals: tuple[str, ...] = ()

    @property
    def boundary(self) -> bool:
        return self.score > 0.5

    @property
    def unsure(self) -> bool:
        return UNSURE_LOW < self.score < UNSURE_HIGH


@dataclass(frozen=True)
class Split:
    """A file's pages in documents: the machine's proposal, and whether a person must confirm it."""

    pages: int
    gaps: tuple[Gap, ...]
    separators: tuple[int, ...] = ()

    @property
    def starts(self) -> list[int]:
        """The first page of each proposed document."""
        return first_pages(self.pages, [g.page for g in self.gaps if g.boundary], self.separators)

    @property
    def unsure(self) -> bool:
        return any(g.unsure for g in self.gaps)

    def parts(self, starts: Sequence[int] | None = None) -> list[list[int]]:
        """The page numbers of each document, split at ``starts`` (default: the proposal); separators left out."""
        return parts_of(self.pages, self.starts if starts is None else starts, self.separators)


def first_pages(pages: int, boundaries: Sequence[int], separators: Sequence[int] = ()) -> list[int]:
    """The first page of each part when new documents begin at ``boundaries`` (and after each separator sheet)."""
    return [part[0] for part in parts_of(pages, boundaries, separators)]


def parts_of(pages: int, starts: Sequence[int], separators: Sequence[int] = ()) -> list[list[int]]:
    """Pages ``1..pages`` cut before each page of ``starts``; separator pages belong to no part and cut nothing by
    themselves (a blank page inside a document: a duplex scan's empty back side; the gap after a separator is
    scored, and a barcode sheet's gap always starts a document). A start on a separator starts the part after it. A
    file of nothing but separators is one part of all its pages (there is nothing else to extract from)."""
    skip = set(separators)
    cut = set()
    for start in starts:
        while start in skip:
            start += 1  # a start on a separator: the document starts at the page after it
        cut.add(start)
    parts: list[list[int]] = []
    current: list[int] = []
    for number in range(1, pages + 1):
        if number in skip:
            continue
        if number in cut and current:
            parts.append(current)
            current = []
        current.append(number)
    if current:
        parts.append(current)
    return parts or [list(range(1, pages + 1))]


# --- page signals ----------------------------------------------------------------------------------------------


def is_blank(page: Page) -> bool:
    return sum(ch.isalnum() for ch in page.text) < BLANK_CHARACTERS


def may_be_separator(page: Page) -> bool:
    """Whether the page is worth looking at for a separator barcode: next to no text on it."""
    return len(page.words) <= SEPARATOR_WORDS


def page_counter(page: Page) -> tuple[int, int | None] | None:
    """The page's own "page k of n" (n None when only "Seite k" is printed), from its top and bottom lines."""
    lines = [fold(line.text) for line in page.lines]
    edge = max(1, page.height)
    near_edges = [
        fold(line.text)
        for line in page.lines
        if line.words and (line.bbox[1] < 0.2 * edge or line.bbox[3] > 0.8 * edge)
    ]
    for candidates in (near_edges, lines):
        for text in candidates:
            for pattern in _COUNTERS:
                match = pattern.search(text)
                if match:
                    k, n = int(match.group(1)), int(match.group(2))
                    if 1 <= k <= n <= 999:
                        return k, n
    for text in near_edges:
        # "Fortsetzung auf Seite 2" names the next page, not this one.
        goes_on = _GOES_ON.search(text)
        text = text[: goes_on.start()] if goes_on else text
        for pattern in _COUNTER_ALONE:
            match = pattern.search(text)
            if match and 1 <= int(match.group(1)) <= 999:
                return int(match.group(1)), None
    return None


def _continuation(page: Page) -> tuple[bool, bool]:
    """Whether the page's head carries a sum over from the page before, and whether its foot says it goes on."""
    head, foot = EDGE_SHARE * page.height, (1 - EDGE_SHARE) * page.height
    carried_in = goes_on = False
    for line in page.lines:
        if not line.words:
            continue
        text = fold(line.text)
        carried = bool(_CARRIED.search(text) and _AMOUNT.search(text))
        if line.bbox[1] < head:
            carried_in = carried_in or carried
        if line.bbox[3] > foot:
            goes_on = goes_on or carried or (len(line.words) <= GOES_ON_WORDS and bool(_GOES_ON.search(text)))
    return carried_in, goes_on


def _titles(doc_type: DocumentType) -> set[str]:
    """The words a document of this type is titled with: the first keyword of each of its languages."""
    return {fold(words[0]) for words in doc_type.keywords.values() if words}


def _title_at_top(page: Page, titles: set[str]) -> bool:
    """Whether a line in the page's upper part begins with the type's title as a word of its own ("Rechnung",
    "Rechnung Nr. 12"; not "Rechnungsnummer"), or is a short line holding it ("Spectacle Prescription")."""
    limit = TOP_SHARE * page.height
    for line in page.lines:
        if not line.words or line.bbox[1] > limit:
            continue
        words = [re.sub(r"[^\w]", "", fold(w.text)) for w in line.words]
        unspaced = "".join(words)
        for title in titles:
            if _CJK.search(title):
                if unspaced.startswith(title):
                    return True
            elif words[0] == title or (len(words) <= 4 and title in words):
                return True
    return False


def _form_words(types: Sequence[DocumentType]) -> frozenset[str]:
    """The words documents of these types print as labels and titles: the same on every sender's letterhead."""
    phrases = [
        *(
            label
            for doc_type in types
            for per_lang in doc_type.labels.values()
            for ls in per_lang.values()
            for label in ls
        ),
        *(word for doc_type in types for words in doc_type.keywords.values() for word in words),
    ]
    return frozenset(re.sub(r"\W", "", word) for phrase in phrases for word in fold(phrase).split())


def _letterhead(page: Page, form_words: frozenset[str]) -> frozenset[str]:
    """The words of the page's top lines, less the types' label words, when they hold a sender's block; empty when
    they do not (a page that continues a table, or a form without a letterhead)."""
    limit = LETTERHEAD_SHARE * page.height
    lines = sorted((line for line in page.lines if line.words), key=lambda line: line.bbox[1])
    top = [fold(line.text) for line in lines if line.bbox[1] < limit]
    # A sender's block stands above the content: lines after the first printed amount (an item, a total) are the
    # content's, and a bank or tax block that follows the totals near the top of a last page is no letterhead.
    first_amount = next((i for i, text in enumerate(top) if _AMOUNT.search(text)), len(top))
    if not any(_SENDER.search(text) for text in top[:first_amount]):
        return frozenset()
    words = (re.sub(r"\W", "", word) for text in top for word in text.split())
    return frozenset(word for word in words if len(word) >= 3 and word not in form_words)


def _identity(page: Page, doc_type: DocumentType, media_type: str) -> dict[str, tuple[str, str]]:
    """The fields that tell one document from another, read from this page alone by the offline extractor."""
    kinds = {spec.path: spec.kind for spec in doc_type.fields() if "[]" not in spec.path}
    extraction = offline_extract(Document(media_type=media_type, pages=[page]), doc_type)
    found: dict[str, tuple[str, str]] = {}
    for path, value in extraction.fields.items():
        kind = kinds.get(path)
        if kind not in _IDENTITY_KINDS or value.value in (None, ""):
            continue
        if kind == "name" and value.confidence < NAME_CONFIDENCE:
            continue
        text = str(value.value)
        normal = fold(text).strip() if kind == "name" else compact(text)
        if kind == "identifier" and len(normal) < MIN_IDENTIFIER:
            continue
        found[path] = (kind, normal)
    return found


def _leaning(kind: Classification) -> str | None:
    """The type the page's text leans to; none on a tie, where the classifier picks by name and not by the text
    (a page of rows that prints one "Datum" leans to no type)."""
    best = kind.scores.get(kind.type or "")
    if best is None or sum(score == best for score in kind.scores.values()) > 1:
        return None
    return kind.type


def page_signals(
    page: Page, types: Sequence[DocumentType], *, media_type: str = "application/pdf", barcode_only: bool = False
) -> PageSignals:
    """The signals of one page. ``barcode_only``: the page holds a barcode and next to no text (a separator sheet)."""
    # A page that prints next to nothing but its page number ("Seite 3 von 3") is a document's last page, no sheet.
    if barcode_only or (is_blank(page) and page_counter(page) is None):
        return PageSignals(number=page.number, separator=True, sheet=barcode_only)
    single = Document(media_type=media_type, pages=[page])
    kind = classify(single, types)
    sure = kind.type if kind.type and kind.confidence >= TYPE_CONFIDENCE else None
    by_name = {t.name: t for t in types}
    # The identity is read as the page's own type, else as the type its text leans to (a page of line items).
    reading = by_name.get(kind.type or "")
    carried_in, goes_on = _continuation(page)
    return PageSignals(
        number=page.number,
        counter=page_counter(page),
        doc_type=sure,
        leaning=_leaning(kind),
        identity=_identity(page, reading, media_type) if reading else {},
        title_at_top=bool(reading and _title_at_top(page, _titles(reading))),
        letterhead=_letterhead(page, _form_words(types)),
        carried_in=carried_in,
        goes_on=goes_on,
    )


# --- gaps ------------------------------------------------------------------------------------------------------


@dataclass
class _Part:
    """The pages so far of the document a page would continue: its type and every identity value seen on it."""

    doc_type: str | None = None
    leaning: str | None = None
    letterhead: frozenset[str] = frozenset()
    identity: dict[str, set[str]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    titled: bool = False  # its first page (or a later one) printed its type's title at the top

    def add(self, page: PageSignals) -> None:
        self.letterhead = self.letterhead or page.letterhead
        self.titled = self.titled or page.title_at_top
        self.doc_type = self.doc_type or page.doc_type
        self.leaning = self.doc_type or self.leaning or page.leaning
        for path, (kind, value) in page.identity.items():
            self.identity.setdefault(path, set()).add(value)
            self.kinds[path] = kind


def _same(kind: str, value: str, seen: set[str]) -> bool:
    if kind == "name":
        return any(fuzz.ratio(value, other) >= NAME_SIMILARITY for other in seen)
    # A scan reads "O" for "0" or "I" for "1" on one page and not on the other: still the same number.
    return value.translate(_CONFUSABLE) in {other.translate(_CONFUSABLE) for other in seen}


def _slipped(value: str, other: str) -> bool:
    """Whether two document numbers differ by one OCR slip: a character dropped or added, or one that is no digit
    on either side read for another."""
    value, other = value.translate(_CONFUSABLE), other.translate(_CONFUSABLE)
    if min(len(value), len(other)) < MIN_SLIPPED:
        return False
    edits = Levenshtein.editops(value, other)
    if len(edits) != 1:
        return False
    [edit] = edits
    return edit.tag != "replace" or not (value[edit.src_pos].isdigit() and other[edit.dest_pos].isdigit())


def _identity_evidence(page: PageSignals, part: _Part) -> tuple[float, list[str]]:
    plus, minus = 0.0, 0.0
    said: list[str] = []
    # A titled document prints who and what it is in its head. A later page with no head of its own (no title, no
    # sender's block) reads its values from the content: another date there is a delivery, payment or item date, and
    # another number or name is weaker evidence. (Untitled slips, till receipts, are told apart by these values.)
    headless = part.titled and not (page.title_at_top or page.letterhead)
    for path, (kind, value) in page.identity.items():
        seen = part.identity.get(path)
        if not seen:
            continue
        differs, agrees = IDENTITY[kind]
        if _same(kind, value, seen):
            minus += agrees
            said.append(f"same:{path}")
        elif _same(kind, value, {v for p, vs in part.identity.items() if part.kinds[p] == kind for v in vs}):
            # The value is one the document printed under another label (its due date read as the page's date,
            # its seller read as the page's buyer): nothing said either way.
            said.append(f"elsewhere:{path}")
        elif kind == "date" and headless:
            said.append(f"headless:{path}")
        elif kind == "identifier" and any(_slipped(value, other) for other in seen):
            # One character dropped, added or misread as a non-digit: the same number read badly, or (rarely) the
            # next; nothing said either way. A digit for a digit is the next number ("0815" after "0814").
            said.append(f"slipped:{path}")
        else:
            plus += differs * (HEADLESS_DIFFERS if headless else 1.0)
            said.append(f"differs:{path}")
    return min(plus, IDENTITY_CAP) + max(minus, -IDENTITY_CAP), said


def gap_evidence(
    before: PageSignals, page: PageSignals, part: _Part, *, separated: bool = False, sheet: bool = False
) -> tuple[float, list[str]]:
    """Log-odds that a new document starts at ``page``, and the signals that said so. ``separated``: a blank page
    lies between them; ``sheet``: a barcode separator sheet does."""
    said: list[str] = []
    if sheet:
        said.append("separator_sheet")
    elif separated:
        said.append("separator")
    if page.counter is not None:
        said.append("counter_restarts" if page.counter[0] == 1 else "counter_continues")
    if before.counter is not None and before.counter[1] is not None:
        said.append("previous_was_last" if before.counter[0] == before.counter[1] else "previous_not_last")
    if page.carried_in:
        said.append("carried_in")
    if before.goes_on:
        said.append("previous_goes_on")
    if page.doc_type and part.doc_type and page.doc_type != part.doc_type:
        said.append("type_changes")
    elif (page.doc_type or part.doc_type) and page.leaning and part.leaning and page.leaning != part.leaning:
        said.append("type_differs")
    elif page.doc_type and not part.leaning:
        said.append("type_appears")
    said.append("title_at_top" if page.title_at_top else "no_title")
    if part.letterhead and page.letterhead:
        # Shared words over the smaller block: a page that repeats only the sender line still shares it.
        shared = len(part.letterhead & page.letterhead) / min(len(part.letterhead), len(page.letterhead))
        if shared >= 0.5:
            said.append("same_letterhead")
        elif shared < 0.1:
            said.append("new_letterhead")
    elif page.letterhead:
        said.append("letterhead_appears")
    score = PRIOR + sum(WEIGHTS[s] for s in said)
    identity, named = _identity_evidence(page, part)
    return score + identity, said + named


def score_gaps(signals: Sequence[PageSignals]) -> Split:
    """Each gap between content pages scored, left to right: a page is compared with the pages of the document it
    would continue, which begins at the last gap scored as a boundary."""
    pages = len(signals)
    separators = tuple(s.number for s in signals if s.separator)
    content = [s for s in signals if not s.separator]
    gaps: list[Gap] = []
    part = _Part()
    previous: PageSignals | None = None
    for page in content:
        if previous is None:
            part.add(page)
            previous = page
            continue
        between = [s for s in signals if s.separator and previous.number < s.number < page.number]
        logit, said = gap_evidence(previous, page, part, separated=bool(between), sheet=any(s.sheet for s in between))
        gap = Gap(page=page.number, score=round(1.0 / (1.0 + math.exp(-logit)), 4), signals=tuple(said))
        gaps.append(gap)
        if gap.boundary:
            part = _Part()
        part.add(page)
        previous = page
    return Split(pages=pages, gaps=tuple(gaps), separators=separators)


def split_document(document: Document, types: Sequence[DocumentType], barcode_pages: Sequence[int] = ()) -> Split:
    """Where the documents in ``document`` begin. ``barcode_pages``: pages that hold a barcode and little else."""
    barcodes = set(barcode_pages)
    signals = [
        page_signals(page, types, media_type=document.media_type, barcode_only=page.number in barcodes)
        for page in document.pages
    ]
    return score_gaps(signals)
