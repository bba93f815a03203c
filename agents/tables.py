"""Line-item tables (an array field's table, ``line_items[]``) read row by row across pages, and what the table
prints, for the completeness check of the invoice rules (``extractors/rules/invoice.py``).

The header is found once: a row naming at least two of the array's columns, one of them numeric (German compounds
count: "Nettobetrag" names the amount column, "Nettopreis" the unit price). Below it, rows are grouped into items:
an item starts at a row with a position number, or at a row with an amount in the amount column; rows without either
continue the item above (a wrapped description, a serial number, the amount printed on the item's second line),
unless the table prints each item's values on the last line of its description (its first item's text fills the
description column and goes on on the values' line): then they begin the next item. A totals row ends the table
unless item rows follow it (a section's subtotal; one that is no sum of the items above is kept as a doubtful row)
or a later page prints the header again (the sums were the page's); a carried-forward row or the foot of the page
does not end it: the table continues on the next page, under a repeated header or, without one, from the first row
whose amount sits in the amount column. Each item's values keep the boxes of the words they were read from, so every
row has its own provenance.

What the table prints (every item row with its amount and position number, the surcharges and discounts printed
between the table and the totals) is a :class:`extractors.rules.PrintedTable`: the rules compare any extraction
(offline or a model's) against it.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cachetools import LRUCache

from agents import offline as core
from agents.models import ExtractionMethod, FieldValue
from agents.provenance import field_from_match, leaf_values, locate, spec_path
from agents.shapes import TOTALS, CueIndex, cue_index, mended
from extractors.model import BBox, Document, Line, Page, Word
from extractors.normalize import fold, parse_amount
from extractors.rules import PrintedRow, PrintedTable, number
from extractors.types import DocumentType, FieldKind, Labels
from extractors.validation import ValidationReport, validate

# Words heading a column of position numbers ("Pos", "Nr.", "#").
_POSITION_WORDS = frozenset(
    ["pos", "position", "posnr", "nr", "no", "n", "nº", "n°", "#", "lfd", "lfdnr", "line", "ln", "zeile", "ligne"]
)
_POSITION = re.compile(r"^[1-9]\d{0,3}\.?$")  # "0815" is an article number
# A table continuing on the next page prints its running sum at the foot and again at the head of the next page.
_CARRIED = re.compile(
    r"\b(ubertrag|uebertrag|vortrag|carried|brought|forward|c/f|b/f|a reporter|report|reporte|riporto|riportare|"
    r"suma y sigue|suma anterior|transporte|transport|transfer)\b"
)
# Surcharges and discounts printed between the table and its totals: they explain lines that do not add up to
# the net amount. A discount's word makes its amount negative when it is printed without a sign.
_SURCHARGE = re.compile(
    r"zuschlag|\b(versand|fracht|porto|verpackung|shipping|freight|delivery|postage|handling|surcharge|frais de port|"
    r"port|emballage|envio|gastos de envio|spedizione|spese di spedizione|trasporto|verzend|vracht|portes)"
)
_DISCOUNT = re.compile(r"(rabatt|nachlass|abschlag|discount|remise|rabais|descuento|sconto|korting|desconto|reduction)")
# A line saying how many items the document lists: the items read must come to as many.
_ITEM_COUNT = re.compile(
    r"\b(?:anzahl (?:der )?(?:positionen|artikel|posten)|positionen gesamt|number of (?:items|lines|line items)|"
    r"total (?:number of )?(?:items|lines)|item count|nombre (?:d'articles|de lignes|d'articles factures)|"
    r"aantal (?:artikelen|regels)|numero de (?:articulos|lineas)|numero (?:di )?articoli)\s*:?\s*(\d{1,4})\b"
)
_NUMERIC = ("amount", "number", "int")
# Units spelled out after a quantity ("1.00 Units", "2 Stück", "3 heures"); shorter ones ("kg", "Stk.", "h") are
# taken by their length alone.
# fmt: off
_UNIT_WORDS = frozenset(
    [
        "unit", "units", "piece", "pieces", "items", "hour", "hours", "days", "weeks", "month", "months", "meter",
        "metre", "meters", "metres", "liter", "litre", "liters", "litres", "pack", "packs", "boxes", "pairs", "stuck",
        "stueck", "stunde", "stunden", "tage", "woche", "wochen", "monat", "monate", "paar", "packung", "packungen",
        "rolle", "rollen", "karton", "kartons", "flasche", "flaschen", "unite", "unites", "heure", "heures", "jours",
        "mois", "paire", "paires", "boite", "boites", "unidad", "unidades", "horas", "dias", "meses", "pieza", "piezas",
        "caja", "cajas", "pezzo", "pezzi", "unita", "giorni", "mesi", "scatola", "stuks", "uren", "dagen", "maanden",
        "doos", "dozen", "unidade", "caixa", "caixas",
    ]
)
# fmt: on
_CURRENCY_WORDS = ("€", "$", "£")
# Money in a table prints its cents, a currency sign or thousands groups: a bare "3" is a page number or a count.
# OCR reads a yen sign as a backslash, and may read a speck after the cents as a full stop ("353,77.").
_MONEY = re.compile(r"[.,]\d{2,4}\)?-?[,;.]?$|[€$£¥]|^[\\¥]?\d{1,3}(?:[.,' ]\d{3})+$")
_GROUP = re.compile(r"^\d{3}(?:[.,]\d{1,4})?$")  # a thousands group printed as a word of its own
# A table cell holding a number holds nothing else (a currency sign at most): "SDMPP373MPP15" is a serial number.
_NUMBER_SHAPE = re.compile(r"^[-+−(]?(?:[€$£¥\\]|[A-Z]{3})?\s?[-−]?\d[\d.,'’\u202f ]*(?:[€$£]|[A-Z]{3})?[)\-]?[,;]?$")
# A day and month without the year ("bis spätestens 23.12. garantiert"): a date in a sentence, not money.
_DAY_AND_MONTH = re.compile(r"^(?:0?[1-9]|[12]\d|3[01])\.(?:0[1-9]|1[0-2])\.$")
# A till receipt prints each item's tax class after its amount: "Butter 2,19 A", "Dübel 9,70 1", "Pfand 0,25 *".
_TAX_CLASS = re.compile(r"^(?:[A-H]|\d|\*)$")


@dataclass
class _Item:
    """One printed item: the rows it spans on one page and the values read from them."""

    page: Page
    rows: list[list[Word]] = field(default_factory=list)
    cells: dict[str, tuple[Any, tuple[Word, ...]]] = field(default_factory=dict)
    position: int | None = None
    amount: float | None = None
    description_x: float | None = None  # where its description starts: wrapped lines start there too
    open_description: bool = True  # wrapped description lines may still follow


@dataclass
class _Table:
    """A table's header geometry (carried to later pages) and what was read under it."""

    array: str
    headers: list[core.LabelHit]  # left to right, the position column left out
    position: core.LabelHit | None
    height: float
    width: float
    items: list[_Item] = field(default_factory=list)
    adjustments: list[float] = field(default_factory=list)
    ended: bool = False  # the totals were printed: later pages hold no more rows
    # Rows passed over between the items as sums whose amount is no sum of the items above: items, perhaps, that
    # the reading left out (see ``PrintedTable.doubtful``).
    doubtful: list[tuple[Page, list[Word], float]] = field(default_factory=list)
    section: int = 0  # the first item after the last subtotal
    values_last: bool = False  # items print their description first, their values on its last line
    unnamed: list[tuple[float, float]] = field(default_factory=list)  # heading words of columns not read (x ranges)


@dataclass(frozen=True)
class ItemTables:
    """What :func:`read_item_tables` found: each item's values (item-relative paths ``line_items.3.amount``, in
    reading order) and what each table prints."""

    candidates: list[core.Candidate]
    printed: list[PrintedTable]


def read_item_tables(
    document: Document,
    doc_type: DocumentType,
    kinds: dict[str, FieldKind],
    page_rows: Sequence[list[list[Word]]] | None = None,
) -> ItemTables:
    """Every array field's table in ``document``, read across its pages. ``page_rows``: each page's rows
    (``offline.visual_rows``, their amounts ``shapes.mended``), when the caller has them already."""
    if page_rows is not None:
        rows_of = list(page_rows)
    else:
        rows_of = [[mended(row) for row in core.visual_rows(page)] for page in document.pages]
    candidates: list[core.Candidate] = []
    printed: list[PrintedTable] = []
    count = _printed_count(rows_of)
    for array, columns in _arrays(doc_type).items():
        table = _read_table(document, rows_of, doc_type, kinds, array, columns)
        if table is None:
            # Read, and no table found: the items are checked still.
            printed.append(PrintedTable(array=array, count=count))
            continue
        index = 0
        for item in table.items:
            if not any(_kind(kinds, array, path) in ("amount", "number") for path in item.cells):
                continue
            for path, (value, words) in item.cells.items():
                candidates.append(core.Candidate(f"{array}.{index}.{path}", value, words, item.page.number, 0.8))
            index += 1
        printed.append(
            PrintedTable(
                array=array,
                rows=[
                    PrintedRow(
                        page=item.page.number,
                        bbox=_box([w for row in item.rows for w in row]),
                        amount=item.amount,
                        position=item.position,
                    )
                    for item in table.items
                ],
                adjustments=table.adjustments,
                doubtful=[
                    PrintedRow(page=page.number, bbox=_box(words), amount=amount)
                    for page, words, amount in table.doubtful
                ],
                count=count,
            )
        )
    return ItemTables(candidates=candidates, printed=printed)


def _printed_count(page_rows: Sequence[list[list[Word]]]) -> int | None:
    """How many items the document says it lists ("Anzahl Positionen: 12"), if it says so (once)."""
    for rows in page_rows:
        for row in rows:
            match = _ITEM_COUNT.search(fold(" ".join(w.text for w in row)))
            if match is not None:
                return int(match.group(1))
    return None


class _Remembered:
    """The last few documents' printed tables: validation runs several times per step (extract, score, repair)."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._entries: LRUCache[tuple[int, str], tuple[DocumentType, list[PrintedTable]]] = LRUCache(size)

    def get(self, document: Document, doc_type: DocumentType) -> list[PrintedTable]:
        key = (id(doc_type), hashlib.blake2b(document.model_dump_json().encode(), digest_size=20).hexdigest())
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] is doc_type:
            return entry[1]
        kinds = {spec.path: spec.kind for spec in doc_type.fields()}
        printed = read_item_tables(document, doc_type, kinds).printed
        with self._lock:
            self._entries[key] = (doc_type, printed)
        return printed


_REMEMBERED = _Remembered(64)


def printed_tables(document: Document, doc_type: DocumentType) -> list[PrintedTable]:
    """What ``document``'s line-item tables print (rows, their amounts and position numbers, surcharges and
    discounts), for checking any extraction of it."""
    if not _arrays(doc_type):
        return []
    return _REMEMBERED.get(document, doc_type)


def validate_read(
    doc_type: DocumentType, data: dict[str, Any], document: Document, language: str | None = None
) -> ValidationReport:
    """``data`` validated as read from ``document``: the type's rules, and its table rules against the tables the
    document prints (an item table read incompletely is an error, ``line_items_incomplete``)."""
    printed = printed_tables(document, doc_type) if doc_type.table_rules else []
    return validate(doc_type, data, language if language is not None else document.language, printed)


def row_provenance(
    document: Document,
    doc_type: DocumentType,
    data: dict[str, Any],
    fields: dict[str, FieldValue],
    source: ExtractionMethod,
) -> dict[str, FieldValue]:
    """``fields`` with each line item's values located within the printed row of the same amount: a model names
    values, not where it read them, and an amount or description printed on two rows must point at its own."""
    kinds = {spec.path: spec.kind for spec in doc_type.fields()}
    pages = {page.number: page for page in document.pages}
    out = dict(fields)
    for table in printed_tables(document, doc_type):
        items = data.get(table.array)
        if not isinstance(items, list):
            continue
        free = list(table.rows)
        for index, item in enumerate(items):
            amount = number(item, "amount") if isinstance(item, dict) else None
            row = next(
                (r for r in free if r.amount is not None and amount is not None and abs(r.amount - amount) < 0.005),
                None,
            )
            if row is None or row.page not in pages:
                continue
            free.remove(row)
            page = pages[row.page]
            x0, y0, x1, y1 = row.bbox
            words = [
                w
                for w in page.words
                if w.bbox[0] >= x0 - 1 and w.bbox[2] <= x1 + 1 and w.bbox[1] >= y0 - 1 and w.bbox[3] <= y1 + 1
            ]
            if not words:
                continue
            only_row = document.model_copy(update={"pages": [page.model_copy(update={"lines": [Line(words=words)]})]})
            for path, value in leaf_values(item, f"{table.array}.{index}"):
                match = locate(only_row, value, kinds.get(spec_path(path), "text"))
                if match is not None:
                    out[path] = field_from_match(value, match, source)
    return out


# --- the header ------------------------------------------------------------------------------------------------


def _arrays(doc_type: DocumentType) -> dict[str, Labels]:
    arrays: dict[str, Labels] = {}
    for path, per_language in doc_type.labels.items():
        if "[]." in path:
            array, column = path.split("[].", 1)
            if "." not in column:
                arrays[array] = {**arrays.get(array, {}), column: per_language}
    return arrays


def _kind(kinds: dict[str, FieldKind], array: str, path: str) -> FieldKind:
    return kinds.get(f"{array}[].{path}", "text")


def _compound_hits(page: Page, row: list[Word], columns: Labels, found: set[str]) -> list[core.LabelHit]:
    """Header words that end in a column's one-word label ("Nettobetrag", "Positionsbetrag" end in "Betrag"):
    German joins a column's label to what it qualifies."""
    hits: list[core.LabelHit] = []
    for path, per_language in columns.items():
        if path in found:
            continue
        tokens = {core._token(label) for labels in per_language.values() for label in labels if " " not in label}
        tokens = {token for token in tokens if len(token) >= 5}
        for word in row:
            token = core._token(word.text)
            if any(token != t and token.endswith(t) for t in tokens):
                hits.append(core.LabelHit(path=path, page=page, words=(word,), label_tokens=len(token), quality=0.9))
                break
    return hits


_FIRST_ROWS = 3  # the rows under a header whose values show a column no heading names


def _header(
    page: Page, rows: list[list[Word]], columns: Labels, kinds: dict[str, FieldKind], array: str, cues: CueIndex
) -> tuple[int, list[core.LabelHit], core.LabelHit | None, list[tuple[float, float]]] | None:
    """The first header on ``page``: the index of its last row, its column headers left to right (with those printed
    on the rows just above or below it, "Positionsbetrag" under "Menge"), the position column's header, and where
    (left, right) its other heading words stand: columns the array does not read ("Code article", "GTIN")."""
    hits = core._find_labels(page, rows, columns)
    by_row: dict[int, list[core.LabelHit]] = {}
    row_of = {id(word): index for index, row in enumerate(rows) for word in row}
    for hit in hits:
        by_row.setdefault(row_of[id(hit.words[0])], []).append(hit)
    for index, row in enumerate(rows):
        found = by_row.get(index, [])
        found = found + _compound_hits(page, row, columns, {hit.path for hit in found})
        paths = {hit.path for hit in found}
        if len(paths) < 2 or not any(_kind(kinds, array, path) in _NUMERIC for path in paths):
            continue
        if any(core._read("amount", [word]) is not None for word in row):
            continue  # a row of values, not of headers
        height = core._height([w for hit in found for w in hit.words])
        band = [row]
        # A header printed over two or three lines: the columns named on the rows right above or below.
        for near in (index - 1, index + 1, index + 2):
            if not 0 <= near < len(rows) or any(core._read("amount", [w]) is not None for w in rows[near]):
                continue
            if abs(min(w.bbox[1] for w in rows[near]) - min(w.bbox[1] for w in row)) > 3 * height:
                continue
            extra = by_row.get(near, [])
            extra = extra + _compound_hits(page, rows[near], columns, paths | {hit.path for hit in extra})
            if near == index + 2 and rows[index + 1] not in band and not extra:
                continue  # past a row of values, a line naming no column is the first item's wrapped text
            if near > index and not extra and _under_description(rows[near], found, kinds, array, height):
                continue  # text naming no column, where descriptions start: the first item's
            band.append(rows[near])
            for hit in extra:
                if hit.path not in paths:
                    found.append(hit)
                    paths.add(hit.path)
        best: dict[str, core.LabelHit] = {}
        for hit in sorted(found, key=lambda h: -h.label_tokens):
            best.setdefault(hit.path, hit)
        last = max(rows.index(line) for line in band)
        if "amount" in columns and "amount" not in best:
            _amount_unnamed(page, best, found, band, rows[last + 1 : last + 1 + _FIRST_ROWS], kinds, array, cues)
        headers = sorted(best.values(), key=lambda h: h.bbox[0])
        position = None
        for word in (w for line in band for w in line):
            if word.bbox[2] <= headers[0].bbox[0] and fold(word.text).strip(".:") in _POSITION_WORDS:
                position = core.LabelHit(path="position", page=page, words=(word,), label_tokens=1, quality=1.0)
                break
        described = _unnamed_description(page, row, headers, position, columns, kinds, array)
        if described is None:
            described = _unheaded_description(page, rows[last + 1 : last + 6], headers, position, columns, kinds, array)
        if described is not None:
            headers = sorted([*headers, described], key=lambda h: h.bbox[0])
        taken = {id(w) for h in headers for w in h.words} | ({id(w) for w in position.words} if position else set())
        unnamed = [(w.bbox[0], w.bbox[2]) for line in band for w in line if id(w) not in taken]
        return last, headers, position, unnamed
    return None


def _under_description(
    row: list[Word], found: list[core.LabelHit], kinds: dict[str, FieldKind], array: str, height: float
) -> bool:
    """Whether ``row`` starts under a description column's heading."""
    starts = [h.bbox[0] for h in found if _kind(kinds, array, h.path) in ("text", "name", "address")]
    return any(abs(row[0].bbox[0] - x) <= height for x in starts)


def _amount_unnamed(
    page: Page,
    best: dict[str, core.LabelHit],
    found: list[core.LabelHit],
    band: list[list[Word]],
    below: list[list[Word]],
    kinds: dict[str, FieldKind],
    array: str,
    cues: CueIndex,
) -> None:
    """The amount column when no label names it: of two price columns the right one ("Prijs per stuk … Prijs
    incl. BTW"), else the rightmost heading right of every named column that is no tax rate ("Entgelt",
    "Nettowert"), else, no such heading printed (or a scan lost it), the money printed rightmost on the first
    rows ``below`` the header, right of every named column."""
    for path in [p for p in best if _kind(kinds, array, p) == "amount"]:
        twins = sorted({id(h.words[0]): h for h in found if h.path == path}.values(), key=lambda h: h.bbox[0])
        if len(twins) >= 2:
            best[path], best["amount"] = twins[0], replace(twins[-1], path="amount")
            return
    right_edge = max(h.bbox[2] for h in best.values())
    taken = {id(w) for h in found for w in h.words}

    def is_rate(word: Word) -> bool:
        return "%" in word.text or cues.of_words([word.text]).get(TOTALS[1], 0.0) > 0

    candidates = [w for line in band for w in line if w.bbox[0] > right_edge and id(w) not in taken and not is_rate(w)]
    if candidates:
        word = max(candidates, key=lambda w: w.bbox[2])
        best["amount"] = core.LabelHit(path="amount", page=page, words=(word,), label_tokens=1, quality=0.8)
        return
    values = [w for line in below for w in line if w.bbox[0] > right_edge and _money_of([w]) is not None]
    if values:
        word = max(values, key=lambda w: w.bbox[2])
        best["amount"] = core.LabelHit(path="amount", page=page, words=(word,), label_tokens=1, quality=0.6)


def _unnamed_description(
    page: Page,
    row: list[Word],
    headers: list[core.LabelHit],
    position: core.LabelHit | None,
    columns: Labels,
    kinds: dict[str, FieldKind],
    array: str,
) -> core.LabelHit | None:
    """The description column under a heading no label names ("Libellé", "Leistung"): of the header's other
    headings (the position's aside), the one followed by the widest gap: descriptions are the widest column."""
    text_paths = [p for p in columns if _kind(kinds, array, p) in ("text", "name", "address")]
    if not text_paths or any(h.path in text_paths for h in headers):
        return None
    taken = {id(w) for h in headers for w in h.words} | ({id(w) for w in position.words} if position else set())
    free = [w for w in row if id(w) not in taken]
    blocks = core._blocks(free) if free else []
    best: tuple[float, list[Word]] | None = None
    for block in blocks:
        following = min((w.bbox[0] for w in row if w.bbox[0] > block[-1].bbox[2]), default=float(page.width))
        gap = following - block[-1].bbox[2]
        if best is None or gap > best[0]:
            best = (gap, block)
    if best is None:
        return None
    return core.LabelHit(path=text_paths[0], page=page, words=tuple(best[1]), label_tokens=1, quality=0.8)


def _unheaded_description(
    page: Page,
    below: list[list[Word]],
    headers: list[core.LabelHit],
    position: core.LabelHit | None,
    columns: Labels,
    kinds: dict[str, FieldKind],
    array: str,
) -> core.LabelHit | None:
    """The description column when the header leaves it without a heading ("Qty  Price  Amount" over rows that
    start with their text): where the text of the first rows below starts, left of every named column (and right
    of the position numbers)."""
    text_paths = [p for p in columns if _kind(kinds, array, p) in ("text", "name", "address")]
    if not text_paths or any(_kind(kinds, array, h.path) in ("text", "name", "address") for h in headers):
        return None
    height = core._height([w for h in headers for w in h.words])
    left = headers[0].bbox[0] - height
    after = position.bbox[2] if position is not None else float("-inf")
    starts = [
        word
        for line in below
        for word in line[:2]
        if word.bbox[2] < left
        and word.bbox[0] > after
        and not _POSITION.match(word.text)
        and not _has_amount([word])
        and any(ch.isalpha() for ch in word.text)
    ]
    if not starts:
        return None
    first = min(starts, key=lambda w: w.bbox[0])
    top, bottom = headers[0].bbox[1], headers[0].bbox[3]
    heading = Word(text=first.text, conf=first.conf, bbox=(first.bbox[0], top, first.bbox[2], bottom))
    return core.LabelHit(path=text_paths[0], page=page, words=(heading,), label_tokens=1, quality=0.7)


# --- the body --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One visual row under the header, read against the columns."""

    words: list[Word]
    cells: dict[str, tuple[Any, tuple[Word, ...]]]
    position: int | None
    amount: float | None  # the value in the amount column
    # None (an item's row), "carried" (a running sum carried to or from another page), "adjust" (a surcharge or
    # discount, between the items or below them), "subtotal" (a net amount
    # or a section's sum), "final" (the tax or the total: the totals have begun), "end" (another table's header)
    stop: str | None


@dataclass(frozen=True)
class _Columns:
    """A table's columns as placed on one page, and what reading a row against them needs."""

    table: _Table
    page: Page
    headers: list[core.LabelHit]
    amount: core.LabelHit | None
    kinds: dict[str, FieldKind]
    scalar_labels: Labels
    cues: CueIndex

    def in_amount_column(self, word: Word) -> bool:
        if self.amount is None:
            return True
        x0, _, x1, _ = self.amount.bbox
        slack = 3 * self.table.height
        if all(h.bbox[0] <= x0 for h in self.headers):
            # The rightmost column: right-aligned amounts may end past a short heading ("Prijs incl. BTW" named
            # by its first word), nothing but the page's edge bounds them.
            return word.bbox[2] > x0 - slack
        return word.bbox[2] > x0 - slack and word.bbox[0] < x1 + slack


def _amount_path(table: _Table, kinds: dict[str, FieldKind]) -> str | None:
    """The column holding each row's amount: ``amount`` when the array has it, else its rightmost amount column."""
    paths = [h.path for h in table.headers if _kind(kinds, table.array, h.path) == "amount"]
    if "amount" in paths:
        return "amount"
    return paths[-1] if paths else None


def _columns(
    table: _Table, page: Page, headers: list[core.LabelHit], kinds: dict[str, FieldKind], doc_type: DocumentType
) -> _Columns:
    path = _amount_path(table, kinds)
    return _Columns(
        table=table,
        page=page,
        headers=headers,
        amount=next((h for h in headers if h.path == path), None),
        kinds=kinds,
        scalar_labels={p: v for p, v in doc_type.labels.items() if "[]" not in p},
        cues=cue_index(doc_type.labels, TOTALS),
    )


def _typed_from_right(
    row: list[Word], headers: list[core.LabelHit], kinds: dict[str, FieldKind], array: str
) -> list[tuple[core.LabelHit, Word]]:
    """Cells read by type for item rows whose values do not sit under their headers: the columns right of the
    description from the right end of the row (amount, unit price, quantity …), those left of it from the start
    (a quantity before the description), the description taking what remains."""
    # A tax rate ("19 %", "0%") sits in a column of its own: no quantity, price or amount.
    rates = {id(w) for i, w in enumerate(row) if "%" in w.text or (i + 1 < len(row) and row[i + 1].text == "%")}
    words = [w for w in row if core._PUNCT.sub("", w.text) and w.text not in _CURRENCY_WORDS and id(w) not in rates]
    text = next((i for i, h in enumerate(headers) if _kind(kinds, array, h.path) in ("text", "name", "address")), 0)
    pairs: list[tuple[core.LabelHit, Word]] = []
    start, end = 0, len(words)
    for header in headers[:text]:
        kind = _kind(kinds, array, header.path)
        if start < end and kind in _NUMERIC and _number(kind, words[start]) is not None:
            pairs.append((header, words[start]))
            start += 1
    if any(_kind(kinds, array, h.path) == "amount" for h in headers[text + 1 :]):
        # Right of the rightmost amount only columns the table does not read (a tax rate without its "%").
        while end > start and not _MONEY.search(words[end - 1].text):
            end -= 1
    right: list[tuple[core.LabelHit, Word]] = []
    for header in reversed(headers[text + 1 :]):
        kind = _kind(kinds, array, header.path)
        if end > start and kind in _NUMERIC and _number(kind, words[end - 1]) is not None:
            right.append((header, words[end - 1]))
            end -= 1
    if end > start and headers:
        pairs.append((headers[text], core._block_word(words[start:end])))
    return pairs + right[::-1]


def _number(kind: FieldKind, word: Word) -> tuple[Any, tuple[Word, ...]] | None:
    """The number ``word`` prints when it is a number and nothing else (a currency sign aside)."""
    text = word.text.strip()
    if not _NUMBER_SHAPE.match(text) or _DAY_AND_MONTH.match(text) or core._date_at([word], 0):
        return None
    return core._read(kind, [word])


def _scaled(table: _Table, page: Page) -> list[core.LabelHit]:
    """The table's column headers placed on ``page`` (pages of one document may differ in scale)."""
    factor = page.width / table.width if table.width else 1.0
    if abs(factor - 1.0) < 0.01:
        return table.headers
    return [
        core.LabelHit(
            path=h.path,
            page=page,
            words=tuple(
                w.model_copy(update={"bbox": (w.bbox[0] * factor, w.bbox[1], w.bbox[2] * factor, w.bbox[3])})
                for w in h.words
            ),
            label_tokens=h.label_tokens,
            quality=h.quality,
        )
        for h in table.headers
    ]


def _cells(row: list[Word], at: _Columns) -> dict[str, tuple[Any, tuple[Word, ...]]]:
    """The values of ``row`` by column: cells matched to the headers by position, or read by type from the right
    when that reads more numbers."""
    by_kind = [h for h in at.headers if _kind(at.kinds, at.table.array, h.path) in _NUMERIC]
    others = [h for h in at.headers if h not in by_kind]
    # Numbers go to number columns, text to text columns: a description's second line is no quantity.
    numeric: list[list[Word]] = []
    text: list[list[Word]] = []
    blocks = [
        part for block in _split_at_columns(core._blocks(row), by_kind, at.table.height) for part in _rate_apart(block)
    ]
    for block in blocks:
        if any("%" in w.text for w in block) and len(block) <= 2:
            continue  # a tax rate ("19 %", "0%"): no quantity, price or amount
        (numeric if _is_number_cell(block) else text).append(block)
    money = [i for i, block in enumerate(numeric) if any(_MONEY.search(w.text) for w in block)]
    if money and any(_kind(at.kinds, at.table.array, h.path) == "amount" for h in by_kind):
        # Right of the last amount: a tax rate printed without "%", unless under a count's or price's heading (a
        # quantity printed right of the price, its row's amount not read).
        counted = [h for h in by_kind if _kind(at.kinds, at.table.array, h.path) != "amount"]
        numeric = numeric[: money[-1] + 1] + [
            block
            for block in numeric[money[-1] + 1 :]
            if not any(_MONEY.search(w.text) for w in block)
            and any(
                block[0].bbox[0] < h.bbox[2] + at.table.height and block[-1].bbox[2] > h.bbox[0] - at.table.height
                for h in counted
            )
        ]
    text = [block for block in text if not _under_unread_heading(block, others, at)]
    pairs = core._align([core._block_word(b) for b in text], others, at.table.height)
    pairs += core._align([core._block_word(b) for b in numeric], by_kind, at.table.height)
    aligned = _read_cells(row, sorted(pairs, key=lambda pair: pair[1].bbox[0]), at)
    if at.amount is not None and at.amount.path not in aligned and money:
        # A column the table does not read (a tax rate without "%") took the amount column's place: the last money
        # printed in the amount column is the amount.
        last = core._block_word(numeric[money[-1]])
        taken = {id(w) for _value, words in aligned.values() for w in words}
        if at.in_amount_column(last) and not any(id(w) in taken for w in numeric[money[-1]]):
            aligned |= _read_cells(row, [(at.amount, last)], at)
    by_type = _read_cells(row, _typed_from_right(row, at.headers, at.kinds, at.table.array), at)

    def numbers(cells: dict[str, tuple[Any, tuple[Word, ...]]]) -> int:
        return sum(_kind(at.kinds, at.table.array, path) in _NUMERIC for path in cells)

    # A number read as the amount from the right end but printed left of the amount column belongs to the text
    # ("Kabel NYM 2,50 m" on a description's own line): reading by type would cut it off the description.
    amount = by_type.get(at.amount.path) if at.amount is not None else None
    if amount is not None and not all(at.in_amount_column(w) for w in amount[1]):
        return aligned
    return by_type if numbers(by_type) > numbers(aligned) else aligned


# A rate printed as one word: "19%", "10,00%".
_RATE = re.compile(r"^\d{1,2}(?:[.,]\d{1,2})?%$")


def _rate_apart(block: list[Word]) -> list[list[Word]]:
    """``block`` with a tax rate printed close beside an amount cut off it ("60,00 10,00%": the amount and its
    rate run together into one block), so that the amount is read and the rate passed over."""
    for index, word in enumerate(block):
        if word.text == "%" and index > 0 and _NUMBER_SHAPE.match(block[index - 1].text):
            start = index - 1
        elif _RATE.match(word.text):
            start = index
        else:
            continue
        if len(block) <= index - start + 1:
            return [block]  # the rate alone
        parts = [block[:start], block[start : index + 1], *(_rate_apart(block[index + 1 :]))]
        return [part for part in parts if part]
    return [block]


def _under_unread_heading(block: list[Word], text_headers: list[core.LabelHit], at: _Columns) -> bool:
    """Whether ``block`` is text of a column the array does not read ("GLN:5987854125" under "Code article"): it
    ends left of the description's heading, under a heading word of its own."""
    described = [h.bbox[0] for h in text_headers if _kind(at.kinds, at.table.array, h.path) in ("text", "name")]
    if not described or not at.table.unnamed or block[-1].bbox[2] >= min(described) - at.table.height:
        return False
    factor = at.page.width / at.table.width if at.table.width else 1.0
    left, right = block[0].bbox[0], block[-1].bbox[2]
    return any(x0 * factor < right and x1 * factor > left for x0, x1 in at.table.unnamed)


def _is_number_cell(block: list[Word]) -> bool:
    """Whether ``block`` prints a number and at most its unit or currency ("20 Stk.", "1 583,20 €", "€ 4,24")."""
    if len(block) > 4 or not any(_NUMBER_SHAPE.match(w.text) for w in block):
        return False
    if not (_NUMBER_SHAPE.match(block[0].text) or block[0].text in _CURRENCY_WORDS):
        return False
    others = [
        core._PUNCT.sub("", w.text) for w in block if not _NUMBER_SHAPE.match(w.text) and w.text not in _CURRENCY_WORDS
    ]
    return len(others) <= 1 and all(len(unit) <= 4 or fold(unit) in _UNIT_WORDS for unit in others)


def _split_at_columns(blocks: list[list[Word]], numeric: list[core.LabelHit], height: float) -> list[list[Word]]:
    """``blocks`` split before a number printed under a number column's header ("… 3m breit 3,00 m²": the
    quantity set close to the description)."""
    out: list[list[Word]] = []
    for block in blocks:
        current: list[Word] = []
        for word in block:
            under = any(
                word.bbox[2] > h.bbox[0] - 2 * height and word.bbox[0] < h.bbox[2] + 2 * height for h in numeric
            )
            grouped = current and re.fullmatch(r"[-−]?\d{1,3}", current[-1].text) and _GROUP.match(word.text)
            if current and under and _NUMBER_SHAPE.match(word.text) and not grouped:
                out.append(current)
                current = []
            current.append(word)
        out.append(current)
    return out


def _read_cells(
    row: list[Word], pairs: list[tuple[core.LabelHit, Word]], at: _Columns
) -> dict[str, tuple[Any, tuple[Word, ...]]]:
    """The value of each (header, cell) pair that reads as its column's kind, with the words it was read from."""
    cells: dict[str, tuple[Any, tuple[Word, ...]]] = {}
    for header, cell in pairs:
        kind = _kind(at.kinds, at.table.array, header.path)
        words = tuple(w for w in row if cell.bbox[0] <= w.bbox[0] and w.bbox[2] <= cell.bbox[2]) or (cell,)
        if kind in _NUMERIC:
            numeric = _nearest_number(words, header)
            joined = core._block_word(numeric) if numeric else None
            read = _number(kind, joined) if joined is not None else None
            if read is not None and joined is not None and (kind != "amount" or _MONEY.search(joined.text)):
                cells[header.path] = (read[0], tuple(numeric))
            continue
        text_read = core._read(kind, [cell])
        if text_read is None:
            continue
        value: Any = text_read[0]
        if kind == "text" and len(words) > 1 and _POSITION.match(words[0].text):
            # A position number in an unlabelled first column is not part of the description.
            words = words[1:]
            value = core._joined(words)
        cells[header.path] = (value, words)
    return cells


def _number_runs(words: Sequence[Word]) -> list[list[Word]]:
    """The numbers ``words`` print, each as the words it spans: a number in thousands groups may span words
    ("1 234,56", "-3 217,65"); units and currency signs between them are left out."""
    runs: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        text = word.text.strip()
        if not _NUMBER_SHAPE.match(text) or text in _CURRENCY_WORDS:
            if current:
                runs.append(current)
            current = []
            continue
        if current and re.fullmatch(r"[-−]?\d{1,3}", current[-1].text) and _GROUP.match(text):
            current.append(word)
            continue
        if current:
            runs.append(current)
        current = [word]
    if current:
        runs.append(current)
    return runs


def _nearest_number(words: Sequence[Word], header: core.LabelHit) -> list[Word]:
    """The words of the number a cell prints under ``header``: of the numbers in the cell ("1  1,4500": a packing
    unit beside the price), the one nearest the header."""
    runs = _number_runs(words)
    if not runs:
        return []
    x0, _, x1, _ = header.bbox

    def distance(run: list[Word]) -> float:
        left, right = run[0].bbox[0], run[-1].bbox[2]
        return min(abs(left - x0), abs(right - x1), abs((left + right - x0 - x1) / 2))

    return min(runs, key=distance)


def _read_row(row: list[Word], at: _Columns) -> _Row:
    words = list(row)
    position: int | None = None
    first = words[0]
    if _POSITION.match(first.text) and len(words) > 1 and _in_position_column(first, at):
        position = int(first.text.rstrip("."))
        words = words[1:]
    cells = _cells(words, at) if words else {}
    path = at.amount.path if at.amount is not None else None
    amount = None
    if path is not None and path in cells:
        value, used = cells[path]
        if all(at.in_amount_column(w) for w in used):
            amount = float(value)
        else:
            del cells[path]  # an amount inside a description line ("Enthält 19 % Steuer = 9,50 €")
    # A position number and an amount make an item, unless the amount is a rate of a sum (an allowance's code
    # read as a position number).
    numbered = position is not None and amount is not None and _on_base(row) is None
    stop = None if numbered else _stop(row, at, cells, amount)
    return _Row(words=list(row), cells=cells, position=position, amount=amount, stop=stop)


def _in_position_column(word: Word, at: _Columns) -> bool:
    """Whether ``word`` sits where position numbers do: under the position header, or left of every column."""
    slack = 2 * at.table.height
    if at.table.position is not None:
        x0, _, x1, _ = at.table.position.bbox
        factor = at.page.width / at.table.width if at.table.width else 1.0
        return word.bbox[2] > x0 * factor - slack and word.bbox[0] < x1 * factor + slack
    return word.bbox[2] < at.headers[0].bbox[0] - at.table.height


def _stop(
    row: list[Word], at: _Columns, cells: dict[str, tuple[Any, tuple[Word, ...]]], amount: float | None
) -> str | None:
    """Whether ``row`` is no item's row but a sum, or another table's header (see ``_Row.stop``)."""
    texts = [w.text for w in row]
    if amount is None:
        blocks = core._blocks(row)
        worded = sum(1 for text in texts if sum(ch.isalpha() for ch in text) >= 3) >= 2  # no scan's specks
        if (
            not any(ch.isdigit() for text in texts for ch in text)
            and worded
            and (len(blocks) >= 3 or _sums_named(row, at))
        ):
            return "end"  # column headings of another table (the tax breakdown or the totals under the items)
        # A sum printed off the amount column, or a remark naming a tax inside an item: the table goes on only
        # if an item follows.
        return "subtotal" if _totals_cue(row, at) and _has_amount(row) else None
    if _CARRIED.search(fold(" ".join(texts))):
        return "carried"
    if _on_base(row) is not None:
        return "adjust"  # a rate of a sum, whatever columns its numbers fall in
    if sum(1 for path in cells if _kind(at.kinds, at.table.array, path) in _NUMERIC) >= 3:
        if _taxed_base(cells) and _totals_cue(row, at) == "final":
            return "final"  # "Umsatzsteuer (S)  20.000,00  19  3.800,00": the tax breakdown, with the totals
        return None  # quantity, unit price and amount: an item, whatever its words
    if _counted(cells) and not _sum_labelled(row, at.page, at.scalar_labels):
        return None  # a count and an amount: an item, though a word of it cues a sum ("Incl. Heffing  1  4,24")
    named = _totals_cue(row, at)
    if named is not None or any(k in cells for k in ("quantity", "unit_price")):
        return named
    if _adjustment(row) is not None:
        return "adjust"  # shipping or a discount: an item only if items follow it
    if _under_numbers(row, at):
        return "subtotal"  # "Warenwert  539,56": a sum named under the number columns, whatever its words
    return None


def _taxed_base(cells: dict[str, tuple[Any, tuple[Word, ...]]]) -> bool:
    """Whether the "quantity", "unit price" and "amount" of ``cells`` are a tax rate, its base and the tax on it
    (rate × base / 100 = amount), not an item's count, price and total."""
    values = [cells[path][0] for path in ("quantity", "unit_price", "amount") if path in cells]
    if len(values) != 3 or not all(isinstance(v, int | float) for v in values):
        return False
    rate, base, tax = (float(v) for v in values)
    return 0 < rate < 100 and abs(rate * base - tax) > 0.01 and abs(rate * base / 100 - tax) <= 0.01


def _counted(cells: dict[str, tuple[Any, tuple[Word, ...]]]) -> bool:
    """Whether ``cells`` hold a quantity printed as a count ("1", "12"): no sum prints one, though a sum's amount
    misread as a quantity prints its cents."""
    quantity = cells.get("quantity")
    return quantity is not None and not any(_MONEY.search(w.text) for w in quantity[1])


def _sum_labelled(row: list[Word], page: Page, scalar_labels: Labels) -> bool:
    """Whether ``row`` prints a totals label ("Subtotal", "Totaal incl. btw"), not merely a word of one."""
    return bool({hit.path for hit in core._find_labels(page, [row], scalar_labels)} & set(TOTALS))


def _sums_named(row: list[Word], at: _Columns) -> bool:
    """Whether ``row`` prints the labels of two sums or more ("Nettobetrag  MwSt-Betrag  Endbetrag"): the headings
    of the totals, whatever their spacing (a scan may run them into one block)."""
    hits = core._find_labels(at.page, [row], at.scalar_labels)
    return len({hit.path for hit in hits} & set(TOTALS)) >= 2


def _under_numbers(row: list[Word], at: _Columns) -> bool:
    """Whether every word of ``row`` that is no number starts right of the description, under the number columns
    (a totals block's labels, never an item's description)."""
    numbers = [h.bbox[0] for h in at.headers if _kind(at.kinds, at.table.array, h.path) in _NUMERIC]
    described = [h.bbox[0] for h in at.headers if _kind(at.kinds, at.table.array, h.path) in ("text", "name")]
    texts = [w for w in row if not _NUMBER_SHAPE.match(w.text) and w.text not in _CURRENCY_WORDS]
    if not numbers or not described or not texts or min(numbers) <= min(described):
        return False
    return all(w.bbox[0] >= min(numbers) - at.table.height for w in texts)


def _totals_cue(row: list[Word], at: _Columns) -> str | None:
    """``final`` when ``row``'s words name the tax or the total, ``subtotal`` when they name a net amount."""
    return _sum_named(row, at.page, at.scalar_labels, at.cues)


def _sum_named(row: list[Word], page: Page, scalar_labels: Labels, cues: CueIndex) -> str | None:
    words = [w.text for w in row if not _NUMBER_SHAPE.match(w.text)]
    # A label says which sum it is ("Zwischensumme" is the net); a cue word only when no label is printed.
    paths = {hit.path for hit in core._find_labels(page, [row], scalar_labels)} & set(TOTALS)
    if not paths:
        paths = {path for path, weight in cues.of_words(words).items() if weight >= 0.3}
    if paths & set(TOTALS[1:]):
        return "final"
    if TOTALS[0] in paths:
        return "subtotal"
    return None


def _sum_cued(row: list[Word], cues: CueIndex) -> bool:
    """Whether a word of ``row`` is a word of a totals label, however weakly it names one ("Summe")."""
    return bool(cues.of_words([w.text for w in row if not _NUMBER_SHAPE.match(w.text)]))


def _on_base(row: list[Word]) -> float | None:
    """The amount of ``row`` when it prints a rate of a sum and what that comes to ("Remise 5,00% sur 100,00 EUR
    -5,00", "Frais 10 % of 100.00  10.00"): a discount or surcharge on the items' sum, never an item (whose amount
    is a count times a price), whatever its words."""
    for index, word in enumerate(row[:-2]):
        if not _RATE.match(word.text):
            continue
        money = [(i, w) for i, w in enumerate(row) if i > index and _MONEY.search(w.text) and "%" not in w.text]
        if len(money) < 2 or money[0][0] > index + 3:
            continue
        base, amount = _money_of([money[0][1]]), _money_of([money[-1][1]])
        percent = parse_amount(word.text)
        if base is None or amount is None or percent is None:
            continue
        if abs(abs(float(amount[0])) - float(base[0]) * percent / 100) <= 0.011:
            return float(amount[0])
    return None


def _adjustment(row: list[Word]) -> float | None:
    """A surcharge (+) or discount (−) printed on ``row`` ("Versandkosten 4,90", "Rabatt 10 % -12,00")."""
    text = fold(" ".join(w.text for w in row))
    surcharge, discount = _SURCHARGE.search(text), _DISCOUNT.search(text)
    if _CARRIED.search(text):
        return None
    if not (surcharge or discount):
        return _on_base(row)
    runs = [run for run in _number_runs([w for w in row if "%" not in w.text]) if _MONEY.search(run[-1].text)]
    read = _money_of(runs[-1]) if runs else None
    if read is None:
        return None
    value = float(read[0])
    return -abs(value) if discount and not surcharge and value > 0 else value


def _read_table(
    document: Document,
    page_rows: Sequence[list[list[Word]]],
    doc_type: DocumentType,
    kinds: dict[str, FieldKind],
    array: str,
    columns: Labels,
) -> _Table | None:
    table: _Table | None = None
    for page, all_rows in zip(document.pages, page_rows, strict=True):
        rows = _upright_rows(all_rows)
        found = _header(page, rows, columns, kinds, array, cue_index(doc_type.labels, TOTALS))
        if table is not None and table.ended:
            if found is None:
                break
            table.ended = False  # its header printed again: the sums ending the page were the page's
        if table is None:
            if found is None:
                continue
            index, headers, position, unnamed = found
            height = core._height([w for h in headers for w in h.words])
            table = _Table(array, headers, position, height, float(page.width), unnamed=unnamed)
            _read_page(_columns(table, page, headers, kinds, doc_type), rows[index + 1 :], headed=True)
        elif found is not None:
            index, headers, _position, _unnamed = found
            _read_page(_columns(table, page, headers, kinds, doc_type), rows[index + 1 :], headed=True)
        else:
            _read_page(_columns(table, page, _scaled(table, page), kinds, doc_type), rows, headed=False)
    if table is None and "amount" in columns:
        table = _headerless(document, page_rows, doc_type, kinds, array, columns)
    return table


def _upright_rows(rows: Sequence[list[Word]]) -> list[list[Word]]:
    """``rows`` without those printed sideways (``offline.visual_rows`` gives each such word a row of its own): a
    margin note running up the page beside the table ("Copyright", an imprint) is no line of an item, and read as
    one it would cut an item's description off from its next line."""
    return [row for row in rows if not all(core._sideways(word) for word in row)]


def _headerless(
    document: Document,
    page_rows: Sequence[list[list[Word]]],
    doc_type: DocumentType,
    kinds: dict[str, FieldKind],
    array: str,
    columns: Labels,
) -> _Table | None:
    """Items listed without column headings (an insurance notice, a till receipt): the run of two or more rows
    right above a totals row, each a text and an amount ending where the totals' amounts end (a receipt's tax
    class after it left off), never below another sum (cash given and change due)."""
    scalar_labels = {p: v for p, v in doc_type.labels.items() if "[]" not in p}
    cues = cue_index(doc_type.labels, TOTALS)
    for page, printed_rows in zip(document.pages, page_rows, strict=True):
        rows = [_without_tax_class(row) for row in printed_rows]
        money = [_rightmost_money(row) for row in rows]
        for index, row in enumerate(rows):
            total = money[index]
            if total is None:
                continue
            # A row naming a sum only in part ("Summe": net or total?) ends the items if they add up to it.
            named = _sum_named(row, page, scalar_labels, cues) is not None
            if not named and not _sum_cued(row, cues):
                continue
            height = core._height(row)
            run: list[int] = []
            detail = 0  # lines without an amount since the last item found (its details, printed under it)
            under_a_sum = False  # items are printed above the first sum: below it come payment and change
            for above in range(index - 1, -1, -1):
                amount = money[above]
                line = rows[above]
                if amount is None:
                    detail += 1
                    if detail > _DETAIL_LINES:
                        break
                    continue
                if abs(amount.bbox[2] - total.bbox[2]) > 1.5 * height:
                    break
                texts = [w for w in line if w.bbox[2] < amount.bbox[0] and any(ch.isalpha() for ch in w.text)]
                # A tax breakdown's row prints its rate and two amounts: base and tax.
                amounts = sum(1 for w in line if _NUMBER_SHAPE.match(w.text) and _MONEY.search(w.text))
                breakdown = amounts > 1 and any("%" in w.text for w in line)
                under_a_sum = _sum_named(line, page, scalar_labels, cues) is not None
                if not texts or breakdown or under_a_sum:
                    break
                run.append(above)
                detail = 0
            if not under_a_sum and _listed_items(run, index, money, total, adding_up=not named):
                return _listed(page, [rows[i] for i in reversed(run)], columns, kinds, array, height)
    return None


def _without_tax_class(row: list[Word]) -> list[Word]:
    """``row`` without the tax class a till receipt prints after an item's amount ("Butter 2,19 A")."""
    if len(row) >= 2 and _TAX_CLASS.match(row[-1].text) and _MONEY.search(row[-2].text):
        return row[:-1]
    return row


_DETAIL_LINES = 6  # an item listed without headings may have this many detail lines under it


def _listed_items(run: list[int], below: int, money: list[Word | None], total: Word, *, adding_up: bool) -> bool:
    """Whether the rows ``run`` (indexes, bottom up) found above the totals row ``below`` are its items: two or more
    printed one right above the other and right above it (unless ``adding_up``), or any that add up to the amount
    of the totals row (details printed between them)."""
    if not run:
        return False
    if not adding_up and len(run) >= 2 and run == list(range(below - 1, below - 1 - len(run), -1)):
        return True
    values = [_money_of([word]) for word in (money[i] for i in run) if word is not None]
    printed = _money_of([total])
    if printed is None or len(values) != len(run) or any(v is None for v in values):
        return False
    return abs(sum(float(v[0]) for v in values if v is not None) - float(printed[0])) < 0.005


def _rightmost_money(row: list[Word]) -> Word | None:
    """The last amount of money on ``row`` (cents, a currency sign or thousands groups), if any."""
    for word in reversed(row):
        if word.text in _CURRENCY_WORDS or word.text.upper() in ("EUR", "USD", "GBP", "CHF"):
            continue
        if _NUMBER_SHAPE.match(word.text) and _MONEY.search(word.text) and not core._date_at([word], 0):
            return word
        return None
    return None


def _listed(
    page: Page, rows: list[list[Word]], columns: Labels, kinds: dict[str, FieldKind], array: str, height: float
) -> _Table:
    """The items of a list without headings: per row, values read by type from its right end."""
    order = sorted(columns, key=lambda p: (_kind(kinds, array, p) in _NUMERIC, p != "quantity", p == "amount"))

    def pseudo(path: str) -> core.LabelHit:
        word = Word(text=path, conf=1.0, bbox=(0.0, 0.0, 1.0, 1.0))
        return core.LabelHit(path=path, page=page, words=(word,), label_tokens=1, quality=0.7)

    headers = [pseudo(path) for path in order]
    table = _Table(array, headers, None, height, float(page.width), ended=True)
    for row in rows:
        item = _Item(page=page, rows=[row])
        for header, cell in _typed_from_right(row, headers, kinds, array):
            kind = _kind(kinds, array, header.path)
            if kind in _NUMERIC:
                read = _number(kind, cell)
                if read is not None and (kind != "amount" or _MONEY.search(cell.text)):
                    item.cells[header.path] = (read[0], (cell,))
            elif (text := core._read(kind, [cell])) is not None:
                item.cells[header.path] = (text[0], tuple(w for w in row if cell.bbox[0] <= w.bbox[0] <= cell.bbox[2]))
        amount = item.cells.get("amount")
        item.amount = float(amount[0]) if amount is not None else None
        table.items.append(item)
    return table


def _read_page(at: _Columns, rows: list[list[Word]], *, headed: bool) -> None:
    """The table's rows on one page, from right under its header (``headed``) or, on a page continuing it without
    a header, from its first item row; ends the table when its totals begin."""
    table = at.table
    read = _values_first(table, [_read_row(row, at) for row in rows], at)
    start = 0
    if not headed:
        # Page furniture first (letterhead, page number, the running sum carried over): the table goes on at the
        # first row whose amount sits in the amount column.
        start = next(
            (i for i, row in enumerate(read) if _starts_item(row) and not _carries(row, table, None)), len(read)
        )
        if any(row.stop == "final" for row in read[:start]):
            _after_items(table, read, at)
            return
    current: _Item | None = None
    previous_bottom = max(w.bbox[3] for h in at.headers for w in h.words) if headed else None
    last = start - 1
    index = start
    # Lines of text before an item's values: its description, when the table prints the values on its last line.
    leading: list[_Row] = []
    first_item = len(table.items)
    while index < len(read):
        row = read[index]
        if row.position is not None and not _next_position(row.position, table):
            row = replace(row, position=None, stop=_stop(row.words, at, row.cells, row.amount))
        top = min(w.bbox[1] for w in row.words)
        gap = previous_bottom is not None and top - previous_bottom > 4 * table.height
        if row.stop == "carried" or _carries(row, table, current):
            current, index = None, index + 1
            continue
        if row.stop is not None or gap:
            # A section's subtotal, or the end: the table goes on only if an item row follows before the totals.
            following = None
            if row.stop in (None, "subtotal", "adjust"):
                following = _next_item(read, index if row.stop is None else index + 1, table)
            if following is None:
                break
            if row.stop == "adjust":
                row = replace(row, stop=None)  # an item between items: shipping billed as a line
            else:
                for skipped in read[index:following]:
                    _doubt(table, skipped, at)
                table.section = len(table.items)
                current, index, previous_bottom, leading = None, following, None, []
                continue
        previous_bottom = max(w.bbox[3] for w in row.words)
        if current is not None and _took_discount(current, row, at):
            last, index = index, index + 1
            continue
        first = headed and current is None and len(table.items) == first_item
        done = current is not None and current.amount is not None and table.values_last
        if (first or done) and _leads(row, at):
            leading.append(row)
            index += 1
            continue
        if _starts_new(row, current, table):
            current = _Item(page=at.page)
            table.items.append(current)
            if leading and row.position is None and _fills_description(leading[-1], at):
                # Text filling the description's column went on on the values' line: this table prints an item's
                # values on its last line. (A short line above the first item is a heading, passed over.)
                table.values_last = True
                for lead in leading:
                    _add_row(current, lead, at)
            leading = []
        if current is not None:
            _add_row(current, row, at)
            last = index
        index += 1
    _after_items(table, read[last + 1 :], at)


def _is_text(row: _Row, at: _Columns) -> bool:
    """Whether ``row`` holds only text, in text columns (a description's line)."""
    kinds = [_kind(at.kinds, at.table.array, p) for p in row.cells]
    return bool(kinds) and all(k in ("text", "name", "address") for k in kinds) and row.stop is None


def _bare_values(row: _Row, at: _Columns) -> bool:
    """Whether ``row`` is an item's values without any text: its description printed on lines of its own."""
    if row.amount is None or row.stop is not None:
        return False
    return not any(_kind(at.kinds, at.table.array, p) in ("text", "name", "address") for p in row.cells)


def _values_first(table: _Table, read: list[_Row], at: _Columns) -> list[_Row]:
    """``read`` with each item's values row before its description's lines when the values are printed apart
    from them, vertically centred on a description of two lines: a line of text right above a row of bare values,
    nearer to it than to the values above, goes with it."""
    if not any(_bare_values(row, at) for row in read):
        return read

    def centre(row: _Row) -> float:
        return sum(w.bbox[1] + w.bbox[3] for w in row.words) / (2 * len(row.words))

    owner: dict[int, int] = {}  # text row index -> index of the values row it goes with
    for index, row in enumerate(read):
        if not _is_text(row, at):
            continue
        above = below = None
        for other in range(index - 1, -1, -1):
            if _bare_values(read[other], at):
                above = other
            if not _is_text(read[other], at):
                break
        for other in range(index + 1, len(read)):
            if _bare_values(read[other], at):
                below = other
            if not _is_text(read[other], at):
                break
        if below is None:
            continue
        up = abs(centre(row) - centre(read[above])) if above is not None else float("inf")
        down = abs(centre(read[below]) - centre(row))
        # Half a line apart at most: the values centred on the description, not the next item's row.
        if down <= 0.8 * table.height and down < up - 0.25 * table.height:
            owner[index] = below
    if not owner:
        owner = _described_above(read, at)
    if not owner:
        return read
    out: list[_Row] = []
    for index, row in enumerate(read):
        if index in owner:
            continue
        out.append(row)
        out.extend(read[i] for i in sorted(owner) if owner[i] == index)
    return out


_DESCRIBED_LINES = 3  # an item's description printed above its values takes this many lines at most


def _described_above(read: list[_Row], at: _Columns) -> dict[int, int]:
    """Text row index -> the values row below it, when every item prints its description on lines of its own above
    a row of bare values: the first values row has description lines right above it, and no description line
    follows the last (only detail lines, "Lieferdatum: …", "geliefert am 01.04.2024"). Printed the other way round
    (values, then the description below), the last item's description follows its values. Between two values rows,
    detail lines right under the first stay with it; the lines from the first that is none on describe the second."""
    # The items above the first sum or surcharge: rows printed after them are no item of this reading.
    end = next((i for i, row in enumerate(read) if row.stop not in (None, "carried")), len(read))
    items = [i for i, row in enumerate(read[:end]) if row.amount is not None and row.stop is None]
    if not items or not all(_bare_values(read[i], at) for i in items):
        return {}

    def detail(row: _Row) -> bool:
        """A "key: value" line or one naming a date ("geliefert am 01.04.2024"): an item's detail."""
        return any(":" in w.text for w in row.words) or any(core._date_at(row.words, i) for i in range(len(row.words)))

    def block(start: int, stop: int) -> list[int]:
        """The description lines right above ``stop``, each right above the next (back to ``start``, the first
        row that is none, or three lines: a letterhead above a page's first item is none of it)."""
        lines: list[int] = []
        below = read[stop]
        for index in range(stop - 1, max(start, stop - _DESCRIBED_LINES) - 1, -1):
            row = read[index]
            top = min(w.bbox[1] for w in below.words)
            if not _is_text(row, at) or top - max(w.bbox[3] for w in row.words) > at.table.height:
                break
            lines.append(index)
            below = row
        return lines[::-1]

    after = read[items[-1] + 1 :]
    rest = after[: next((k for k, row in enumerate(after) if not _is_text(row, at)), len(after))]
    if not block(0, items[0]) or any(not detail(row) for row in rest):
        return {}
    owner: dict[int, int] = {}
    for previous, values in zip([-1, *items], items, strict=False):
        lines = block(previous + 1, values)
        while lines and previous >= 0 and detail(read[lines[0]]):
            lines.pop(0)  # a detail of the item above
        owner.update({index: values for index in lines})
    return owner


def _leads(row: _Row, at: _Columns) -> bool:
    """Whether ``row``, in a table without position numbers, is only text starting where the descriptions do: the
    start of the next item's description, when items print their values on its last line."""
    if at.table.position is not None or row.position is not None or row.amount is not None or row.stop is not None:
        return False
    texts = [p for p in row.cells if _kind(at.kinds, at.table.array, p) in ("text", "name", "address")]
    if not texts or len(texts) != len(row.cells):
        return False
    x = row.cells[texts[0]][1][0].bbox[0]
    return any(
        abs(x - h.bbox[0]) <= at.table.height
        for h in at.headers
        if _kind(at.kinds, at.table.array, h.path) in ("text", "name", "address")
    )


def _fills_description(row: _Row, at: _Columns) -> bool:
    """Whether ``row``'s text fills most of the description column, up to the next column's heading: a line
    that wrapped."""
    path = next(p for p in row.cells if _kind(at.kinds, at.table.array, p) in ("text", "name", "address"))
    words = row.cells[path][1]
    start, end = words[0].bbox[0], words[-1].bbox[2]
    following = [h.bbox[0] for h in at.headers if h.bbox[0] > start + at.table.height]
    if not following:
        return False
    return end - start >= 0.6 * (min(following) - start)


def _doubt(table: _Table, row: _Row, at: _Columns) -> None:
    """Keep ``row``, passed over between the items, as doubtful when it prints an amount at the right end, in
    the amount column, that is neither the sum of the items of its section nor of all so far (a subtotal)."""
    word = _rightmost_money(row.words)
    read = _money_of([word]) if word is not None and at.in_amount_column(word) else None
    if read is None or row.stop == "carried" or _CARRIED.search(fold(" ".join(w.text for w in row.words))):
        return
    value = float(read[0])
    amounts = [item.amount or 0.0 for item in table.items]
    if any(abs(sum(amounts[start:]) - value) <= 0.011 for start in (table.section, 0)):
        return
    table.doubtful.append((at.page, row.words, value))


def _after_items(table: _Table, rest: list[_Row], at: _Columns) -> None:
    """The rows below a page's last item: the surcharges and discounts printed there, and whether the totals are
    (then the table ends on this page)."""
    for row in rest:
        value = _adjustment(row.words)
        if value is not None:
            table.adjustments.append(value)
        if row.stop == "final" or (_totals_cue(row.words, at) == "final" and _has_amount(row.words)):
            table.ended = True


def _money_of(run: list[Word]) -> tuple[Any, tuple[Word, ...]] | None:
    """The amount of money ``run`` prints (cents, a currency sign or thousands groups), if it is one."""
    word = core._block_word(run)
    return _number("amount", word) if _MONEY.search(word.text) else None


def _next_position(position: int, table: _Table) -> bool:
    """Whether ``position`` may number the next item: above the last one and not far beyond it (1, 2, 3 … or
    10, 20, 30 …), or, for the first item, a small number."""
    last = next((item.position for item in reversed(table.items) if item.position is not None), None)
    return position <= 100 if last is None else last < position <= last + 20


def _carries(row: _Row, table: _Table, current: _Item | None) -> bool:
    """Whether ``row`` prints the running sum of the items so far and nothing else of an item (a sum carried over a
    page break, whatever its words). An item still waiting for its amount takes it."""
    if row.amount is None or len(row.cells) > 2 or any(k in row.cells for k in ("quantity", "unit_price")):
        return False
    if current is not None and current.amount is None:
        return False
    amounts = [item.amount for item in table.items if item.amount is not None]
    return len(amounts) >= 2 and abs(sum(amounts) - row.amount) <= 0.011


def _has_amount(words: list[Word]) -> bool:
    return any(_number("amount", w) is not None for w in words)


def _starts_item(row: _Row) -> bool:
    """A row that is an item row for sure: its amount sits in the amount column, with another value, no sum."""
    return row.stop is None and row.amount is not None and len(row.cells) >= 2


def _next_item(read: list[_Row], start: int, table: _Table) -> int | None:
    """The index of the next item row at or after ``start`` before the totals begin, or ``None``: a row with its
    amount in the amount column and another value, or the next position number."""
    positions = [item.position for item in table.items if item.position is not None]
    expected = positions[-1] + 1 if positions else None
    for index in range(start, len(read)):
        row = read[index]
        if row.stop in ("final", "end"):
            return None
        if row.stop is None and row.position is not None and row.position == expected:
            return index
        if _starts_item(row) and (len(row.cells) >= 3 or row.position is not None or table.position is None):
            return index
    return None


def _took_discount(item: _Item, row: _Row, at: _Columns) -> bool:
    """Whether ``row`` is a discount on ``item`` above it ("abzgl. 16,7 % Rabatt  -2,00": a negative amount with a
    discount's word, nothing else of an item), now taken off the item's amount: the line's total as booked."""
    if item.amount is None or row.amount is None or row.amount >= 0 or row.position is not None:
        return False
    if any(k in row.cells for k in ("quantity", "unit_price")):
        return False
    if _DISCOUNT.search(fold(" ".join(w.text for w in row.words))) is None or -row.amount >= item.amount:
        return False
    # Right under the item, as its next line: a discount printed apart, below the items, is the whole invoice's.
    if min(w.bbox[1] for w in row.words) - max(w.bbox[3] for w in item.rows[-1]) > 1.5 * at.table.height:
        return False
    item.amount = round(item.amount + row.amount, 2)
    item.rows.append(row.words)
    path = at.amount.path if at.amount is not None else "amount"
    _value, words = item.cells.get(path, (None, ()))
    item.cells[path] = (item.amount, tuple(words) + row.cells[path][1])
    return True


def _starts_new(row: _Row, current: _Item | None, table: _Table) -> bool:
    """Whether ``row`` begins an item rather than continuing the one above."""
    if row.position is not None:
        return True
    if row.amount is None:
        # A description with its quantity and price, its amount on the line below (a scan's baseline may drop the
        # amount's words under the row): an item, once the one above has its amount.
        priced = all(path in row.cells for path in ("description", "quantity", "unit_price"))
        return priced and row.stop is None and (current is None or current.amount is not None)
    if current is None:
        return True
    # An item whose amount is printed on its second line, under its position number, goes on.
    return not (current.amount is None and (table.position is not None or current.position is not None))


def _add_row(item: _Item, row: _Row, at: _Columns) -> None:
    had_amount = item.amount is not None
    item.rows.append(row.words)
    if row.position is not None and item.position is None:
        item.position = row.position
    if item.amount is None and row.amount is not None:
        item.amount = row.amount
    for path, (value, words) in row.cells.items():
        if _kind(at.kinds, at.table.array, path) not in ("text", "name", "address"):
            item.cells.setdefault(path, (value, words))
            continue
        if path not in item.cells:
            item.cells[path] = (value, words)
            item.description_x = words[0].bbox[0]
            continue
        starts = [item.description_x] + [h.bbox[0] for h in at.headers if h.path == path]
        aligned = any(x is not None and abs(words[0].bbox[0] - x) <= at.table.height for x in starts)
        # A wrapped description: its next line starts where the first did, and is no "key: value" detail line
        # or remark with an amount ("Verpackung: Karton", "Enthält 19 % Steuer = 9,50 €": the whole line, as its
        # amount may have been read into a number column).
        wrapped = aligned and not any(":" in w.text for w in words) and not _names_money(row.words)
        if (
            item.open_description
            and (wrapped or (aligned and not had_amount))
            and (row.amount is None or not had_amount)
        ):
            old_value, old_words = item.cells[path]
            # A word broken at the line's end by a hyphen goes on without a space ("Schutzhelm-6PUNKT-" "WEISS").
            broken = re.search(r"\w-$", old_value) is not None
            item.cells[path] = (f"{old_value}{'' if broken else ' '}{value}", old_words + words)
        else:
            item.open_description = False


# A unit after a number makes it a measure ("Kabel NYM 2,50 m", "Folie 0,75 mm"), not money.
_MEASURE = re.compile(r"^(?:mm|cm|dm|m|km|m²|m2|m³|m3|qm|lfm|g|kg|t|ml|cl|l|h|min|x)\.?$", re.IGNORECASE)


def _names_money(words: Sequence[Word]) -> bool:
    """Whether a line of text names an amount of money (a remark, "Enthält 19 % Steuer = 9,50 €"), not a measure
    that is part of a description ("Kabel NYM 2,50 m")."""
    for index, word in enumerate(words):
        following = words[index + 1].text if index + 1 < len(words) else ""
        if _MONEY.search(word.text) and not _MEASURE.match(following):
            return True
    return False


def _box(words: Iterable[Word]) -> BBox:
    listed = list(words)
    return (
        min(w.bbox[0] for w in listed),
        min(w.bbox[1] for w in listed),
        max(w.bbox[2] for w in listed),
        max(w.bbox[3] for w in listed),
    )
