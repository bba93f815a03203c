"""The offline extractor: no model, no network. Finds each field's label on the page (any of the type's languages)
and reads the value right of it or below it by word boxes; tables (prescription powers) are read by row and
column labels. Deterministic: the same document and type always give the same extraction.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from cachetools import LRUCache
from rapidfuzz import fuzz, process
from stdnum import iban as stdnum_iban
from stdnum import vatin as stdnum_vatin
from stdnum.exceptions import InvalidChecksum, ValidationError

from agents import offline_forms, tables
from agents.models import Extraction, FieldValue
from agents.provenance import Match, field_from_match
from agents.sections import Section, keyed_name, party_sections, section_of, unkeyed_start
from agents.shapes import (
    CUT_AT_MARK,
    TOTALS,
    AmountCandidate,
    amount_candidates,
    amount_paths,
    best_totals,
    cue_index,
    mended,
)
from extractors.model import BBox, Document, Page, Word
from extractors.normalize import (
    compact,
    fold,
    is_valid_vat_id,
    parse_amount,
    parse_currency,
    parse_date,
    parse_diopter,
    parse_int,
    parse_lens_type,
    parse_prism_base,
)
from extractors.rules import set_path
from extractors.types import DocumentType, FieldKind, FieldSpec, Labels, TableHint

# Labels, keywords and page words are folded again and again (per document, per step): remember them.
_fold = lru_cache(maxsize=1 << 13)(fold)
_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_LEGAL_FORMS = re.compile(
    r"\b(gmbh|ag|kg|ohg|ug|e\.?k|ltd|limited|llc|inc|plc|corp|s\.?a\.?s?|sarl|s\.?r\.?l|s\.?l|s\.?p\.?a|lda|b\.?v|n\.?v|"
    r"bvba|co|a\.g|e\.v)\b\.?"
)
MAX_VALUE_WORDS = 8
# What python-stdnum's IBAN check can accept (a country code, two check characters, 11-30 more; 15-34 in all):
# most word runs fail this shape, and it costs a fraction of the full check, which ran for every run on a page.
_IBAN_SHAPE = re.compile(r"[A-Z]{2}\w{2}[0-9A-Z]{11,30}")
_IBAN_MAX_CHARS = 34
_ID_START = re.compile(r"[A-Z]")
# Below this fuzzy ratio a word is not the label word (OCR may drop an accent or confuse l/1).
LABEL_WORD_MATCH = 88


@dataclass(frozen=True)
class LabelHit:
    """Where one field's label sits on a page."""

    path: str
    page: Page
    words: tuple[Word, ...]
    label_tokens: int
    quality: float

    @property
    def bbox(self) -> BBox:
        return (
            min(w.bbox[0] for w in self.words),
            min(w.bbox[1] for w in self.words),
            max(w.bbox[2] for w in self.words),
            max(w.bbox[3] for w in self.words),
        )


@dataclass(frozen=True)
class Candidate:
    path: str
    value: Any
    words: tuple[Word, ...]
    page: int
    score: float


@lru_cache(maxsize=65536)
def _token(text: str) -> str:
    return _PUNCT.sub("", _fold(text))


@lru_cache(maxsize=8192)
def _label_tokens(label: str) -> tuple[str, ...]:
    tokens = [_token(part) for part in re.split(r"[\s]+", label)]
    return tuple(token for token in tokens if token)


def _word_matches(token: str, word: str) -> float:
    if token == word:
        return 1.0
    if len(token) >= 5 and len(word) >= 4:
        ratio = fuzz.ratio(token, word)
        if ratio >= LABEL_WORD_MATCH:
            return ratio / 100.0
    return 0.0


def visual_rows(page: Page) -> list[list[Word]]:
    """Words grouped into visual rows by vertical overlap, each row left to right, rows top to bottom."""
    rows: list[list[Word]] = []
    # Text printed sideways (a margin note running up the page) is as tall as several rows: it would glue them
    # into one. Each such word is a row of its own, which no other word joins.
    sideways = [w for w in page.words if _sideways(w)]
    upright = [w for w in page.words if not _sideways(w)]
    # Each row's top and bottom: its first word's, grown only by words no taller than it. A tall box (a misread
    # mark, a stamp) would otherwise stretch the row over the next line, and chain a header row to its values.
    spans: list[list[float]] = []
    for word in sorted(upright, key=lambda w: ((w.bbox[1] + w.bbox[3]) / 2, w.bbox[0])):
        middle = (word.bbox[1] + word.bbox[3]) / 2
        for row, span in zip(rows, spans, strict=True):
            if span[0] <= middle <= span[1]:
                row.append(word)
                if word.bbox[3] - word.bbox[1] <= span[2]:
                    span[0], span[1] = min(span[0], word.bbox[1]), max(span[1], word.bbox[3])
                break
        else:
            rows.append([word])
            spans.append([word.bbox[1], word.bbox[3], word.bbox[3] - word.bbox[1]])
    rows.extend([word] for word in sideways)
    for row in rows:
        row.sort(key=lambda w: w.bbox[0])
    rows.sort(key=lambda row: min(w.bbox[1] for w in row))
    return rows


_rows = visual_rows  # the name the stages split out of this module import


def _sideways(word: Word) -> bool:
    """A word of three or more characters whose box is over twice as tall as wide runs up or down the page."""
    x0, y0, x1, y1 = word.bbox
    return len(word.text) >= 3 and (y1 - y0) > 2 * (x1 - x0)


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _joined(words: Sequence[Word]) -> str:
    """Words as one text: spaces between them, except inside CJK script (OCR splits it between characters)."""
    text = ""
    for word in words:
        if text and not (_CJK.search(text[-1]) and _CJK.search(word.text[:1])):
            text += " "
        text += word.text
    return text


def _cjk_hits(page: Page, row: list[Word], folded: list[str], path: str, label: str) -> list[LabelHit]:
    """A label in a script without spaces: OCR splits it into arbitrary words, so match the joined text."""
    target = _token(label.replace(" ", ""))
    hits = []
    for start in range(len(row)):
        joined = ""
        for end in range(start, min(len(row), start + 8)):
            joined += folded[end]
            if len(joined) >= len(target):
                break
        if joined == target:
            words = tuple(row[start : end + 1])
            # A CJK character says as much as a few Latin letters: weigh the label's specificity so.
            hits.append(LabelHit(path=path, page=page, words=words, label_tokens=3 * len(target), quality=1.0))
    return hits


def _names_a_company(row: list[Word], after: int) -> bool:
    """Whether the word at ``after`` in ``row`` is a legal form (GmbH, SARL, Ltd …) right after the word before it."""
    if after >= len(row) or after == 0:
        return False
    word, before = row[after], row[after - 1]
    close = word.bbox[0] - before.bbox[2] <= 1.5 * _height([before])
    return close and _LEGAL_FORMS.fullmatch(_fold(word.text).strip(",")) is not None


def _inside_prose(row: list[Word], start: int, label: str) -> bool:
    """A capitalised label printed lower-case right after a word of a sentence is a word of that sentence
    ("Zahlbar innerhalb 30 Tagen netto bis …" holds no net amount)."""
    word = row[start]
    if start == 0 or not label[:1].isupper() or not word.text[:1].islower():
        return False
    before = row[start - 1]
    gap = word.bbox[0] - before.bbox[2]
    return before.text.isalpha() and gap < 1.5 * _height([word])


@dataclass
class _LabelIndex:
    """A label set arranged for scanning rows: each path's distinct labels (sorted) with their tokens, and which
    labels can start at a given word. Built once per label set, so a row costs a lookup per word instead of a
    comparison per label and word."""

    paths: list[tuple[str, list[tuple[str, bool, tuple[str, ...]]]]]  # (path, [(label, cjk, tokens)])
    cjk: list[tuple[int, int, str]]  # (path index, label index, the label's text without spaces) of CJK labels
    exact: dict[str, list[tuple[int, int]]]  # first token -> (path index, label index)
    fuzzy: list[str]  # the distinct first tokens long enough for a fuzzy match
    starts: dict[str, tuple[tuple[int, int], ...]]  # word -> the labels that may start at it (filled as met)

    def starting_at(self, word: str) -> tuple[tuple[int, int], ...]:
        """The (path, label) indexes whose first token ``_word_matches`` ``word``."""
        found = self.starts.get(word)
        if found is None:
            tokens = {word} if word in self.exact else set()
            if len(word) >= 4:
                # The same test as _word_matches (ratio >= LABEL_WORD_MATCH for tokens of 5+ letters), in C.
                near = process.extract(word, self.fuzzy, scorer=fuzz.ratio, score_cutoff=LABEL_WORD_MATCH, limit=None)
                tokens.update(match[0] for match in near)
            found = tuple(sorted(entry for token in tokens for entry in self.exact[token]))
            if len(self.starts) >= _MAX_WORDS_REMEMBERED:
                self.starts.clear()  # a long-running server meets ever new words: start over, memory stays small
            self.starts[word] = found
        return found


_MAX_WORDS_REMEMBERED = 8192  # per label set (a type has a few): ~1 MB each at most


def _label_index(labels: Labels) -> _LabelIndex:
    key = tuple((path, tuple((lang, tuple(texts)) for lang, texts in per.items())) for path, per in labels.items())
    return _label_index_of(key)


@lru_cache(maxsize=256)
def _label_index_of(
    key: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...],
) -> _LabelIndex:
    paths: list[tuple[str, list[tuple[str, bool, tuple[str, ...]]]]] = []
    cjk: list[tuple[int, int, str]] = []
    exact: dict[str, list[tuple[int, int]]] = {}
    for path_index, (path, per_language) in enumerate(key):
        path_labels: list[tuple[str, bool, tuple[str, ...]]] = []
        for label in sorted({label for _lang, texts in per_language for label in texts}):
            is_cjk = _CJK.search(label) is not None
            tokens = () if is_cjk else _label_tokens(label)
            if not (is_cjk or tokens):
                continue
            if is_cjk:
                cjk.append((path_index, len(path_labels), _token(label.replace(" ", ""))))
            else:
                exact.setdefault(tokens[0], []).append((path_index, len(path_labels)))
            path_labels.append((label, is_cjk, tokens))
        paths.append((path, path_labels))
    fuzzy = sorted(token for token in exact if len(token) >= 5)
    return _LabelIndex(paths=paths, cjk=cjk, exact=exact, fuzzy=fuzzy, starts={})


def _find_labels(page: Page, rows: list[list[Word]], labels: Labels) -> list[LabelHit]:
    """Every occurrence of every label, minus those inside a longer label's occurrence (``Total`` in
    ``Total net``)."""
    hits: list[LabelHit] = []
    index = _label_index(labels)
    for row in rows:
        folded = [_token(word.text) for word in row]
        # Where each label may start, in the order of a scan path by path, label by label, word by word.
        found = [(p, i, start) for start, word in enumerate(folded) for p, i in index.starting_at(word)]
        if index.cjk:
            joined = "".join(folded)  # a CJK label matches joined words: it is in the row's joined text
            found.extend((p, i, -1) for p, i, target in index.cjk if target in joined)
        found.sort()
        seen: set[tuple[int, int, int]] = set()
        for p, i, start in found:
            path, path_labels = index.paths[p]
            label, cjk, tokens = path_labels[i]
            if cjk:
                hits.extend(_cjk_hits(page, row, folded, path, label))
                continue
            if start + len(tokens) > len(row):
                continue
            scores = [_word_matches(token, folded[start + k]) for k, token in enumerate(tokens)]
            if min(scores) <= 0 or (p, start, len(tokens)) in seen:
                continue
            # Short labels (R, L, PD) only count as whole words in their original case or upper case.
            if (
                len(tokens) == 1
                and len(tokens[0]) <= 2
                and _PUNCT.sub("", row[start].text)
                not in (
                    label.strip(".:"),
                    label.strip(".:").upper(),
                )
            ):
                continue
            if _inside_prose(row, start, label) and not _date_at(row, start + len(tokens)):
                # A phrase of a sentence, unless a date follows it: "ist zahlbar bis 26.03.2019" names the due date.
                continue
            if _names_a_company(row, start + len(tokens)):
                # "Lieferant GmbH", "Vendor Ltd": the label word is the start of a company's name.
                continue
            seen.add((p, start, len(tokens)))
            hits.append(
                LabelHit(
                    path=path,
                    page=page,
                    words=tuple(row[start : start + len(tokens)]),
                    label_tokens=sum(len(token) for token in tokens),
                    quality=sum(scores) / len(scores),
                )
            )
    word_ids = [{id(word) for word in hit.words} for hit in hits]
    kept: list[LabelHit] = []
    for hit, ids in zip(hits, word_ids, strict=True):
        inside_longer = any(
            other is not hit and (ids < other_ids or (ids == other_ids and other.label_tokens > hit.label_tokens))
            for other, other_ids in zip(hits, word_ids, strict=True)
        )
        if not inside_longer:
            kept.append(hit)
    return kept


def _height(words: Sequence[Word]) -> float:
    return max(1.0, max(w.bbox[3] - w.bbox[1] for w in words))


def _right_of(hit: LabelHit, rows: list[list[Word]], stops: set[int]) -> list[Word]:
    """Words right of the label on its row, up to a wide gap or the next label."""
    x1, top, bottom = hit.bbox[2], hit.bbox[1], hit.bbox[3]
    height = _height(hit.words)
    label_ids = {id(word) for word in hit.words}
    for row in rows:
        if not any(id(word) in label_ids for word in row):
            continue
        # Handwriting drifts off the printed line: take words overlapping the label's height as on its row.
        drifting = [
            w
            for w in hit.page.words
            if min(bottom, w.bbox[3]) - max(top, w.bbox[1]) >= 0.4 * min(height, w.bbox[3] - w.bbox[1])
        ]
        row_words = sorted({id(w): w for w in [*row, *drifting]}.values(), key=lambda w: w.bbox[0])
        out: list[Word] = []
        aside = False
        for word in row_words:
            if word.bbox[0] < x1 - 1 or id(word) in label_ids:
                continue
            if not out and (aside or word.text.startswith("(")) and not any(ch.isdigit() for ch in word.text):
                # A remark in parentheses completes the label ("Netto (excl. USt.)", "Total (EUR)"), even when it
                # names another label; a value in parentheses ("(35,13 €)") has digits and is read.
                aside = not word.text.endswith(")")
                continue
            if id(word) in stops:
                break
            if not out and not _PUNCT.sub("", word.text):
                # The ":" after a label is not the value; the value may sit far right of it.
                continue
            rate_only = all(re.fullmatch(r"\(?[\d.,]*%?\)?", w.text) for w in out)
            # A tax rate ("19 %") may sit in its own column between the label and the amount.
            wide_gap = out and word.bbox[0] - out[-1].bbox[2] > 2.5 * height
            # So may a date ("Total due on August 3, 2014 .......... $4.11"): the amount is right of it.
            # And a currency column ("Total   EUR   34,73").
            currency_only = all(_currency(w.text) and not any(ch.isdigit() for ch in w.text) for w in out)
            if wide_gap and not (rate_only and "%" in out[-1].text) and not currency_only and not _ends_in_date(out):
                break
            out.append(word)
            if len(out) >= MAX_VALUE_WORDS:
                break
        return out
    return []


def _ends_in_date(words: Sequence[Word]) -> bool:
    """Whether ``words`` end in a printed date (punctuation-only words aside)."""
    kept = [w for w in words if _PUNCT.sub("", w.text)]
    return any(_date_at(kept, start) == len(kept) - start for start in range(len(kept)))


def _is_rate(word: Word) -> bool:
    return "%" in word.text


def _below(hit: LabelHit, rows: list[list[Word]], stops: set[int], lines: int = 1) -> list[Word]:
    """Words in the rows just under the label that overlap it horizontally (a value printed under its label)."""
    x0, _y0, x1, y1 = hit.bbox
    height = _height(hit.words)
    out: list[Word] = []
    taken = 0
    for row in rows:
        top = min(w.bbox[1] for w in row)
        if top < y1 - 1:
            continue
        if top - y1 > 3 * height * (taken + 1):
            break
        chosen = [w for w in row if w.bbox[2] > x0 - height and w.bbox[0] < x1 + 6 * height and id(w) not in stops]
        # Extend the block to the right while words are close together (a long value under a short label).
        if chosen:
            right = chosen[-1].bbox[2]
            for word in row:
                if word.bbox[0] > right and word.bbox[0] - right < 1.5 * height and id(word) not in stops:
                    chosen.append(word)
                    right = word.bbox[2]
            out.extend(sorted(set(chosen), key=lambda w: w.bbox[0]))
            taken += 1
            if taken >= lines:
                break
    return out


def _prefixes(words: Sequence[Word], limit: int = 4) -> Iterable[tuple[Word, ...]]:
    for end in range(1, min(len(words), limit) + 1):
        yield tuple(words[:end])


# Words that introduce a date inside a sentence ("payable within 30 days by 04.04.2013").
_DATE_PREPOSITIONS = {
    "bis",
    "by",
    "until",
    "before",
    "am",
    "le",
    "au",
    "avant",
    "entro",
    "il",
    "tot",
    "voor",
    "op",
    "hasta",
    "el",
    "ate",
}
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-/._]*\d[A-Za-z0-9\-/._]*|\d")
# A whole date ("10.11.2025", "2025-11-10") is a date printed near a number's label, never the number.
_FULL_DATE = re.compile(r"(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:19|20)\d\d|(?:19|20)\d\d-[01]\d-[0-3]\d")
_NOISE_TOKENS = {"no", "nr", "n", "num", "number", "numero", "nummer", "#", "n°", "nº", "no.", ":", "de", "du", "del"}
# A number sign glued to the number it introduces: "n°562044387", "Nr.4711", "#A-12".
_GLUED_NUMBER_SIGN = re.compile(r"^(?:n[°º]|no\.|nr\.|#)\s*(?=[A-Za-z0-9]*\d)", re.IGNORECASE)
# Three-letter words that are ISO 4217 codes only when printed in capitals: "All charges" is no Albanian lek,
# "we try" no Turkish lira.
_NOT_CAPITALISED_CODE = re.compile(r"\b(?![A-Z]{3}\b)[A-Za-z]{3}\b")
# Currency symbols made of letters, and the same as a word of their own or glued to an amount.
_LETTER_SYMBOL = re.compile(r"S?Fr\.|kr|zł|Kč")
_SYMBOL_WORD = re.compile(r"^[\d.,' ]*(?:S?Fr\.|kr|zł|Kč)[\d.,' ]*$")
# Currency abbreviations printed before amounts that are not ISO codes or symbols.
_CURRENCY_ABBREVIATIONS = {"rs": "INR", "rs.": "INR"}


def _currency(text: str) -> str | None:
    """The currency ``text`` names: an ISO code in capitals, a symbol, or a common abbreviation ("Rs")."""
    abbreviation = _CURRENCY_ABBREVIATIONS.get(text.strip().lower())
    if abbreviation:
        return abbreviation
    code = parse_currency(_NOT_CAPITALISED_CODE.sub(" ", text))
    # A symbol made of letters ("Fr.", "kr") counts only as a word of its own or on an amount: "Mo.-Fr."
    # (Monday to Friday) is no Swiss franc.
    spelled_out = code is not None and re.search(rf"\b{code}\b", text) is not None
    if code is not None and not spelled_out and _LETTER_SYMBOL.search(text) and not _SYMBOL_WORD.search(text):
        return None
    return code


def _date_at(words: Sequence[Word], start: int) -> int:
    """How many words from ``start`` on print a date that begins at ``start`` (0 when none does)."""
    for count in range(1, 5):
        if start + count > len(words):
            break
        parsed = parse_date(" ".join(w.text for w in words[start : start + count]))
        if parsed is None:
            continue
        rest = words[start + 1 : start + count]
        if not rest or parse_date(" ".join(w.text for w in rest)) != parsed:
            return count
    return 0


def _only_checksum_fails(number: str) -> bool:
    """Whether ``number`` has a VAT ID's country prefix, format and length, and only its check digits fail (any
    country python-stdnum knows: the EU's, and the United Kingdom's, Switzerland's, Norway's …)."""
    try:
        stdnum_vatin.validate(number)
    except InvalidChecksum:
        return True
    except ValidationError:
        return False
    return False


def _read(kind: FieldKind, words: Sequence[Word], labelled: bool = False) -> tuple[Any, tuple[Word, ...]] | None:
    """The value of ``kind`` at the start of ``words`` and the words it used, or ``None``. ``labelled``: the words
    follow the field's label, so a value may be taken as printed where a check would otherwise reject it."""
    if kind == "name":
        after_colon = list(words)
        while after_colon and not _PUNCT.sub("", after_colon[0].text):
            after_colon.pop(0)  # the label's own colon, printed apart
        if any(w.text.endswith(":") for w in after_colon[:2]):
            return None  # one word and a colon is the next label ("NOM : LE FOURNISSEUR   COMPTE :"), not a name
    words = [w for w in words if _PUNCT.sub("", w.text) or w.text.strip() in ("€", "$", "£", "%")]
    if not words:
        return None
    if kind == "date":
        for prefix in _prefixes(words, 6):
            parsed = parse_date(" ".join(w.text for w in prefix))
            if parsed is not None:
                # Keep only the words the date is printed in: leading words it parses without are not part of it.
                while len(prefix) > 1 and parse_date(" ".join(w.text for w in prefix[1:])) == parsed:
                    prefix = prefix[1:]
                return parsed.isoformat(), prefix
        if labelled:
            # A payment-term sentence after its label: "Zahlbar innerhalb 30 Tagen netto bis 04.04.2013".
            for index in range(1, len(words)):
                if _token(words[index - 1].text) in _DATE_PREPOSITIONS:
                    count = _date_at(words, index)
                    if count:
                        parsed = parse_date(" ".join(w.text for w in words[index : index + count]))
                        if parsed is not None:
                            return parsed.isoformat(), tuple(words[index : index + count])
        # Handwritten dates lose their dots to OCR: "16 05 1999".
        if len(words) >= 3 and all(w.text.isdigit() for w in words[:3]):
            parsed = parse_date(".".join(w.text for w in words[:3]))
            if parsed is not None:
                return parsed.isoformat(), tuple(words[:3])
        return None
    if kind in ("amount", "number"):
        index, limit = -1, 4
        while index + 1 < min(len(words), limit):
            index += 1
            word = words[index]
            skipped = _date_at(words, index)
            if skipped:
                # An amount is never part of a date ("Total due on August 3, 2014 $4.11"): read on past it.
                index += skipped - 1
                limit += skipped
                continue
            if not any(ch.isdigit() for ch in word.text):
                continue
            following = words[index + 1].text if index + 1 < len(words) else ""
            if "%" in word.text or following.startswith("%"):
                # A tax rate ("MwSt. 19 %"), not the amount.
                continue
            # Amounts printed with a space as thousands separator span two words: try the pair first; so does one
            # that OCR cut at its decimal mark on a thermal print ("28. 81", "59 ,99").
            pair = tuple(words[index : index + 2])
            joined = "".join(w.text for w in pair)
            if len(pair) == 2 and re.fullmatch(r"\d{1,3}[\d.,']{4,}", joined) and parse_amount(joined) is not None:
                value = parse_amount(joined)
                if value is not None and re.fullmatch(r"\d{1,3}", pair[0].text):
                    return value, pair
            if len(pair) == 2 and CUT_AT_MARK.fullmatch(f"{pair[0].text} {pair[1].text}"):
                value = parse_amount(joined)
                if value is not None:
                    return value, pair
            value = parse_amount(word.text)
            if value is not None:
                return value, (word,)
        return None
    if kind == "diopter":
        for word in words[:2]:
            value = parse_diopter(word.text)
            if value is not None:
                return value, (word,)
        return None
    if kind == "int":
        for word in words[:2]:
            value = parse_int(word.text)
            if value is not None:
                return value, (word,)
        return None
    if kind == "prism_base":
        for word in words[:2]:
            base = parse_prism_base(word.text)
            if base is not None:
                return base, (word,)
        return None
    if kind == "lens_type":
        printed = _joined(words[:4])
        lens = parse_lens_type(printed)
        return (lens, tuple(words[:4])) if lens is not None else None
    if kind == "currency":
        for word in words[:3]:
            code = _currency(word.text)
            if code is not None:
                return code, (word,)
        return None
    if kind == "iban":
        for start in range(min(len(words), 3)):
            for end in range(start + 1, min(len(words), start + 9) + 1):
                candidate = compact("".join(w.text for w in words[start:end]))
                if len(candidate) > _IBAN_MAX_CHARS:
                    break  # longer still with every further word
                if _IBAN_SHAPE.fullmatch(candidate) and stdnum_iban.is_valid(candidate):
                    return stdnum_iban.format(candidate).replace(" ", ""), tuple(words[start:end])
        return None
    if kind == "vat_id":
        for start in range(min(len(words), 3)):
            for end in range(start + 1, min(len(words), start + 5) + 1):
                candidate = compact("".join(w.text for w in words[start:end]))
                if is_valid_vat_id(candidate):
                    return candidate, tuple(words[start:end])
        if labelled:
            # Right after its label, a VAT ID is read as printed even when its check digit fails: validation then
            # reports it to a person, which beats dropping it. Unlabelled, only valid IDs count (decoys abound).
            for start in range(min(len(words), 3)):
                for end in range(start + 1, min(len(words), start + 5) + 1):
                    candidate = compact("".join(w.text for w in words[start:end]))
                    if _only_checksum_fails(candidate):
                        return candidate, tuple(words[start:end])
        return None
    if kind == "identifier":
        for position, word in enumerate(words[:6]):
            if word.text.startswith("(") and word.text.endswith(")") and position + 1 < len(words):
                continue  # a code in parentheses before the number: "Rechnung (380) Nr. 4711"
            text = _PUNCT.sub("", word.text) if not word.text[-1:].isalnum() else word.text.lstrip(":#")
            text = _GLUED_NUMBER_SIGN.sub("", text)
            if _fold(text) in _NOISE_TOKENS or _fold(word.text) in _NOISE_TOKENS:
                continue
            match = _IDENTIFIER.fullmatch(text)
            if match and not _FULL_DATE.fullmatch(text):
                return text, (word,)
        return None
    # Text kinds: the words as printed.
    kept = [w for w in words if _fold(w.text) not in (":", "-")]
    text = _joined(kept).strip(" :")
    if not text or (kind == "name" and not _could_be_name(text)):
        return None
    return text, tuple(kept)


_NAME_PARTICLES = {
    "de",
    "da",
    "di",
    "do",
    "du",
    "del",
    "della",
    "der",
    "den",
    "van",
    "von",
    "zu",
    "le",
    "la",
    "ten",
    "ter",
}


def _could_be_name(text: str) -> bool:
    """Whether ``text`` may be a person's or company's name: it has letters, starts with a capital (or a particle
    like "van"), not a sentence's lower-case word ("bleibt Eigentümer …"), and holds no long number (a GLN)."""
    first = text.split()[0]
    if first[:1].islower() and _fold(first).strip(".,'") not in _NAME_PARTICLES and not first.startswith(("d'", "l'")):
        return False
    return any(ch.isalpha() for ch in text) and not re.search(r"\d{6,}", text)


def _column_end(value: float, first: Word, rows: list[list[Word]]) -> tuple[float, tuple[Word, ...]]:
    """The last amount of the unbroken column of amounts under a header that starts with ``first``: a breakdown
    by tax rate under "Nettobetrag | MwSt-Betrag | Endbetrag" ends in its sum row."""
    height = first.bbox[3] - first.bbox[1]
    bottom = first.bbox[3]
    last: tuple[float, tuple[Word, ...]] = (value, (first,))
    for row in rows:
        top = min(w.bbox[1] for w in row)
        if top <= first.bbox[1] + 1:
            continue
        if top - bottom > 2.5 * height:
            break
        under = [w for w in row if w.bbox[0] < first.bbox[2] and w.bbox[2] > first.bbox[0]]
        amounts = [
            (parse_amount(w.text), w)
            for w in under
            if any(ch.isdigit() for ch in w.text) and not any(ch.isalpha() for ch in w.text) and not parse_date(w.text)
        ]
        found = next(((a, w) for a, w in amounts if a is not None and "%" not in w.text), None)
        if found is None or len(under) != 1:
            break
        last = (found[0], (found[1],))
        bottom = found[1].bbox[3]
    return last


def _candidates_for(hit: LabelHit, kind: FieldKind, rows: list[list[Word]], stops: set[int]) -> list[Candidate]:
    out: list[Candidate] = []
    specificity = min(1.0, 0.55 + 0.04 * hit.label_tokens) * hit.quality
    lines_below = 3 if kind == "address" else 1
    for where, factor in (("right", 1.0), ("below", 0.8)):
        words = _right_of(hit, rows, stops) if where == "right" else _below(hit, rows, stops, lines=lines_below)
        if not words:
            continue
        read = _read(kind, words, labelled=True)
        if read is None and where == "right" and kind == "name":
            # A name label followed on its row by words that are no name is prose ("Der Verkäufer bleibt …").
            break
        if read is None:
            continue
        value, used = read
        if kind == "date":
            value, used = _past_discount(words, value, used)
        if kind == "vat_id" and not is_valid_vat_id(str(value)):
            factor *= 0.5  # read as printed though its check digits fail: any valid ID wins over it
        if where == "below" and kind == "amount" and len(used) == 1:
            value, used = _column_end(value, used[0], rows)
        meaningful = [w for w in words if _PUNCT.sub("", w.text) and _fold(w.text) not in _NOISE_TOKENS]
        if where == "right" and meaningful and used[0] is not meaningful[0] and not _is_rate(meaningful[0]):
            # Words between label and value: the label was part of a longer phrase ("N° de facture associée").
            factor *= 0.6
        out.append(Candidate(hit.path, value, used, hit.page.number, specificity * factor))
        # A label with a readable value right of it does not look below.
        break
    return out


# Cash discount words: "bis 20.03.2019 mit 2 % Skonto, bis 26.03.2019 netto" names a discount's deadline first.
_DISCOUNT = ("skonto", "escompte", "discount", "sconto", "descuento", "desconto", "korting")


def _past_discount(words: Sequence[Word], value: Any, used: tuple[Word, ...]) -> tuple[Any, tuple[Word, ...]]:
    """The date after a cash discount's deadline when the payment terms name both ("Zahlbar bis 20.03.2019 mit 2 %
    Skonto, bis 26.03.2019 netto"): the amount is due at the later one; else the date as read."""
    after = [w for w in words if w.bbox[0] >= used[-1].bbox[2]]
    clause = " ".join(_fold(w.text) for w in after[:5])
    if not any(word in clause for word in _DISCOUNT):
        return value, used
    for index in range(len(after)):
        count = _date_at(after, index)
        parsed = parse_date(" ".join(w.text for w in after[index : index + count])) if count else None
        if parsed is not None and parsed.isoformat() > str(value):
            return parsed.isoformat(), tuple(after[index : index + count])
    return value, used


def _read_tables(page: Page, rows: list[list[Word]], table: TableHint, kinds: dict[str, FieldKind]) -> list[Candidate]:
    """Values at the crossing of a row label (right eye) and a column header (Sph), for a grid like
    ``      Sph    Cyl   Axis`` / ``R   -1.25  -0.50   90``."""
    columns = _find_labels(page, rows, table.columns)
    row_hits = _find_labels(page, rows, table.rows)
    out: list[Candidate] = []
    for row_hit in row_hits:
        row_top, row_bottom = row_hit.bbox[1], row_hit.bbox[3]
        # Headers above this row label, nearest first: the closest header row wins per column.
        headers: dict[str, LabelHit] = {}
        for column in sorted(columns, key=lambda c: row_top - c.bbox[3]):
            if column.bbox[3] <= row_top + 1 and column.path not in headers:
                headers[column.path] = column
        inline = [c for c in columns if row_top - 1 <= (c.bbox[1] + c.bbox[3]) / 2 <= row_bottom + 1]
        if inline:
            # "R: Sph -1.25 Cyl -0.50 Axis 90": each value right of its own column label.
            inline_ids = {id(w) for c in inline for w in c.words}
            for column in inline:
                path = table.path.format(row=row_hit.path, column=column.path)
                words = _right_of(column, rows, inline_ids)
                read = _read(kinds.get(path, "text"), words[:2])
                if read is not None:
                    out.append(Candidate(path, read[0], read[1], page.number, 0.9 * column.quality))
            continue
        ordered = sorted(headers.values(), key=lambda c: c.bbox[0])
        if not ordered:
            continue
        height = _height(row_hit.words)
        if row_top - max(c.bbox[3] for c in ordered) > 14 * height:
            continue
        band_top, band_bottom = row_top - 0.5 * height, row_bottom + 1.0 * height
        in_band = [w for w in page.words if band_top <= (w.bbox[1] + w.bbox[3]) / 2 <= band_bottom]
        # A row label starts its row: "R" inside "PD 63 (R 31,5 / L 31,5)" is not a table row.
        own = {id(w) for w in row_hit.words}
        if any(w.bbox[2] <= row_hit.bbox[0] for w in in_band if id(w) not in own):
            continue
        header_ids = {id(w) for c in columns for w in c.words}
        label_ids = {id(w) for hit in row_hits for w in hit.words}
        centre = (row_top + row_bottom) / 2
        other_centres = [(h.bbox[1] + h.bbox[3]) / 2 for h in row_hits if h is not row_hit and h.bbox[1] > row_bottom]

        def nearest_row(word: Word, centre: float = centre, others: list[float] = other_centres) -> bool:
            middle = (word.bbox[1] + word.bbox[3]) / 2
            return all(abs(middle - centre) <= abs(middle - other) for other in others)

        cells = sorted(
            (
                w
                for w in in_band
                if w.bbox[0] >= row_hit.bbox[2] - 1 and id(w) not in header_ids | label_ids and nearest_row(w)
            ),
            key=lambda w: w.bbox[0],
        )
        for column, cell in _align(cells, ordered, height):
            path = table.path.format(row=row_hit.path, column=column.path)
            read = _read(kinds.get(path, "text"), [cell])
            if read is not None:
                out.append(Candidate(path, read[0], read[1], page.number, 0.9 * column.quality * row_hit.quality))
    return out


def _align(cells: list[Word], headers: list[LabelHit], height: float) -> list[tuple[LabelHit, Word]]:
    """Cells matched to column headers in left-to-right order, minimising how far each cell sits from its header
    (by left edge, centre or right edge, whichever fits: tables align either way); extra cells may stay unmatched.
    """
    skip = 50.0

    def cost(cell: Word, header: LabelHit) -> float:
        x0, _, x1, _ = header.bbox
        return (
            min(abs(cell.bbox[0] - x0), abs(cell.bbox[2] - x1), abs((cell.bbox[0] + cell.bbox[2] - x0 - x1) / 2))
            / height
        )

    n, m = len(cells), len(headers)
    infinity = float("inf")
    best = [[infinity] * (m + 1) for _ in range(n + 1)]
    move: list[list[str]] = [[""] * (m + 1) for _ in range(n + 1)]
    for j in range(m + 1):
        best[0][j] = 0.0
    for i in range(1, n + 1):
        for j in range(m + 1):
            options = [(best[i - 1][j] + skip, "skip-cell")]
            if j:
                options.append((best[i][j - 1], "skip-header"))
                options.append((best[i - 1][j - 1] + cost(cells[i - 1], headers[j - 1]), "match"))
            best[i][j], move[i][j] = min(options)
    pairs: list[tuple[LabelHit, Word]] = []
    i, j = n, m
    while i > 0:
        step = move[i][j]
        if step == "match":
            pairs.append((headers[j - 1], cells[i - 1]))
            i, j = i - 1, j - 1
        elif step == "skip-header":
            j -= 1
        else:
            i -= 1
    return pairs[::-1]


def _fallbacks(document: Document, doc_type: DocumentType, found: dict[str, Candidate]) -> list[Candidate]:
    """Values findable without a label: an IBAN or VAT ID anywhere, the currency of printed amounts, the seller as
    the company name at the top of the first page."""
    kinds = {spec.path: spec.kind for spec in doc_type.fields()}
    out: list[Candidate] = []
    for path, kind in kinds.items():
        if path in found or "[]" in path:
            continue
        if (kind in ("iban", "vat_id") and path.endswith(("seller.iban", "seller.vat_id"))) or (kind == "currency"):
            for page in document.pages:
                hit = _scan(page, kind, exclude={compact(str(c.value)) for c in found.values()})
                if hit is not None:
                    out.append(Candidate(path, hit[0], hit[1], page.number, 0.5))
                    break
    if "seller.name" in kinds and "seller.name" not in found and document.pages:
        vocabulary = {
            _fold(word)
            for words in [
                *doc_type.keywords.values(),
                *(labels for per in doc_type.labels.values() for labels in per.values()),
            ]
            for word in words
        }
        name = _company_at_top(document.pages[0], vocabulary)
        if name is not None:
            out.append(Candidate("seller.name", _joined(name), name, 1, 0.4))
    return out


def _scan(page: Page, kind: FieldKind, exclude: set[str]) -> tuple[Any, tuple[Word, ...]] | None:
    words = page.words
    for start in range(len(words)):
        # Only a value starting at this very word counts: skip words _read would drop or that cannot start one.
        text = words[start].text
        if not (_PUNCT.sub("", text) or text.strip() in ("€", "$", "£", "%")):
            continue
        if kind in ("iban", "vat_id") and not _ID_START.match(compact(text)):
            continue  # both begin with a country code, so with this word's first letter
        read: tuple[Any, tuple[Word, ...]] | None
        if kind == "currency":
            code = _currency(text)  # what _read answers for a currency starting at this word
            read = None if code is None else (code, (words[start],))
        else:
            read = _read(kind, words[start : start + 9])
        if read is None:
            continue
        value, used = read
        if used[0] is not words[start]:
            continue
        if compact(str(value)) not in exclude:
            return value, used
    return None


def _company_at_top(page: Page, vocabulary: set[str]) -> tuple[Word, ...] | None:
    """The letterhead: the first line of the page when it is a name (letters, no digits, not a title like
    "INVOICE"), else the first line in the top half naming a company by its legal form (GmbH, SARL, Ltd …)."""
    rows = visual_rows(page)
    if rows and min(w.bbox[1] for w in rows[0]) < page.height / 4:
        first = _blocks(rows[0])[0]
        text = " ".join(w.text for w in first)
        folded = _fold(text).strip(" :")
        if sum(ch.isalpha() for ch in text) >= 3 and not any(ch.isdigit() for ch in text) and folded not in vocabulary:
            continued = _name_continued(first, rows[1:2])
            if continued and _fold(continued[0].text) == _fold(first[0].text):
                return continued  # a logo's word above the name that repeats it: "MUSTER" / "Muster Software GmbH"
            return tuple(first) + continued
    top_half = [row for row in rows if min(w.bbox[1] for w in row) < page.height / 2]
    for row in top_half:
        for block in _blocks(row):
            if _LEGAL_FORMS.search(_fold(" ".join(w.text for w in block))):
                return tuple(block)
    return None


# Printed between a sender's name and its address on one line: "Muster GmbH · Hauptstr. 1 · 10115 Berlin".
_NAME_SEPARATORS = {"·", "|", "•"}
# A dash separates only before an address (digits follow it): "Hotel Adler - Restaurant" is a name.
_NAME_DASHES = {"-", "–", "—"}


def _name_alone(words: Sequence[Word]) -> tuple[str, tuple[Word, ...]]:
    """A name read with the address printed after it on its line, cut before the address: at a separator mark, or
    at a comma after the company's legal form ("Muster GmbH, Hauptstr. 1"). The name and its words; a name with no
    such mark stays whole."""
    kept: list[Word] = []
    text = ""
    for index, word in enumerate(words):
        if kept and (
            word.text in _NAME_SEPARATORS
            or (word.text in _NAME_DASHES and any(ch.isdigit() for w in words[index:] for ch in w.text))
        ):
            break
        mark = next((mark for mark in ("·", "|", "•") if mark in word.text), None)
        if mark is not None:
            head = word.text.split(mark, 1)[0].strip()
            if head:  # the mark glued to the name's end: the word stays, what follows the mark goes
                kept.append(word)
                text = _joined([*kept[:-1]]) + (" " if len(kept) > 1 else "") + head
            break
        kept.append(word)
        text = _joined(kept)
        if word.text.endswith(",") and _LEGAL_FORMS.search(_fold(text)):
            break
    if not kept:
        return _joined(words), tuple(words)
    return text.rstrip(" ,;:"), tuple(kept)


# Marks a scan's specks are read as before a name ("‚Groß und Breit Bau AG"); no name starts with one.
_SPECKS = ",.;:‚`´|_~"


def _without_specks(name: str) -> str:
    """``name`` without the specks read before it (an apostrophe stays: "'t Brillenhuis")."""
    return name.lstrip(_SPECKS + " ") or name


def _name_continued(first: list[Word], following: list[list[Word]]) -> tuple[Word, ...]:
    """The letterhead's second line when the name runs on to it and ends in its legal form there ("MVM Musterhafter"
    above "Versicherungsverein Musterstadt a.G."); nothing when the first line is complete or the next is no name."""
    if not following or _LEGAL_FORMS.search(_fold(" ".join(w.text for w in first))):
        return ()
    block = _blocks(following[0])[0]
    text = _fold(" ".join(w.text for w in block))
    height = _height(first)
    close_below = min(w.bbox[1] for w in block) - max(w.bbox[3] for w in first) < height
    aligned = abs(block[0].bbox[0] - first[0].bbox[0]) < height
    if close_below and aligned and not any(ch.isdigit() for ch in text) and _LEGAL_FORMS.search(text):
        return tuple(block)
    return ()


def _blocks(row: list[Word]) -> list[list[Word]]:
    """A row split where words are far apart: columns printed side by side."""
    height = _height(row)
    blocks: list[list[Word]] = []
    for word in row:
        if blocks and word.bbox[0] - blocks[-1][-1].bbox[2] <= 2.5 * height:
            blocks[-1].append(word)
        else:
            blocks.append([word])
    return blocks


def _choose(candidates: Iterable[Candidate], prefer_lowest: Callable[[str], bool]) -> dict[str, Candidate]:
    best: dict[str, Candidate] = {}
    for candidate in candidates:
        current = best.get(candidate.path)
        if current is None:
            best[candidate.path] = candidate
            continue
        key_new = (round(candidate.score, 6), _position(candidate, prefer_lowest(candidate.path)))
        key_old = (round(current.score, 6), _position(current, prefer_lowest(current.path)))
        if key_new > key_old:
            best[candidate.path] = candidate
    return best


def _position(candidate: Candidate, lowest: bool) -> tuple[int, float]:
    y = candidate.words[0].bbox[1]
    # Totals sit at the bottom of the last page; everything else is read first where it first appears.
    return (candidate.page, y) if lowest else (-candidate.page, -y)


def _printed_amount(document: Document, value: float) -> Candidate | None:
    """The last word on the document that reads as ``value`` (a total is printed last)."""
    last: Candidate | None = None
    for page in document.pages:
        for word in page.words:
            parsed = parse_amount(word.text) if any(ch.isdigit() for ch in word.text) else None
            if parsed is not None and abs(parsed - value) < 0.005:
                last = Candidate("", parsed, (word,), page.number, 0.5)
    return last


_RATE = re.compile(r"\d{1,2}(?:[.,]\d{1,2})?\s*%")


def _tax_per_rate(document: Document, tax: float) -> Candidate | None:
    """The tax printed only per rate ("USt. 7 %  275,00  19,25" / "USt. 19 %  198,00  37,62"): the last amounts of
    the rows naming a rate, when they add up to ``tax`` (total - net) within a cent."""
    for page in document.pages:
        amounts: list[tuple[float, Word]] = []
        for row in visual_rows(page):
            rate = next((i for i, w in enumerate(row) if _RATE.fullmatch(w.text)), None)
            if rate is None:
                continue
            # Only amounts (and currency signs) after the rate: a sentence ("3 % Skonto innerhalb 10 Tagen") is no row.
            after = [w for w in row[rate + 1 :] if not _currency(w.text) or any(ch.isdigit() for ch in w.text)]
            read = [(parse_amount(w.text), w) for w in after]
            if read and all(value is not None for value, _ in read):
                value, word = read[-1]
                amounts.append((float(value or 0.0), word))
        if len(amounts) >= 2 and abs(sum(value for value, _ in amounts) - tax) <= 0.011:
            return Candidate("", tax, tuple(word for _, word in amounts), page.number, 0.5)
    return None


def _complete_totals(document: Document, found: dict[str, Candidate]) -> None:
    """A missing total (or net) whose value net + tax (or total - tax) is printed somewhere: its label was not
    read (OCR dropped a character), the amount was."""
    net, tax, total = (found.get(p) for p in ("net_amount", "tax_amount", "total_amount"))
    if net and total and (not tax or abs(float(net.value) + float(tax.value) - float(total.value)) > 0.011):
        # The tax label was missed or misread ("USt. 19 %  198,00  37,62" reads the base): total - net, if printed.
        difference = round(float(total.value) - float(net.value), 2)
        hit = _printed_amount(document, difference) or _tax_per_rate(document, difference)
        if hit is not None and hit.value != 0:
            found["tax_amount"] = Candidate("tax_amount", hit.value, hit.words, hit.page, hit.score)
    elif net and tax and not total:
        hit = _printed_amount(document, round(float(net.value) + float(tax.value), 2))
        if hit is not None:
            found["total_amount"] = Candidate("total_amount", hit.value, hit.words, hit.page, hit.score)
    elif total and tax and not net:
        hit = _printed_amount(document, round(float(total.value) - float(tax.value), 2))
        if hit is not None:
            found["net_amount"] = Candidate("net_amount", hit.value, hit.words, hit.page, hit.score)


def _consistent_totals(candidates: list[Candidate], found: dict[str, Candidate]) -> None:
    """When the best net, tax and total do not add up, the best-scoring combination of candidates that does
    (within a cent) wins: a VAT breakdown table or a line's "(Net)" fooled the labels, the arithmetic does not."""
    paths = ("net_amount", "tax_amount", "total_amount")
    chosen = [found.get(path) for path in paths]
    if all(c is not None for c in chosen):
        net, tax, total = (float(c.value) for c in chosen if c is not None)
        if abs(net + tax - total) <= 0.011:
            return
    options = {path: sorted((c for c in candidates if c.path == path), key=lambda c: -c.score)[:12] for path in paths}
    best: tuple[float, tuple[Candidate, Candidate, Candidate]] | None = None
    for net_c in options["net_amount"]:
        for tax_c in options["tax_amount"]:
            for total_c in options["total_amount"]:
                if abs(float(net_c.value) + float(tax_c.value) - float(total_c.value)) > 0.011:
                    continue
                if float(tax_c.value) < 0 or float(net_c.value) <= 0:
                    continue
                if len({id(net_c.words[0]), id(tax_c.words[0]), id(total_c.words[0])}) < 3:
                    continue  # one printed amount cannot be two of them
                score = net_c.score + tax_c.score + total_c.score
                # Agreeing with what the labels chose counts: a consistent triple that keeps the labelled total
                # beats one built from a line item's net, tax and gross.
                score += sum(
                    0.5
                    for c, label in zip((net_c, tax_c, total_c), chosen, strict=True)
                    if label is not None and abs(float(c.value) - float(label.value)) < 0.005
                )
                if best is None or score > best[0]:
                    best = (score, (net_c, tax_c, total_c))
    if best is not None:
        for candidate in best[1]:
            found[candidate.path] = candidate


# A till receipt prints the cash handed over and the change given back under its total ("GEGEBEN BAR 50,00",
# "RÜCKGELD 0,01"): the total is their difference, however its own row was read.
_TENDERED = frozenset(
    ["bar", "bargeld", "gegeben", "cash", "tendered", "given", "especes", "efectivo", "contanti", "contant", "dinheiro"]
)
_CHANGE = frozenset(
    [
        "ruckgeld",
        "zuruck",
        "wechselgeld",
        "change",
        "rendu",
        "monnaie",
        "cambio",
        "vuelto",
        "resto",
        "wisselgeld",
        "troco",
    ]
)
# An umlaut's word is read with its umlaut wrong ("ROCKGELD"): a change word matches from this fuzzy ratio.
CHANGE_WORD_MATCH = 80


def _names_change(tokens: Iterable[str]) -> bool:
    return any(
        token in _CHANGE or (len(token) >= 6 and any(fuzz.ratio(token, word) >= CHANGE_WORD_MATCH for word in _CHANGE))
        for token in tokens
    )


def _tendered_total(
    document: Document,
    page_rows: Sequence[list[list[Word]]],
    amounts: Sequence[AmountCandidate],
    items_sum: float | None,
    found: dict[str, Candidate],
) -> None:
    """A receipt's total from the cash handed over and the change printed under it (a row naming the cash given,
    then one naming the change, each ending in an amount): two readings that agree beat one of the total's row,
    printed large and often misread ("SUMME EUR 4. 99" for 49,99). An amount printed above the cash on a row cued
    as a total is kept where they account for it, or where the items add up to it (the change misread).
    ``page_rows``: each page's rows, their amounts mended (``shapes.mended``: "50. 00" is one amount)."""
    total = found.get("total_amount")
    for page_index, (page, rows) in enumerate(zip(document.pages, page_rows, strict=True)):
        tendered: tuple[float, Word, int] | None = None
        for row_index, row in enumerate(rows):
            money = tables._rightmost_money(row)
            amount = parse_amount(money.text) if money is not None else None
            if money is None or amount is None:
                continue
            tokens = [_token(word.text) for word in row if word is not money]
            if tendered is None:
                if set(tokens) & _TENDERED and amount > 0:
                    tendered = (amount, money, row_index)
                continue
            if not _names_change(tokens):
                continue
            paid = round(tendered[0] - abs(amount), 2)
            if paid <= 0 or (total is not None and abs(float(total.value) - paid) < 0.005):
                return
            cued = [
                a
                for a in amounts
                if a.cues.get("total_amount", 0.0) > 0 and a.row[0] == page_index and a.row[1] < tendered[2]
            ]
            printed = next((a for a in reversed(cued) if abs(a.value - paid) < 0.005), None)
            if printed is None and items_sum is not None:
                printed = next((a for a in reversed(cued) if abs(a.value - items_sum) < 0.005), None)
            if printed is not None:
                found["total_amount"] = Candidate("total_amount", printed.value, (printed.word,), page.number, 0.6)
            else:
                found["total_amount"] = Candidate("total_amount", paid, (tendered[1], money), page.number, 0.6)
            return


def _check_totals(found: dict[str, Candidate]) -> None:
    """Drop a net or tax amount that contradicts the other two amounts: one of the labels fooled us."""
    net, tax, total = (found.get(p) for p in ("net_amount", "tax_amount", "total_amount"))
    if net and tax and total:
        if abs(float(net.value) + float(tax.value) - float(total.value)) <= 0.011:
            return
        if abs(float(total.value) - float(net.value)) <= 0.011:
            # Gross-only receipts print "Total" twice; keep the total.
            del found["net_amount"]


# "Facture n° 562044387 du 02/07/2015", "Rechnung Nr. 4711 vom 03.04.2024": the date the numbered document is of.
_DATED = {"du", "vom", "del", "dated", "of", "de", "dd", "van"}


def _dated_number(document: Document, number: Candidate) -> Candidate | None:
    """The issue date printed right after the document's number ("n° 123 du 02/07/2015"), or ``None``."""
    page = next((p for p in document.pages if p.number == number.page), None)
    if page is None:
        return None
    last = number.words[-1]
    rows = visual_rows(page)
    for index, row in enumerate(rows):
        if not any(w is last for w in row):
            continue
        after = [w for w in sorted(row, key=lambda w: w.bbox[0]) if w.bbox[0] >= last.bbox[2] - 1 and w is not last]
        following = rows[index + 1] if index + 1 < len(rows) else None
        if len(after) == 1 and following:
            after = [*after, *following]  # "… Nr. 4711 vom" / "03.04.2024": the date wrapped onto the next line
        if len(after) < 2 or _fold(after[0].text).strip(" :,") not in _DATED:
            return None
        read = _read("date", after[1:7])
        if read is None or _date_at([w for w in after[1:] if _PUNCT.sub("", w.text)], 0) == 0:
            return None
        return Candidate("issue_date", read[0], read[1], page.number, 0.6 * number.score)
    return None


# Words that introduce a number: "Nr. 4711", "No 12", "N° 562044387", "Nummer 8", "#A-12".
_NUMBER_SIGNS = {"nr", "no", "n", "nº", "n°", "num", "number", "nummer", "numero", "numéro", "número", "#"}


def _titled_number(page: Page, titles: set[str]) -> Candidate | None:
    """The number on the document's title line in the top half of its first page, after a number sign
    ("Beitragsrechnung zur Kraftfahrtversicherung Nr. 00.123.456.7", "Gutschrift (389) Nr. 47110818"): a title
    word is the type's first keyword or ends in it, as in ``_titled_date``."""
    for row in visual_rows(page):
        if min(w.bbox[1] for w in row) > page.height / 2:
            break
        kept = [w for w in row if _PUNCT.sub("", w.text) or w.text == "#"]
        if not any(_token(w.text).endswith(title) for w in kept[:3] for title in titles if len(title) >= 5):
            continue
        for index, word in enumerate(kept[:-1]):
            if _fold(word.text).strip(".:") not in _NUMBER_SIGNS:
                continue
            read = _read("identifier", kept[index + 1 : index + 2])
            if read is not None and parse_date(read[1][0].text) is None:
                return Candidate("invoice_number", read[0], read[1], page.number, 0.5)
    return None


_TIME = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?$")


def _row_dates(row: Sequence[Word]) -> Iterator[tuple[date, tuple[Word, ...], list[Word], int]]:
    """Every date printed on ``row``: its value, its words, the row's words without lone punctuation, and where in
    those the date starts."""
    kept = [w for w in row if _PUNCT.sub("", w.text)]
    for start in range(len(kept)):
        count = _date_at(kept, start)
        parsed = parse_date(" ".join(w.text for w in kept[start : start + count])) if count else None
        if parsed is not None:
            yield parsed, tuple(kept[start : start + count]), kept, start


def _timed_date(document: Document) -> Candidate | None:
    """The first date printed beside a time of day ("09:48 02.03.2020", "21.04.20 15:52"): a till receipt stamps
    the moment of sale so, with no label."""
    for page in document.pages:
        for row in visual_rows(page):
            for parsed, words, kept, start in _row_dates(row):
                beside = kept[max(0, start - 1) : start] + kept[start + len(words) : start + len(words) + 1]
                if any(_TIME.match(w.text) for w in beside):
                    return Candidate("issue_date", parsed.isoformat(), words, page.number, 0.45)
    return None


# A direct debit says when the amount is due in a sentence, no label: "Der Betrag wird am 20.03.2014 von Ihrem Konto
# abgebucht", "will be debited from your account on", "sera prélevé le". Folded word starts.
_DEBITED = ("abgebucht", "eingezogen", "debited", "preleve", "addebitat", "cargara", "afgeschreven", "debitad")


def _debit_date(document: Document, issued: str) -> Candidate | None:
    """The date of a direct debit announced in a sentence (the verb on its line or the next), on or after the
    issue date ``issued`` (ISO): the date the amount is due."""
    for page in document.pages:
        rows = visual_rows(page)
        for index, row in enumerate(rows):
            said = " ".join(_fold(w.text) for r in rows[index : index + 2] for w in r).split()
            if not any(word.startswith(_DEBITED) for word in said):
                continue
            for parsed, words, _kept, _start in _row_dates(row):
                if parsed.isoformat() >= issued:
                    return Candidate("due_date", parsed.isoformat(), words, page.number, 0.5)
    return None


# A letter dates itself after the place it is written in: "München, den 01.11.2024", "Paris, le 15/01/2020",
# "Madrid, a 3 de mayo de 2020", "Roma, lì 12/03/2020", "Hamburg, 3. März 2024". Folded connectors.
PLACE_DATE = 0.78  # the score of a letter's date after its place (a label's is 0.55 + 0.04 per letter, up to 1)
_PLACE_DATE_WORDS = {"den", "am", "le", "el", "a", "il", "li", "on", "op", "em"}
_PLACE = re.compile(r"^[^\W\d_][^\W\d_'.-]*(?:[-'][^\W\d_]+)*,$")


def _place_date(page: Page) -> Candidate | None:
    """The letter's date after its place on the first page ("München, den 01.11.2024"): the date the document was
    written, with no label of its own; a capitalised place name ending in a comma, a connector word or none."""
    for row in visual_rows(page):
        kept = [w for w in row if _PUNCT.sub("", w.text)]
        for index, word in enumerate(kept[:-1]):
            if not (_PLACE.match(word.text) and word.text[0].isupper()):
                continue
            start = index + 1
            if _fold(kept[start].text) in _PLACE_DATE_WORDS:
                start += 1
            count = _date_at(kept, start) if start < len(kept) else 0
            parsed = parse_date(" ".join(w.text for w in kept[start : start + count])) if count else None
            if parsed is not None:
                return Candidate(
                    "issue_date", parsed.isoformat(), tuple(kept[start : start + count]), page.number, PLACE_DATE
                )
    return None


def _titled_date(page: Page, titles: set[str]) -> Candidate | None:
    """The date ending the document's title line in the top half of its first page, with no label of its own
    ("Beitragsrechnung   24. Januar 2014"): a title word is the type's first keyword or ends in it."""
    for row in visual_rows(page):
        if min(w.bbox[1] for w in row) > page.height / 2:
            break
        kept = [w for w in row if _PUNCT.sub("", w.text)]
        if not any(_token(w.text).endswith(title) for w in kept[:3] for title in titles if len(title) >= 5):
            continue
        for start in range(1, len(kept)):
            count = _date_at(kept, start)
            if count and start + count == len(kept):
                parsed = parse_date(" ".join(w.text for w in kept[start:]))
                if parsed is not None:
                    return Candidate("issue_date", parsed.isoformat(), tuple(kept[start:]), page.number, 0.4)
    return None


def _block_word(words: Sequence[Word]) -> Word:
    box = (
        min(w.bbox[0] for w in words),
        min(w.bbox[1] for w in words),
        max(w.bbox[2] for w in words),
        max(w.bbox[3] for w in words),
    )
    return Word(text=_joined(words), conf=min(w.conf for w in words), bbox=box)


def _in_its_section(candidate: Candidate, sections: Sequence[Section]) -> Candidate:
    """``candidate`` weighed down when it sits in another party's section (the buyer's VAT ID under "Käufer")."""
    party = candidate.path.split(".")[0] if "." in candidate.path else None
    if party is None or not candidate.words or not sections:
        return candidate
    holder = section_of(sections, candidate.page, candidate.words[0])
    if holder is None or holder == party:
        return candidate
    return Candidate(candidate.path, candidate.value, candidate.words, candidate.page, 0.3 * candidate.score)


class _Remembered:
    """The last few extractions by document content and type: the pipeline's repair step reads the same document
    with the same type again (each attempt), and a retried activity repeats its step."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._entries: LRUCache[tuple[int, str], tuple[DocumentType, Extraction]] = LRUCache(size)

    def get(self, key: tuple[int, str], doc_type: DocumentType) -> Extraction | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] is not doc_type:  # the entry holds its type, so its id was not reused
                return None
        return entry[1].model_copy(deep=True)  # callers may change what they get

    def put(self, key: tuple[int, str], doc_type: DocumentType, extraction: Extraction) -> None:
        with self._lock:
            self._entries[key] = (doc_type, extraction.model_copy(deep=True))


_REMEMBERED = _Remembered(64)


def offline_extract(document: Document, doc_type: DocumentType) -> Extraction:
    """The type's fields read from ``document`` by labels and layout; unfound fields are simply absent."""
    key = (id(doc_type), hashlib.blake2b(document.model_dump_json().encode(), digest_size=20).hexdigest())
    remembered = _REMEMBERED.get(key, doc_type)
    if remembered is None:
        remembered = _offline_extract(document, doc_type)
        _REMEMBERED.put(key, doc_type, remembered)
    return remembered


def _offline_extract(document: Document, doc_type: DocumentType) -> Extraction:
    specs: dict[str, FieldSpec] = {spec.path: spec for spec in doc_type.fields()}
    kinds = {path: spec.kind for path, spec in specs.items()}
    # A user-defined type's fields are read as a form (agents/offline_forms.py), not by the labels here.
    labels = {
        path: per_lang
        for path, per_lang in doc_type.labels.items()
        if "[]" not in path and path in specs and not offline_forms.reads(doc_type)
    }
    candidates: list[Candidate] = []
    items: list[Candidate] = []
    page_rows: list[list[list[Word]]] = []
    sections: list[Section] = []
    for page in document.pages:
        rows = visual_rows(page)
        page_rows.append(rows)
        page_sections = party_sections(page, rows, doc_type.labels)
        sections.extend(page_sections)
        for section in page_sections:
            path = f"{section.party}.name"
            named = keyed_name(section, rows) if path in specs else None
            if named is None and path in specs:
                lines = unkeyed_start(section, rows)
                named = tuple(lines[0]) + _name_continued(lines[0], lines[1:]) if lines else None
            if named and _could_be_name(_joined(named)):
                candidates.append(Candidate(path, _joined(named), named, page.number, 0.95))
        hits = _find_labels(page, rows, labels)
        stops = {id(word) for hit in hits for word in hit.words}
        for hit in hits:
            candidates.extend(_candidates_for(hit, kinds[hit.path], rows, stops))
        for table in doc_type.tables:
            candidates.extend(_read_tables(page, rows, table, kinds))
    # The rows the amount readers share, with each amount as printed (OCR's cuts and a table's rules undone).
    amount_rows = [[mended(row) for row in rows] for rows in page_rows]
    items.extend(tables.read_item_tables(document, doc_type, kinds, amount_rows).candidates)
    if "issue_date" in specs and document.pages:
        # Above a generic label's score ("Datum", "Fecha": 0.75; "Datum" also labels a printout's time stamp),
        # below a specific one's ("Issued" 0.79, "Rechnungsdatum" 1.0).
        placed = _place_date(document.pages[0])
        candidates += [placed] if placed is not None else []
    candidates = [_in_its_section(candidate, sections) for candidate in candidates]
    candidates = offline_forms.revise(document, doc_type, specs, candidates)
    found = _choose(candidates, prefer_lowest=lambda path: path.endswith("_amount"))
    titles = {_fold(words[0]) for words in doc_type.keywords.values() if words}
    if "invoice_number" in specs and "invoice_number" not in found and document.pages:
        numbered = _titled_number(document.pages[0], titles)
        if numbered is not None:
            found["invoice_number"] = numbered
    if "issue_date" in specs and "issue_date" not in found and "invoice_number" in found:
        dated = _dated_number(document, found["invoice_number"])
        # The number read under its label elsewhere ("Rechnungsnummer: 4711") may be dated on the title line.
        titled_number = _titled_number(document.pages[0], titles) if dated is None else None
        if titled_number is not None and titled_number.value == found["invoice_number"].value:
            dated = _dated_number(document, titled_number)
        if dated is not None:
            found["issue_date"] = dated
    if "issue_date" in specs and "issue_date" not in found and document.pages:
        titled = _titled_date(document.pages[0], titles) or _timed_date(document)
        if titled is not None:
            found["issue_date"] = titled
    if "due_date" in specs and "due_date" not in found and "issue_date" in found:
        debited = _debit_date(document, str(found["issue_date"].value))
        if debited is not None:
            found["due_date"] = debited
    for fallback in _fallbacks(document, doc_type, found):
        if _in_its_section(fallback, sections).score == fallback.score:
            found.setdefault(fallback.path, fallback)
    if amount_paths(kinds):
        # Amounts found by what they are: every printed amount, weighed by its row's cue words, the consistent
        # net + tax = total preferred; they compete with the labelled ones and fill what labels missed.
        cues = cue_index(doc_type.labels, TOTALS)
        amounts = amount_candidates(document, cues, amount_rows)
        picks = best_totals(amounts)
        shaped = [Candidate(p.path, p.value, (p.word,), p.page, p.score) for p in picks.values()]
        _consistent_totals(candidates + shaped, found)
        used = {id(word) for chosen in found.values() for word in chosen.words}
        for candidate in shaped:
            if candidate.path not in found and id(candidate.words[0]) not in used:
                found[candidate.path] = candidate
        _check_totals(found)
        _complete_totals(document, found)
        if "total_amount" in kinds:
            priced = [float(c.value) for c in items if c.path.endswith(".amount") and c.value is not None]
            _tendered_total(document, amount_rows, amounts, round(sum(priced), 2) if priced else None, found)
    data: dict[str, Any] = {}
    fields: dict[str, FieldValue] = {}
    for path in specs:
        chosen = found.get(path)
        if chosen is None:
            continue
        value = chosen.value
        if kinds[path] == "name" and chosen.words:
            name, named = _name_alone(chosen.words)
            if len(named) < len(chosen.words):
                value, chosen = name, Candidate(path, name, named, chosen.page, chosen.score)
            value = _without_specks(str(value))
        if kinds[path] == "prism_base" and chosen.words:
            # What a base code means depends on the document's language: German BO is "Basis oben", up.
            value = parse_prism_base(chosen.words[0].text, document.language) or value
        set_path(data, path, value)
        match = Match(page=chosen.page, words=chosen.words, score=min(1.0, max(0.0, chosen.score)))
        fields[path] = field_from_match(value, match, "offline")
    # Items continue their numbering across pages: renumber in reading order.
    numbering: dict[tuple[str, int, str], int] = {}
    counters: dict[str, int] = {}
    for candidate in items:
        array, index, column = candidate.path.split(".", 2)
        key = (array, candidate.page, index)
        if key not in numbering:
            numbering[key] = counters.get(array, 0)
            counters[array] = numbering[key] + 1
        path = f"{array}.{numbering[key]}.{column}"
        set_path(data, path, candidate.value)
        match = Match(page=candidate.page, words=candidate.words or (), score=candidate.score)
        fields[path] = field_from_match(candidate.value, match if candidate.words else None, "offline")
    return Extraction(doc_type=doc_type.name, data=data, fields=fields, method="offline", attempts=0)
