"""Values found by what they are: every amount printed on a document is a candidate for the type's totals, scored
by the cue words on its row and by where it sits, and the jointly consistent choice (net + tax = total) wins.

Label matching (``agents.offline``) needs the exact label a sender prints; senders print "Bruttosumme",
"Rechnungssumme ohne USt." or "Totaal te voldoen". Here a label is only evidence: its words (in any of the type's
languages, also inside compound words) point at a field with a weight that falls with the number of fields sharing
the word, "excluding"/"including" words turn a tax word into a net or total cue, and arithmetic settles the rest.
Nothing here knows a sender or a document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from extractors.model import Document, Word, union_bbox
from extractors.normalize import fold, parse_amount, parse_date
from extractors.types import FieldKind, Labels

TOTALS = ("net_amount", "tax_amount", "total_amount")
# Words that say a tax is left out of ("net ohne USt", "total hors TVA") or included in ("inkl. MwSt", "TTC") the
# amount on their row: with a tax word, the row is a net or a total, not the tax itself.
_EXCLUDING = frozenset(
    [
        "ohne",
        "exkl",
        "excl",
        "exclusive",
        "excluding",
        "hors",
        "sans",
        "sin",
        "senza",
        "sem",
        "zonder",
        "without",
        "before",
        "vor",
        "avant",
        "antes",
        "prima",
    ]
)
_INCLUDING = frozenset(
    ["inkl", "incl", "inklusive", "inclusive", "including", "ttc", "avec", "con", "com", "met", "included"]
)
# Function words of the label languages: they say nothing about a field.
_STOP = frozenset(
    [
        "a",
        "à",
        "al",
        "an",
        "and",
        "am",
        "at",
        "au",
        "aux",
        "by",
        "da",
        "das",
        "de",
        "dei",
        "del",
        "della",
        "der",
        "des",
        "di",
        "die",
        "do",
        "dos",
        "du",
        "e",
        "el",
        "en",
        "et",
        "for",
        "from",
        "für",
        "il",
        "in",
        "l",
        "la",
        "le",
        "les",
        "los",
        "lo",
        "n",
        "nr",
        "no",
        "nº",
        "n°",
        "num",
        "of",
        "on",
        "op",
        "per",
        "por",
        "pour",
        "sur",
        "te",
        "the",
        "to",
        "um",
        "und",
        "van",
        "von",
        "y",
        "zu",
        "zum",
        "zur",
    ]
)
_CENT = 0.011
# The largest VAT / sales-tax rate in use (Hungary 27 %), with room for rounding.
_MAX_TAX_RATE = 0.28
_AMOUNT_SHAPE = re.compile(r"^[-−(]?[€$£]?\d{1,3}(?:[.,' \u202f]\d{3})*[.,]\d{2}[€$£]?\)?-?$|^[-−]?\d+[.,]\d{2}$")


def _token(text: str) -> str:
    return re.sub(r"^[\W_]+|[\W_]+$", "", fold(text))


@dataclass(frozen=True)
class CueIndex:
    """The type's labels as words. A row's cue for a field is its best label's share of words present on the row,
    each word weighed by how few fields share it: "Balance due" is half there with only "Balance"; "Total" alone is
    a whole label, but one that three fields' labels contain."""

    labels: Mapping[str, tuple[tuple[str, ...], ...]]  # path -> its labels, each as folded tokens
    specificity: Mapping[str, float]  # token -> 1 / the number of fields whose labels hold it
    compounds: tuple[str, ...]  # tokens of 5+ letters, also found inside longer words ("Brutto" in "Bruttosumme")
    has_totals: bool  # the index knows net, tax and total: "excluding"/"including" words may move a tax cue

    def present(self, folded: Sequence[str]) -> set[str]:
        """The label tokens ``folded`` words hold, as whole words or inside compounds."""
        found = {word for word in folded if word in self.specificity}
        for word in folded:
            if len(word) >= 6:
                found.update(token for token in self.compounds if token != word and token in word)
        return found

    def of_words(self, words: Iterable[str]) -> dict[str, float]:
        """How strongly a run of words points at each field (0 to 1)."""
        folded = [_token(word) for word in words]
        present = self.present([word for word in folded if word])
        scores: dict[str, float] = {}
        if not present:
            return scores
        for path, labels in self.labels.items():
            best = 0.0
            for label in labels:
                matched = [token for token in label if token in present]
                if matched:
                    share = len(matched) / len(label)
                    best = max(best, share * sum(self.specificity[t] for t in matched) / len(matched))
            if best > 0:
                scores[path] = best
        if TOTALS[1] in scores and self.has_totals:
            tax = scores[TOTALS[1]]
            if any(word in _EXCLUDING for word in folded):
                scores[TOTALS[0]] = max(scores.get(TOTALS[0], 0.0), tax)
                scores[TOTALS[1]] = 0.2 * tax
            elif any(word in _INCLUDING for word in folded):
                scores[TOTALS[2]] = max(scores.get(TOTALS[2], 0.0), tax)
                scores[TOTALS[1]] = 0.2 * tax
        return scores


def cue_index(labels: Labels, paths: Sequence[str]) -> CueIndex:
    key = tuple(
        (path, tuple(sorted(label for per in labels.get(path, {}).values() for label in per))) for path in paths
    )
    return _cue_index(key)


@lru_cache(maxsize=64)
def _cue_index(key: tuple[tuple[str, tuple[str, ...]], ...]) -> CueIndex:
    owners: dict[str, set[str]] = {}
    tokenised: dict[str, tuple[tuple[str, ...], ...]] = {}
    for path, labels in key:
        per_path = []
        for label in labels:
            tokens = tuple(
                token
                for token in (_token(part) for part in re.split(r"[\s/\-.]+", label))
                if len(token) >= 2 and token not in _STOP
            )
            if tokens:
                per_path.append(tokens)
                for token in tokens:
                    owners.setdefault(token, set()).add(path)
        tokenised[path] = tuple(per_path)
    specificity = {token: 1.0 / len(paths) for token, paths in owners.items()}
    compounds = tuple(sorted(token for token in specificity if len(token) >= 5))
    has_totals = set(TOTALS) <= {path for path, _labels in key}
    return CueIndex(labels=tokenised, specificity=specificity, compounds=compounds, has_totals=has_totals)


@dataclass(frozen=True)
class AmountCandidate:
    """An amount printed on the document, with how strongly its row points at each total."""

    value: float
    word: Word
    page: int
    order: float  # 0 at the top of the first page, 1 at the bottom of the last
    cues: Mapping[str, float]
    rightmost: bool  # the last amount of its row (a summary prints the value at the right end)
    row: tuple[int, int] = (0, 0)  # (page index, row index): where it is printed


# An amount OCR cut at its decimal mark on a thermal print, its two words joined by a space: "28. 81", "59 ,99".
CUT_AT_MARK = re.compile(r"\d{1,5}(?: [.,]|[.,] )\d{2}")
# A number with a table's rule read into its edge: "28,00|", "10,00!", "|-5,00", "[1,00" (a "!" before digits
# may be a "1" misread, so only after them).
_RULED_NUMBER = re.compile(r"^[|\[\]]*([-−(]?\d[\d.,'’]*\)?-?)[|!\[\]]*$")


def mended(row: Sequence[Word]) -> list[Word]:
    """``row``'s amounts as printed, undoing what OCR does to them: an amount cut at its decimal mark is one word
    again (its box around both parts; only where the gap is a character's, not a column's: "1. 20" is a position
    and a quantity), and a table's rule read into an amount's edge is left off ("28,00|")."""
    out: list[Word] = []
    for word in row:
        text = _strip_rule(word.text)
        if text != word.text:
            word = word.model_copy(update={"text": text})
        if out and CUT_AT_MARK.fullmatch(f"{out[-1].text} {word.text}"):
            before = out[-1]
            height = max(before.bbox[3] - before.bbox[1], word.bbox[3] - word.bbox[1])
            if word.bbox[0] - before.bbox[2] <= height:
                out.pop()
                box = union_bbox([before.bbox, word.bbox])
                word = Word(text=before.text + word.text, conf=min(before.conf, word.conf), bbox=box)
        out.append(word)
    return out


def _strip_rule(text: str) -> str:
    match = _RULED_NUMBER.match(text)
    return match.group(1) if match is not None else text


def _is_amount(text: str) -> bool:
    return bool(_AMOUNT_SHAPE.match(text.strip())) and parse_date(text) is None


def amount_candidates(
    document: Document, index: CueIndex, page_rows: Sequence[Sequence[Sequence[Word]]]
) -> list[AmountCandidate]:
    """Every amount with two decimals on the document, with the cues of the words left of it on its row and of
    the column header above it (a summary printed as a table: "Netto | MwSt | Brutto" over a row of amounts).
    ``page_rows``: each page's words grouped into rows, top to bottom, their amounts mended (:func:`mended`)."""
    out: list[AmountCandidate] = []
    pages = len(document.pages)
    for page_index, (page, rows) in enumerate(zip(document.pages, page_rows, strict=True)):
        for row_index, row in enumerate(rows):
            amounts = [i for i, w in enumerate(row) if _is_amount(w.text)]
            if not amounts:
                continue
            for position, i in enumerate(amounts):
                word = row[i]
                value = parse_amount(word.text)
                if value is None or "%" in word.text:
                    continue
                left = [w.text for w in row[:i] if not _is_amount(w.text)]
                cues = index.of_words(left[-6:])
                if not cues:
                    cues = _header_cues(word, rows[max(0, row_index - 3) : row_index], index)
                y = (word.bbox[1] + word.bbox[3]) / 2 / max(page.height, 1)
                out.append(
                    AmountCandidate(
                        value=abs(value),
                        word=word,
                        page=page.number,
                        order=(page_index + y) / max(pages, 1),
                        cues=cues,
                        rightmost=position == len(amounts) - 1,
                        row=(page_index, row_index),
                    )
                )
    return out


def _header_cues(word: Word, above: Sequence[Sequence[Word]], index: CueIndex) -> dict[str, float]:
    """Cues of the words printed right above ``word`` in its column (nearest row first)."""
    for row in reversed(above):
        over = [w.text for w in row if w.bbox[0] < word.bbox[2] and w.bbox[2] > word.bbox[0]]
        if over:
            cues = index.of_words(over)
            if cues:
                return {path: 0.8 * weight for path, weight in cues.items()}
            if any(_is_amount(text) for text in over):
                continue  # a row of amounts above: keep looking for the header
            return {}
    return {}


@dataclass(frozen=True)
class Pick:
    path: str
    value: float
    word: Word
    page: int
    score: float


def _score(candidate: AmountCandidate, path: str) -> float:
    cue = candidate.cues.get(path, 0.0)
    score = 0.3 + 0.4 * cue if cue > 0 else 0.0
    if score and candidate.rightmost:
        score += 0.05
    if score and path == "total_amount":
        score += 0.1 * candidate.order  # the amount to pay comes last
    return score


def _total_evidence(score: float, candidate: AmountCandidate, largest: float, printed: Mapping[float, int]) -> float:
    """A total's score with what amounts say without words: the largest one, printed again (as what was paid)."""
    repeats = printed.get(round(candidate.value, 2), 1) - 1 if candidate.value >= 0.5 * largest else 0
    largest_bonus = 0.3 if candidate.value == largest else 0.0
    if score == 0.0:
        if not (largest_bonus and (repeats or not candidate.cues)):
            return 0.0
        score = 0.2 + 0.1 * candidate.order
    return score + largest_bonus + 0.1 * min(repeats, 2)


def best_totals(candidates: Sequence[AmountCandidate]) -> dict[str, Pick]:
    """The net, tax and total that add up (within a cent) with the most cue support; else the total alone."""
    if not candidates:
        return {}
    largest = max(c.value for c in candidates)
    printed: dict[float, int] = {}
    for candidate in candidates:
        printed[round(candidate.value, 2)] = printed.get(round(candidate.value, 2), 0) + 1
    options: dict[str, list[tuple[float, AmountCandidate]]] = {}
    for path in TOTALS:
        scored = [(_score(c, path), c) for c in candidates]
        if path == "total_amount":
            # The amount to pay is the largest, and a till receipt prints it again as what was paid ("Karte 17,06",
            # "EUR 17,06"): both count, with or without a cue word.
            scored = [(_total_evidence(score, c, largest, printed), c) for score, c in scored]
        options[path] = sorted((s for s in scored if s[0] > 0), key=lambda s: -s[0])[:15]
    best: tuple[float, tuple[Pick, ...]] | None = None
    top_total = options["total_amount"][0] if options["total_amount"] else None
    for net_score, net in options["net_amount"]:
        for tax_score, tax in options["tax_amount"]:
            if tax.value > _MAX_TAX_RATE * net.value or tax.word is net.word:
                continue
            for total_score, total in options["total_amount"]:
                if abs(net.value + tax.value - total.value) > _CENT or total.word in (net.word, tax.word):
                    continue
                if net.value <= 0 or total.value <= 0:
                    continue
                if _one_rate_of_several(net, tax, total, total_score, top_total):
                    continue
                score = net_score + tax_score + total_score
                if best is None or score > best[0]:
                    best = (
                        score,
                        (
                            Pick("net_amount", net.value, net.word, net.page, net_score),
                            Pick("tax_amount", tax.value, tax.word, tax.page, tax_score),
                            Pick("total_amount", total.value, total.word, total.page, total_score),
                        ),
                    )
    if best is not None:
        return {pick.path: pick for pick in best[1]}
    if options["total_amount"]:
        score, total = options["total_amount"][0]
        return {"total_amount": Pick("total_amount", total.value, total.word, total.page, score)}
    return {}


def _one_rate_of_several(
    net: AmountCandidate,
    tax: AmountCandidate,
    total: AmountCandidate,
    total_score: float,
    top_total: tuple[float, AmountCandidate] | None,
) -> bool:
    """Whether net, tax and total printed on one row are one rate's line of a tax breakdown ("D 19,00% 1,50 0,28
    1,78") rather than the document's totals: a larger amount is better supported as the total to pay."""
    if not net.row == tax.row == total.row or top_total is None:
        return False
    top_score, top = top_total
    return top.value > total.value + _CENT and top_score > total_score


def amount_paths(kinds: Mapping[str, FieldKind]) -> bool:
    """Whether a type has the three totals this module reasons about."""
    return all(kinds.get(path) == "amount" for path in TOTALS)
