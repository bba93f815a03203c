"""The offline extractor's reading of user-defined types (a JSON Schema or pydantic type) on forms.

A user's type names its fields in the user's words (``date_of_birth``, "Date of birth"), not in the words a form
prints ("5. DATE OF BIRTH (MM/DD/YYYY)", "Patient's Name"). So the label hints (:mod:`extractors.types.hints`) are
matched loosely: every content word of a hint, in any order, within a short stretch of one row (possessives, number
signs and small words aside). A form prints its captions above or left of the boxes they name, and a caption may
run on past the hint ("(If applicable)"): the value is read right of the whole caption or in the box under it, by
the field's kind, ``pattern`` and options. Boxes that hold one letter each (comb fields) are read as one word. A
field inside an object (``claimant.city``) prefers the caption in the part of the form that names its object
("SECTION II: CLAIMANT'S ..."). Check boxes and option lists are read by :mod:`agents.offline_choices`.

Built-in types keep the label reading of :mod:`agents.offline`; :func:`revise` is its one call into this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz, process

from agents import offline as core
from agents.offline_choices import Mark, answer_near, mark_beside, mark_of, split_glued
from extractors.model import Document, Line, Page, Word
from extractors.normalize import fold, parse_date
from extractors.types import DocumentType, FieldSpec
from extractors.types.base import resolve_node

# Words that carry no meaning in a caption, in the languages docline reads.
_SMALL_WORDS = frozenset(
    word
    for words in (
        "a an and or of the for to in on at by with your my is are if as",  # en
        "de du des la le les et ou au aux d l un une",  # fr
        "der die das den dem des und oder von vom zu zum zur fur ihr ihre",  # de
        "el los las y o del al su sus",  # es
        "il lo gli i e di da dei della per",  # it
        "o os as do da dos das e em no na seu sua",  # pt
        "het een en of van voor uw",  # nl
    )
    for word in words.split()
)
_NUMBER_WORDS = frozenset({"no", "nr", "n", "num", "number", "numero", "nummer", "#", "n°", "nº", "no."})
_POSSESSIVE = re.compile(r"['’`]s$|['’`]$")
_MONTH_FIRST = re.compile(r"\bmm[/.\-]dd\b", re.IGNORECASE)
_LEADER = re.compile(r"^[.·…_\-▶►>:]+$")  # dots and arrows between a caption and its box
_ITEM_NUMBER = re.compile(r"^\d{1,2}[a-z]?\.?$")
FUZZY_WORD = 88  # as agents.offline's label words: OCR may drop an accent or confuse l/1
EXTRA_WORDS = 3  # words a caption may hold between a hint's words ("Date *of* Birth", "Name *as shown on* card")


@lru_cache(maxsize=1 << 14)
def _content(text: str) -> str:
    """A word as a caption's meaning: folded, possessive and punctuation stripped, number signs as ``number``."""
    token = _POSSESSIVE.sub("", core._PUNCT.sub("", fold(text)))
    return "number" if token in _NUMBER_WORDS else token


@lru_cache(maxsize=4096)
def _hint_words(hint: str) -> tuple[str, ...]:
    words = [_content(part) for part in re.split(r"[\s/]+", hint)]
    return tuple(word for word in words if word and word not in _SMALL_WORDS)


@dataclass(frozen=True)
class Caption:
    """Where a field's hint was found: the hint's words and the caption they start (through "(If applicable)")."""

    path: str
    page: Page
    row: int
    words: tuple[Word, ...]
    caption: tuple[Word, ...]
    quality: float
    part: tuple[int, int] | None = None  # (which, of how many) boxes under a caption listing parts


def reads(doc_type: DocumentType) -> bool:
    """Whether this module reads ``doc_type``'s fields: a user-defined type, whose labels are hints from its schema
    (a built-in type, or a module's own ``DOCUMENT_TYPE``, keeps the label reading of :mod:`agents.offline`)."""
    return doc_type.source != "builtin"


def revise(
    document: Document, doc_type: DocumentType, specs: dict[str, FieldSpec], candidates: list[core.Candidate]
) -> list[core.Candidate]:
    """The candidates the offline extractor chooses from: as found for built-in types, read as a form for a
    user-defined type."""
    return form_candidates(document, doc_type, specs) if reads(doc_type) else candidates


def form_candidates(document: Document, doc_type: DocumentType, specs: dict[str, FieldSpec]) -> list[core.Candidate]:
    leaves = {path: spec for path, spec in specs.items() if "[]" not in path}
    hints = {
        path: sorted({words for labels in per.values() for label in labels if (words := _hint_words(label))})
        for path, per in doc_type.labels.items()
        if path in leaves
    }
    objects = _object_words(doc_type)
    options = {
        words
        for spec in leaves.values()
        for option in spec.options
        for label in option.labels
        if (words := _hint_words(label))
    }
    out: list[core.Candidate] = []
    for page in document.pages:
        page, plain_rows = joined_combs(page)
        rows = [split_glued(row) for row in plain_rows]
        index = _TokenIndex(
            rows,
            {token for words in [*hints.values()] for hint in words for token in hint}
            | {token for option in options for token in option}
            | {token for title in objects.values() for token in title},
        )
        captions = [caption for path, words in hints.items() for caption in _find(page, rows, index, path, words)]
        stops = {id(word) for caption in captions for word in caption.caption}
        context = _Context(rows, index, objects, options)
        for caption in captions:
            spec = leaves[caption.path]
            weight = caption.quality * context.weight(caption)
            if spec.kind == "boolean":
                out.extend(_boolean(caption, rows, stops, weight))
            elif spec.kind == "choice":
                out.extend(_choice(caption, rows, spec, index, weight))
            else:
                out.extend(_values(caption, rows, spec, stops, weight))
        for spec in leaves.values():
            if spec.kind == "choice":
                out.extend(_marked_options(page, rows, spec, index))
    return out


def joined_combs(page: Page) -> tuple[Page, list[list[Word]]]:
    """``page`` with each run of one-character words at an even pitch (a comb field: one letter per box, or a
    letter-spaced word) joined into one word, and its rows."""
    rows = [_joined_row(row) for row in core._rows(page)]
    if sum(len(row) for row in rows) == len(page.words):
        return page, rows
    return page.model_copy(update={"lines": [Line(words=row) for row in rows]}), rows


def _joined_row(row: list[Word]) -> list[Word]:
    words: list[Word] = []
    run: list[Word] = []
    for word in [*row, None]:
        single = word is not None and len(word.text) == 1 and (word.text.isalnum() or word.text in "@.-_/+")
        if run and (not single or (word is not None and not _same_pitch(run, word))):
            if len(run) >= 2:
                words.append(core._block_word(run).model_copy(update={"text": "".join(w.text for w in run)}))
            else:
                words.extend(run)
            run = []
        if word is not None:
            (run if single else words).append(word)
    return words


def _same_pitch(run: list[Word], word: Word) -> bool:
    """Whether ``word`` continues the comb ``run``: its centre as far from the last letter's as the letters
    before are apart (comb boxes are evenly spaced), and for the second letter, within a few letter heights."""
    last = run[-1]
    height = max(w.bbox[3] - w.bbox[1] for w in [*run, word])
    pitch = (word.bbox[0] + word.bbox[2] - last.bbox[0] - last.bbox[2]) / 2
    if len(run) < 2:
        return 0 < pitch <= 2.6 * height
    before = (last.bbox[0] + last.bbox[2] - run[-2].bbox[0] - run[-2].bbox[2]) / 2
    return abs(pitch - before) <= 0.25 * max(before, 1.0)


class _TokenIndex:
    """A page's rows as caption words (a word printed ``State/Province`` is two), and which of them each word
    of the type's hints matches, fuzzy matches computed once per page."""

    def __init__(self, rows: list[list[Word]], wanted: set[str]) -> None:
        self.tokens: list[list[tuple[str, int]]] = []  # per row: (token, index of its word in the row)
        for row in rows:
            tokens: list[tuple[str, int]] = []
            for position, word in enumerate(row):
                for part in re.split(r"[/]", word.text) if "/" in word.text.strip("/") else [word.text]:
                    token = _content(part)
                    if token:
                        tokens.append((token, position))
            self.tokens.append(tokens)
        printed = {token for tokens in self.tokens for token, _ in tokens}
        self.similar: dict[str, dict[str, float]] = {}
        long_printed = [token for token in printed if len(token) >= 4]
        for token in wanted:
            found = {token: 1.0} if token in printed else {}
            if len(token) >= 5:
                for match, score, _ in process.extract(
                    token, long_printed, scorer=fuzz.ratio, score_cutoff=FUZZY_WORD, limit=None
                ):
                    found.setdefault(match, score / 100.0)
            self.similar[token] = found

        self._rows_for: dict[tuple[str, ...], list[int]] = {}
        self._rows_of: dict[str, set[int]] = {}
        for row_index, tokens in enumerate(self.tokens):
            for token, _position in tokens:
                self._rows_of.setdefault(token, set()).add(row_index)

    def rows_for(self, hint: tuple[str, ...]) -> list[int]:
        """The rows that may hold ``hint``: enough of its words are printed there."""
        cached = self._rows_for.get(hint)
        if cached is not None:
            return cached
        counts: dict[int, int] = {}
        for token in hint:
            rows = set().union(*(self._rows_of.get(printed, set()) for printed in self.similar.get(token, {})))
            for row in rows:
                counts[row] = counts.get(row, 0) + 1
        needed = _needed(hint)
        self._rows_for[hint] = sorted(row for row, count in counts.items() if count >= needed)
        return self._rows_for[hint]

    def span(self, row: int, hint: tuple[str, ...], *, sentence: bool = False) -> _Span | None:
        return _span(self.tokens[row], hint, self.similar, sentence=sentence)


@dataclass(frozen=True)
class _Span:
    start: int  # first and last+1 word of the row
    end: int
    score: float  # how well and how many of the hint's words matched (1.0: all, exactly)
    matched: tuple[int, ...]  # the row's words that matched a hint word


def _needed(hint: tuple[str, ...]) -> int:
    """How many of a hint's words must be printed: all of a short hint, 60 % of a longer one."""
    return len(hint) if len(hint) < 3 else max(2, -(-len(hint) * 3 // 5))


def _span(
    tokens: list[tuple[str, int]], hint: tuple[str, ...], similar: dict[str, dict[str, float]], *, sentence: bool
) -> _Span | None:
    """The shortest stretch of a row holding the hint's words in any order (all of them, or for a hint of three
    words and more, at least 60 %), with few other words between them: ``EXTRA_WORDS``, more in a sentence."""
    per_token = [similar.get(token, {}) for token in hint]
    if not any(per_token):
        return None
    needed = _needed(hint)
    window = len(hint) + (EXTRA_WORDS + 2 * len(hint) if sentence else EXTRA_WORDS)
    best: _Span | None = None
    for start, (token, _word) in enumerate(tokens):
        if not any(token in found for found in per_token):
            continue
        scores = [0.0] * len(hint)
        positions: list[int] = []
        last = start
        stop = min(len(tokens), start + window)
        for end in range(start, stop):
            printed, word = tokens[end]
            for place, found in enumerate(per_token):
                if scores[place] <= 0 and printed in found:
                    scores[place] = found[printed]
                    positions.append(word)
                    last = end
                    break
            hits = sum(score > 0 for score in scores)
            if hits == len(hint) or end + 1 == stop:
                if hits < needed:
                    break
                extra = (last + 1 - start) - hits
                score = (sum(scores) / len(hint)) * (1.0 - 0.04 * extra)
                span = _Span(tokens[start][1], tokens[last][1] + 1, score, tuple(positions))
                if best is None or span.score > best.score:
                    best = span
                break
    return best


def _find(
    page: Page, rows: list[list[Word]], index: _TokenIndex, path: str, hints: Sequence[tuple[str, ...]]
) -> list[Caption]:
    """Every place a hint's words stand together in one row; at one place, the best-matching hint."""
    found: dict[tuple[int, int], Caption] = {}
    for hint in hints:
        for row_index in index.rows_for(hint):
            row = rows[row_index]
            span = index.span(row_index, hint) or (
                index.span(row_index, hint, sentence=True) if len(hint) >= 3 else None
            )
            if span is None:
                continue
            # Longer hints say more: "claimant date of birth" over "date of birth" at the same place.
            quality = min(1.0, 0.55 + 0.15 * len(hint)) * span.score
            key = (row_index, span.start)
            if key in found and found[key].quality >= quality:
                continue
            caption = _caption(row, span)
            found[key] = Caption(
                path, page, row_index, tuple(row[span.start : span.end]), caption, quality, _part(row, caption, span)
            )
    return list(found.values())


def _caption(row: list[Word], span: _Span) -> tuple[Word, ...]:
    """The caption the hint's words stand in: the words printed close before and after them on the row
    ("Number, *street*, and room or suite no.", "Date of Birth (mm/dd/yyyy)")."""
    start, end = span.start, span.end
    height = core._height(row[start:end])
    while start > 0 and row[start].bbox[0] - row[start - 1].bbox[2] <= 1.0 * height:
        start -= 1
    while end < len(row) and row[end].bbox[0] - row[end - 1].bbox[2] <= 1.0 * height:
        if row[end - 1].text.endswith(":") or _LEADER.match(row[end].text) or mark_of(row[end]) is not None:
            break  # a colon ends a caption; leader dots and a box come after it
        end += 1
    return tuple(row[start:end])


def _part(row: list[Word], caption: tuple[Word, ...], span: _Span) -> tuple[int, int] | None:
    """Which of the parts a caption lists in parentheses the hint named, and how many there are: "NAME (First,
    Middle Initial, Last)" has three boxes under it, and "Last name" is the third."""
    words = [w.text for w in caption]
    opening = next((i for i, text in enumerate(words) if text.startswith("(")), None)
    if opening is None:
        return None
    closing = next((i for i in range(opening, len(words)) if words[i].rstrip(".,;:").endswith(")")), None)
    if closing is None:
        return None
    first = next(i for i, w in enumerate(row) if w is caption[0])
    inside = [first + i for i in range(opening, closing + 1)]
    if not any(word in inside for word in span.matched):
        return None
    parts: list[int] = []  # the part each word inside the parentheses belongs to
    part = 0
    for i in range(opening, closing + 1):
        parts.append(part)
        if words[i].rstrip(")").endswith(","):
            part += 1
    if part == 0:
        return None
    named = next(parts[word - inside[0]] for word in span.matched if word in inside)
    return named, part + 1


def _object_words(doc_type: DocumentType) -> dict[str, tuple[str, ...]]:
    """Each object's path (``claimant``) and the words of its title, from the schema."""
    out: dict[str, tuple[str, ...]] = {}

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        node = resolve_node(doc_type.json_schema, node)
        for name, child in (node.get("properties") or {}).items():
            child_path = f"{path}.{name}" if path else str(name)
            resolved = resolve_node(doc_type.json_schema, child) if isinstance(child, dict) else {}
            if "properties" in resolved:
                title = resolved.get("title") if isinstance(resolved.get("title"), str) else str(name)
                words = _hint_words(str(title).replace("_", " "))
                if words:
                    out[child_path] = words
                walk(resolved, child_path)

    walk(doc_type.json_schema, "")
    return out


class _Context:
    """Which object of the type each part of the page is about: the nearest row above naming one object alone
    (its title's words in one block), rows listing a field's options aside ("SPOUSE CHILD VETERAN SERVICE
    OFFICER" names no section)."""

    def __init__(
        self,
        rows: list[list[Word]],
        index: _TokenIndex,
        objects: dict[str, tuple[str, ...]],
        options: set[tuple[str, ...]],
    ) -> None:
        listing = {row for option in options for row in index.rows_for(option) if index.span(row, option)}
        self._named: list[set[str]] = [set() for _ in rows]
        for path, title in objects.items():
            for row_index in index.rows_for(title):
                span = index.span(row_index, title)
                if row_index not in listing and span is not None and len(span.matched) == len(title):
                    self._named[row_index].add(path)

    def weight(self, caption: Caption) -> float:
        owners = {caption.path.rsplit(".", depth)[0] for depth in range(1, caption.path.count(".") + 1)}
        if not owners:
            return 1.0
        for index in range(caption.row, -1, -1):
            named = self._named[index]
            if len(named) == 1:
                return 1.0 if named <= owners else 0.6
        return 0.8


def _right(caption: Caption, rows: list[list[Word]], stops: set[int]) -> tuple[list[Word], float]:
    """The words right of the caption on its row up to a wide gap or another caption, and how far right of the
    caption they start (in line heights; leader dots between them count as no distance). A line's number
    printed again before its amount ("6 Tentative total tax . . . 6  18,460") is passed over."""
    row = rows[caption.row]
    height = core._height(caption.caption)
    end = caption.caption[-1].bbox[2]
    edge = end
    item = core._PUNCT.sub("", row[0].text) if row else ""
    out: list[Word] = []
    for word in row:
        if word.bbox[0] < end - 1 or any(word is w for w in caption.caption):
            continue
        if id(word) in stops:
            break
        if out and word.bbox[0] - out[-1].bbox[2] > 2.5 * height:
            if not (len(out) == 1 and _is_item(out[0].text, item)):
                break
            out = []
        if not out and _LEADER.match(word.text):
            edge = word.bbox[2]
            continue
        out.append(word)
    return out, ((out[0].bbox[0] - edge) / height if out else 0.0)


def _is_item(text: str, item: str) -> bool:
    """Whether ``text`` is a line's item number ("6", "1a", "25d"): the row's first word again, or that shape."""
    return core._PUNCT.sub("", text) == item or _ITEM_NUMBER.match(text) is not None


def _under(caption: Caption, rows: list[list[Word]], stops: set[int]) -> tuple[list[Word], bool]:
    """The words in the box under the caption: the next row within a few line heights with words in the caption's
    column (from the caption to the next caption on its row), and whether they start where the caption starts (a
    box's caption and its value are left-aligned). A caption listing parts ("(First, Middle Initial, Last)") over
    as many boxes gives the named part's box."""
    x0 = caption.caption[0].bbox[0]
    bottom = max(w.bbox[3] for w in caption.caption)
    height = core._height(caption.caption)
    end = caption.caption[-1].bbox[2]
    following = [w.bbox[0] for w in rows[caption.row] if w.bbox[0] > end + 1.0 * height]
    limit = min(following, default=float("inf"))
    for row in rows[caption.row + 1 :]:
        top = min(w.bbox[1] for w in row)
        if top - bottom > 6.0 * height:
            break
        column = [w for w in row if x0 - height < w.bbox[2] and w.bbox[0] < limit - 0.5 * height]
        if any(id(w) in stops for w in column):
            return [], False  # the next caption: this box is empty
        if not column:
            continue
        aligned = abs(column[0].bbox[0] - x0) <= 2.0 * height
        if caption.part is not None:
            which, parts = caption.part
            if len(column) == parts:
                return [column[which]], aligned
            blocks = core._blocks(column)
            if len(blocks) == parts:
                return blocks[which], aligned
        return column, aligned
    return [], False


def _values(
    caption: Caption, rows: list[list[Word]], spec: FieldSpec, stops: set[int], weight: float
) -> list[core.Candidate]:
    """The value right of the caption (preferred when close to it or after a colon or leader dots) and the
    value in the box under it."""
    month_first = _MONTH_FIRST.search(" ".join(w.text for w in caption.caption)) is not None
    out: list[core.Candidate] = []
    right, distance = _right(caption, rows, stops)
    if right:
        read = read_value(spec, right, month_first, rows[caption.row])
        if read is not None:
            close = caption.caption[-1].text.endswith(":") or distance <= 6.0
            out.append(
                core.Candidate(spec.path, read[0], read[1], caption.page.number, weight * (0.95 if close else 0.75))
            )
    under, aligned = _under(caption, rows, stops)
    if under:
        read = read_value(spec, under, month_first, under)
        if read is not None:
            out.append(
                core.Candidate(spec.path, read[0], read[1], caption.page.number, weight * (0.9 if aligned else 0.7))
            )
    return out


def read_value(
    spec: FieldSpec, words: Sequence[Word], month_first: bool, row: Sequence[Word]
) -> tuple[Any, tuple[Word, ...]] | None:
    """The value of ``spec`` at the start of ``words``: by kind, matching the field's ``pattern``, one of its
    options; ``row`` is the caption's row (an item number starting it is printed again before the amount)."""
    kept = [w for w in words if core._PUNCT.sub("", w.text) or w.text.strip() in ("€", "$", "£", "%")]
    if not kept:
        return None
    if spec.kind in ("amount", "number", "int"):
        item = core._PUNCT.sub("", row[0].text) if row else ""
        while len(kept) > 1 and _is_item(kept[0].text, item):
            if not any(ch.isdigit() for ch in kept[1].text):
                break
            kept = kept[1:]  # "6 Tentative total tax ....  6  18,460": the line's number, then its amount
    if spec.kind == "date":
        return _date(kept, month_first)
    if spec.pattern is not None:
        return _matching(kept, spec.pattern)
    if spec.options:
        return _option_in(kept, spec)
    return core._read(spec.kind, kept, labelled=True)


def _date(words: Sequence[Word], month_first: bool) -> tuple[Any, tuple[Word, ...]] | None:
    for end in range(min(len(words), 6), 0, -1):
        part = words[:end]
        texts = [w.text for w in part]
        joined = "/".join(texts) if end == 3 and all(t.isdigit() for t in texts) else " ".join(texts)
        parsed = parse_date(joined, day_first=not month_first)
        if parsed is not None:
            return parsed.isoformat(), tuple(part)
    return core._read("date", words, labelled=True)


def _matching(words: Sequence[Word], pattern: str) -> tuple[Any, tuple[Word, ...]] | None:
    """The first run of words (starting within the first three) that matches ``pattern`` as printed or with the
    spaces between its words left out (a number printed in groups, or one box per group)."""
    try:
        compiled = re.compile(pattern)
    except re.error:
        return None
    for start in range(min(len(words), 3)):
        for end in range(min(len(words), start + 6), start, -1):
            part = words[start:end]
            for text in (" ".join(w.text for w in part), "".join(w.text for w in part)):
                if compiled.fullmatch(text) or compiled.fullmatch(text.strip(".,;:")):
                    return text.strip(".,;:"), tuple(part)
    return None


def _option_labels(spec: FieldSpec) -> list[tuple[Any, tuple[str, ...]]]:
    return [
        (option.value, words) for option in spec.options for label in option.labels if (words := _hint_words(label))
    ]


def _option_in(words: Sequence[Word], spec: FieldSpec) -> tuple[Any, tuple[Word, ...]] | None:
    """An option printed as the value (a country, a unit): the first of the words, when an option names it."""
    tokens = [(token, i) for i, w in enumerate(words[:8]) if (token := _content(w.text))]
    for value, hint in _option_labels(spec):
        similar = {token: {token: 1.0} for token in hint}
        span = _span(tokens, hint, similar, sentence=False)
        if span is not None and span.start == 0 and span.score >= 0.999:
            return value, tuple(words[span.start : span.end])
    return None


def _boolean(caption: Caption, rows: list[list[Word]], stops: set[int], weight: float) -> list[core.Candidate]:
    """A check box's state: a marked yes or no on the caption's row, a box beside the caption or at the end of its
    sentence (``check here . . . ▶ ✔``), or a marked yes or no in the rows just under it that hold no other
    caption; no mark at all is an unticked box (a flattened form prints nothing in an empty box), said with less
    confidence."""
    page = caption.page.number
    answer = answer_near(rows[caption.row])
    if answer is not None:
        return [core.Candidate(caption.path, answer, caption.words, page, weight)]
    mark = mark_beside(caption.caption, rows[caption.row], leaders=True)
    height = core._height(caption.caption)
    bottom = max(w.bbox[3] for w in caption.caption)
    for row in rows[caption.row + 1 : caption.row + 3]:
        if mark is not None or min(w.bbox[1] for w in row) - bottom > 1.0 * height:
            break
        # The caption's sentence runs on to this row: its box is at the row's end.
        mark = _last_mark(row)
        bottom = max(w.bbox[3] for w in row)
    if mark is not None:
        return [core.Candidate(caption.path, mark.checked, (mark.word,), page, weight)]
    for row in rows[caption.row + 1 : caption.row + 3]:
        if any(id(word) in stops for word in row):
            break
        answer = answer_near(row)
        if answer is not None:
            return [core.Candidate(caption.path, answer, caption.words, page, 0.9 * weight)]
    return [core.Candidate(caption.path, False, caption.words, page, 0.5 * weight)]


def _last_mark(row: list[Word]) -> Mark | None:
    """A box ending a row after leader dots and arrows (``check here . . . . ▶ ✔``)."""
    if not row:
        return None
    last = mark_of(row[-1])
    if last is None or len(row) < 2 or not (_LEADER.match(row[-2].text) or last.word.text not in ("X", "x")):
        return None
    return last


def _choice(
    caption: Caption, rows: list[list[Word]], spec: FieldSpec, index: _TokenIndex, weight: float
) -> list[core.Candidate]:
    """The option marked in the rows at and just under the field's caption."""
    out: list[core.Candidate] = []
    for offset in range(4):
        row_index = caption.row + offset
        if row_index >= len(rows):
            break
        for value, words, checked in _options_in_row(rows[row_index], row_index, spec, index):
            if checked:
                score = weight * (1 - 0.1 * offset)
                out.append(core.Candidate(caption.path, value, words, caption.page.number, score))
    return out


def _marked_options(page: Page, rows: list[list[Word]], spec: FieldSpec, index: _TokenIndex) -> list[core.Candidate]:
    """A marked option anywhere on the page, for a choice whose caption the page words differently."""
    out: list[core.Candidate] = []
    for row_index, row in enumerate(rows):
        for value, words, checked in _options_in_row(row, row_index, spec, index):
            if checked:
                out.append(core.Candidate(spec.path, value, words, page.number, 0.4))
    return out


def _options_in_row(
    row: list[Word], row_index: int, spec: FieldSpec, index: _TokenIndex
) -> list[tuple[Any, tuple[Word, ...], bool]]:
    """The options of ``spec`` printed in ``row`` with a box beside them: (value, words, whether it is marked)."""
    out: list[tuple[Any, tuple[Word, ...], bool]] = []
    for value, hint in _option_labels(spec):
        if row_index not in index.rows_for(hint):
            continue
        span = index.span(row_index, hint) or (index.span(row_index, hint, sentence=True) if len(hint) >= 3 else None)
        if span is None or span.score < 0.6:
            continue
        words = tuple(row[span.start : span.end])
        mark = mark_beside(words, row)
        if mark is not None:
            out.append((value, words, mark.checked))
    return out
