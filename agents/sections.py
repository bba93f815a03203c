"""Party sections: the part of a page under a heading that names a party ("Verkäufer", "Bill to", "Client").

Structured invoices print each party as a block of "key: value" rows under such a heading ("Name: …", "USt-IdNr: …");
the same keys then stand in the seller's and the buyer's block. A value read inside the buyer's block is the
buyer's, whatever its own label says, and a block's "Name:" row names its party. Headings are found by the type's
own labels for ``<party>.name``, so any type with such fields gets the same reading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from extractors.model import Page, Word
from extractors.normalize import fold
from extractors.types import Labels

# What a block's name row is keyed by, in the languages docline reads.
NAME_KEYS = frozenset(
    ["name", "nom", "nombre", "naam", "nome", "firma", "company", "raison sociale", "razon social", "ragione sociale"]
)
_SPLIT = re.compile(r"[\s/:|]+")


def _folded(text: str) -> str:
    return " ".join(part for part in _SPLIT.split(fold(text)) if part)


@dataclass(frozen=True)
class Section:
    party: str  # the path prefix: "seller", "buyer"
    page: int
    x0: float
    x1: float
    top: float
    bottom: float

    def holds(self, page: int, word: Word) -> bool:
        x = (word.bbox[0] + word.bbox[2]) / 2
        y = (word.bbox[1] + word.bbox[3]) / 2
        return page == self.page and self.x0 <= x <= self.x1 and self.top <= y <= self.bottom


def _heading_labels(labels: Labels) -> dict[str, str]:
    """Folded heading text -> party, from the labels of every ``<party>.name`` field."""
    out: dict[str, str] = {}
    for path, per_language in labels.items():
        if path.endswith(".name") and path.count(".") == 1:
            for texts in per_language.values():
                for text in texts:
                    out[_folded(text)] = path.split(".")[0]
    return out


def party_sections(page: Page, rows: Sequence[Sequence[Word]], labels: Labels) -> list[Section]:
    """The party sections of ``page``: each heading's block, down to the next heading (side by side headings split
    the page's width between them)."""
    headings = _heading_labels(labels)
    if not headings:
        return []
    found: list[tuple[str, Word, Sequence[Word]]] = []
    for row in rows:
        if len(row) > 4:
            continue
        text = _folded(" ".join(w.text for w in row))
        opening = text.split(" ")[0] if text else ""
        # "Verkäufer", "Käufer/Leistungsempfänger", "Bill to:": the heading is the row, or starts it with a slash.
        party = headings.get(text) or (headings.get(opening) if "/" in row[0].text else None)
        if party:
            found.append((party, row[0], row))
    sections: list[Section] = []
    for index, (party, first, row) in enumerate(found):
        top = max(w.bbox[3] for w in row)
        beside = [w for _, w, _ in found if w is not first and abs(w.bbox[1] - first.bbox[1]) < 5]
        x0 = first.bbox[0] - 10
        right_neighbours = [w.bbox[0] for w in beside if w.bbox[0] > first.bbox[0]]
        x1 = min(right_neighbours) - 5 if right_neighbours else page.width
        below = [w.bbox[1] for _, w, _ in found[index + 1 :] if w.bbox[1] > top and w not in beside]
        bottom = min(below) if below else page.height
        sections.append(Section(party, page.number, x0, x1, top, bottom))
    return sections


def section_of(sections: Sequence[Section], page: int, word: Word) -> str | None:
    """The party whose section holds ``word``, if any."""
    for section in sections:
        if section.holds(page, word):
            return section.party
    return None


def section_rows(section: Section, rows: Sequence[Sequence[Word]]) -> list[list[Word]]:
    """The section's rows, each cut to the words inside it."""
    inside = [[w for w in row if section.holds(section.page, w)] for row in rows]
    return [row for row in inside if row]


def _keyed(row: Sequence[Word]) -> bool:
    return any(w.text.endswith(":") for w in row)


def keyed_name(section: Section, rows: Sequence[Sequence[Word]]) -> tuple[Word, ...] | None:
    """The words of a section's "Name:" row: right of the key (with a line printed right above or under the value
    when the key sits between the two lines of a two-line name), or on the lines under a key that stands alone."""
    inside = section_rows(section, rows)
    for index, row in enumerate(inside):
        key_end = next((i for i, w in enumerate(row) if w.text.endswith(":")), None)
        if key_end is None or _folded(" ".join(w.text for w in row[: key_end + 1])) not in NAME_KEYS:
            continue
        value = list(row[key_end + 1 :])
        if value:
            height = max(w.bbox[3] - w.bbox[1] for w in value)
            above = inside[index - 1] if index > 0 else None
            below = inside[index + 1] if index + 1 < len(inside) else None
            if above and _continues(above, value[0], height) and value[0].bbox[1] - above[0].bbox[3] < height:
                value = [*above, *value]
            elif below and _continues(below, value[0], height) and below[0].bbox[1] - value[0].bbox[3] < height:
                value = [*value, *below]
            return tuple(value)
        following: list[Word] = []
        for next_row in inside[index + 1 : index + 3]:
            if _keyed(next_row):
                break
            if following and any(ch.isdigit() for w in next_row for ch in w.text):
                break  # a street line under a one-line name
            following.extend(next_row)
        return tuple(following) or None
    return None


def _continues(other: Sequence[Word], start: Word, height: float) -> bool:
    """Whether ``other`` is another line of the value starting at ``start``: aligned with it, no key, no digits."""
    aligned = abs(other[0].bbox[0] - start.bbox[0]) < height
    return aligned and not _keyed(other) and not any(ch.isdigit() for w in other for ch in w.text)


def unkeyed_start(section: Section, rows: Sequence[Sequence[Word]]) -> list[list[Word]]:
    """The section's first rows when it prints its party as plain lines (name, street, town), else nothing."""
    inside = section_rows(section, rows)
    return inside[:2] if inside and not _keyed(inside[0]) else []
