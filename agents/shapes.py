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

from extractors.model import Document, Word
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
    """Label words per field: ``token -> {path: weight}``; a word shared by n fields weighs 1/n for each."""

    weights: Mapping[str, Mapping[str, float]]
    compounds: tuple[tuple[str, Mapping[str, float]], ...]  # tokens of 5+ letters, matched inside longer words
    has_totals: bool  # the index knows net, tax and total: "excluding"/"including" words may move a tax cue

    def of_word(self, word: str) -> dict[str, float]:
        """Which fields ``word`` (folded, stripped) points at, and how strongly."""
        found = dict(self.weights.get(word, {}))
        if len(word) >= 6:
            for token, per_path in self.compounds:
                if token != word and token in word:
                    for path, weight in per_path.items():
                        found[path] = max(found.get(path, 0.0), 0.8 * weight)
        return found

    def of_words(self, words: Iterable[str]) -> dict[str, float]:
        """The fields a run of words points at: per field the strongest word, plus a quarter of the next."""
        per_path: dict[str, list[float]] = {}
        folded = [_token(word) for word in words]
        for word in folded:
            if not word:
                continue
            for path, weight in self.of_word(word).items():
                per_path.setdefault(path, []).append(weight)
        scores = {path: min(1.0, _strongest(weights)) for path, weights in per_path.items()}
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
    for path, labels in key:
        for label in labels:
            for part in re.split(r"[\s/\-.]+", label):
                token = _token(part)
                if len(token) >= 2 and token not in _STOP:
                    owners.setdefault(token, set()).add(path)
    weights = {token: {path: 1.0 / len(paths) for path in paths} for token, paths in owners.items()}
    compounds = tuple((token, per) for token, per in sorted(weights.items()) if len(token) >= 5)
    has_totals = set(TOTALS) <= {path for path, _labels in key}
    return CueIndex(weights=weights, compounds=compounds, has_totals=has_totals)


def _strongest(weights: list[float]) -> float:
    ordered = sorted(weights, reverse=True)
    return ordered[0] + (0.25 * ordered[1] if len(ordered) > 1 else 0.0)


@dataclass(frozen=True)
class AmountCandidate:
    """An amount printed on the document, with how strongly its row points at each total."""

    value: float
    word: Word
    page: int
    order: float  # 0 at the top of the first page, 1 at the bottom of the last
    cues: Mapping[str, float]
    rightmost: bool  # the last amount of its row (a summary prints the value at the right end)


def _is_amount(text: str) -> bool:
    return bool(_AMOUNT_SHAPE.match(text.strip())) and parse_date(text) is None


def amount_candidates(
    document: Document, index: CueIndex, page_rows: Sequence[Sequence[Sequence[Word]]]
) -> list[AmountCandidate]:
    """Every amount with two decimals on the document, with the cues of the words left of it on its row and of
    the column header above it (a summary printed as a table: "Netto | MwSt | Brutto" over a row of amounts).
    ``page_rows``: each page's words grouped into rows, top to bottom."""
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


def best_totals(candidates: Sequence[AmountCandidate]) -> dict[str, Pick]:
    """The net, tax and total that add up (within a cent) with the most cue support; else the total alone."""
    if not candidates:
        return {}
    largest = max(c.value for c in candidates)
    options: dict[str, list[tuple[float, AmountCandidate]]] = {}
    for path in TOTALS:
        scored = [(_score(c, path), c) for c in candidates]
        if path == "total_amount":
            # The largest amount printed last is the total even with no cue word (a till receipt's bare "EUR").
            scored += [(0.2 + 0.1 * c.order, c) for c in candidates if c.value == largest and not c.cues]
        options[path] = sorted((s for s in scored if s[0] > 0), key=lambda s: -s[0])[:15]
    best: tuple[float, tuple[Pick, ...]] | None = None
    for net_score, net in options["net_amount"]:
        for tax_score, tax in options["tax_amount"]:
            if tax.value > _MAX_TAX_RATE * net.value or tax.word is net.word:
                continue
            for total_score, total in options["total_amount"]:
                if abs(net.value + tax.value - total.value) > _CENT or total.word in (net.word, tax.word):
                    continue
                if net.value <= 0 or total.value <= 0:
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


def amount_paths(kinds: Mapping[str, FieldKind]) -> bool:
    """Whether a type has the three totals this module reasons about."""
    return all(kinds.get(path) == "amount" for path in TOTALS)
