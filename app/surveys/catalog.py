"""The renovation content catalogs (改造内容清单) packaged as CSV data in ``app/surveys/catalogs/``.

``linyi.csv`` (36 items: basic / complete / upgrade) and ``qingdao.csv`` (27 items, each with a selection
class: mandatory 必选 — done wherever needed, no vote; recommended 应选; optional 自选). Columns:
seq, category, title, standard, selection. The files are data, copied byte for byte from the shared
catalogs; :func:`packaged` parses them once.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG_DIR = Path(__file__).parent / "catalogs"
CATALOG_NAMES = ("linyi", "qingdao")

CATEGORY_ZH = {"basic": "基础类", "complete": "完善类", "upgrade": "提升类"}
SELECTION_ZH = {"mandatory": "必选", "recommended": "应选", "optional": "自选"}
MANDATORY = "mandatory"


@dataclass(frozen=True)
class CatalogEntry:
    catalog: str
    seq: int
    category: str
    title: str
    standard: str
    selection: str | None

    @property
    def key(self) -> str:
        return str(self.seq)

    @property
    def mandatory(self) -> bool:
        return self.selection == MANDATORY


def parse(name: str, data: bytes) -> tuple[CatalogEntry, ...]:
    """Parse one catalog file; ValueError on a malformed row (the packaged files are checked by tests)."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    entries: list[CatalogEntry] = []
    seen: set[int] = set()
    for row in reader:
        seq = int(row["seq"])
        if seq in seen:
            raise ValueError(f"{name}: seq {seq} twice")
        seen.add(seq)
        category = row["category"].strip()
        if category not in CATEGORY_ZH:
            raise ValueError(f"{name}: unknown category {category!r}")
        selection = (row.get("selection") or "").strip() or None
        if selection is not None and selection not in SELECTION_ZH:
            raise ValueError(f"{name}: unknown selection {selection!r}")
        entries.append(CatalogEntry(catalog=name, seq=seq, category=category, title=row["title"].strip(),
                                    standard=row["standard"].strip(), selection=selection))
    return tuple(sorted(entries, key=lambda e: e.seq))


@cache
def packaged(name: str) -> tuple[CatalogEntry, ...]:
    """The packaged catalog ``name`` (KeyError for an unknown name)."""
    if name not in CATALOG_NAMES:
        raise KeyError(name)
    return parse(name, (CATALOG_DIR / f"{name}.csv").read_bytes())
