"""Parse a household register file (CSV or XLSX) into rows, collecting every bad row with its line.

Pure and synchronous: the route runs :func:`parse` in a worker thread, before the request's write
transaction touches the database. Hostile files are bounded: XLSX is read by a small streaming reader
(zipfile + expat, no tree) that refuses DTDs and entities, ignores the declared dimension, reads at most
:data:`MAX_COLUMNS` columns, stops after ``max_rows``, caps each zip member's uncompressed size and the
shared-string count, and gives up at a deadline. Anything it cannot read is ``import.unreadable``.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import posixpath
import re
import struct
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.parsers import expat

from app.core.units import parse_area

COLUMNS = ("building", "unit", "room", "area_m2", "owner_key")
REQUIRED = ("building", "unit", "room", "area_m2")
ALIASES = {
    "building": "building", "楼栋": "building", "楼号": "building", "楼": "building", "幢": "building",
    "unit": "unit", "单元": "unit",
    "room": "room", "房号": "room", "室": "room", "户号": "room",
    "area_m2": "area_m2", "area": "area_m2", "面积": "area_m2", "专有面积": "area_m2", "建筑面积": "area_m2",
    "owner_key": "owner_key", "业主标识": "owner_key",
}
MAX_FIELD = 50
# the register's column sizes (app/register/models.py: building and unit names 50, room 30)
FIELD_MAX = {"building": 50, "unit": 50, "room": 30}
MAX_OWNER_KEY = 200
MAX_COLUMNS = 26  # A..Z; cells further right are only checked for being empty
MAX_CELL_CHARS = 1_000  # longer cell text is cut here (anything this long is refused as too long anyway)
MAX_PART_BYTES = 1 << 20  # uncompressed: workbook.xml and the relationship parts
SHEET_BYTES_PER_ROW = 1_000  # uncompressed sheet XML allowed per permitted row (plus a fixed 1 MiB)
SHEET_ELEMENTS_PER_ROW = 25  # XML elements allowed per permitted row (plus a fixed 100,000); 5 cells take 11-16
SHARED_STRINGS_PER_ROW = 10  # shared strings allowed per permitted row (plus a fixed 1,000)
MAX_PART_ELEMENTS = 10_000  # workbook.xml and the relationship parts
MAX_ZIP_MEMBERS = 1_000
MAX_SHEET_COLUMNS = 16_384  # XFD, Excel's own limit
MAX_SHEET_ROWS = 1_048_576
CHUNK = 64 * 1024

AREA = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # ASCII digits only: no 1e3, 1_000, 1,000 or other scripts
XML_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
XML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")  # ECMA-376 ST_Xstring: how Excel writes characters XML cannot hold
CELL_REF = re.compile(r"([A-Z]{1,3})([1-9][0-9]{0,6})")
# Blank-looking letters and variation selectors, private use and surrogates; format/control/separator
# characters (zero-width, bidi controls, soft hyphen, ...) are added by category in _invisible_re().
INVISIBLE_RANGES = [(0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x2800, 0x2800), (0x3164, 0x3164),
                    (0xFFA0, 0xFFA0), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF), (0xD800, 0xDFFF), (0xE000, 0xF8FF),
                    (0xF0000, 0x10FFFF)]
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})

AREA_REASONS = {
    "missing": ("missing area", "缺少面积"),
    "not a number": ("non-numeric area", "面积必须是普通小数（如 86.35）"),
    "must be positive": ("negative or zero area", "面积必须大于 0"),
    "more than two decimal places": ("area has more than two decimals", "面积最多两位小数"),
    "too large": ("area too large", "面积过大"),
}


@dataclass
class ImportRow:
    line: int
    building: str
    unit: str
    room: str
    area_centi: int
    owner_key: str | None


@dataclass
class ParseResult:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    fatal: tuple[str, str, str] | None = None  # (code, zh, en) for the whole file

    def error(self, line: int, column: str | None, reason: str, zh: str) -> None:
        if len(self.errors) < 500:
            self.errors.append({"line": line, "column": column, "reason": reason, "msg": zh,
                                "loc": ["file", line] + ([column] if column else [])})


class Fatal(Exception):
    """The whole file is refused: (code, zh, en)."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.problem = (code, zh, en)


def unreadable(zh: str, en: str) -> Fatal:
    return Fatal("import.unreadable", f"无法读取该 XLSX 文件：{zh}", f"The XLSX file cannot be read: {en}")


# A row as the readers hand it over: (line, the first MAX_COLUMNS cells, whether a cell further right has a value).
Row = tuple[int, list[str], bool]


def decode_text(data: bytes) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        return None


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise Fatal("import.unreadable", "文件过于复杂，未能在限定时间内读完",
                        "The file is too complex to read in the time allowed")


# ---- CSV ------------------------------------------------------------------------------------------

def _csv_rows(data: bytes, max_rows: int, deadline: Deadline) -> list[Row]:
    text = decode_text(data)
    if text is None or "\x00" in text:
        raise Fatal("import.encoding", "文件编码无法识别（请使用 UTF-8 或 GB18030）",
                    "Unrecognised encoding (use UTF-8 or GB18030)")
    out: list[Row] = []
    try:
        for i, raw in enumerate(csv.reader(io.StringIO(text))):
            if i % 1000 == 0:
                deadline.check()
            if any(c.strip() for c in raw):
                out.append((i + 1, [c.strip() for c in raw[:MAX_COLUMNS]],
                            any(c.strip() for c in raw[MAX_COLUMNS:])))
                if len(out) > max_rows + 1:
                    break
    except csv.Error as exc:
        raise Fatal("import.unreadable", "无法解析 CSV 文件", "The CSV file cannot be parsed") from exc
    return out


# ---- XLSX: a streaming reader over zipfile + expat ------------------------------------------------

def _refuse_doctype(*_: object) -> None:
    raise unreadable("含有 DOCTYPE/实体声明", "it declares a DOCTYPE or entities")


class _Part:
    """expat handlers for one zip member. Tags arrive as written ("c" or "x:c"): no namespace processing,
    so prefixes are dropped by :meth:`local`. ``budget`` caps the number of elements."""

    def __init__(self, budget: int) -> None:
        self.budget = budget

    @staticmethod
    def local(tag: str) -> str:
        return tag.rpartition(":")[2] if ":" in tag else tag

    def spend(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise unreadable("XML 元素过多", "too many XML elements")

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.spend()

    def end(self, tag: str) -> None:
        pass

    def text(self, data: str) -> None:
        pass


def _read_part(zf: zipfile.ZipFile, name: str, cap: int, deadline: Deadline, handler: _Part) -> None:
    """Stream one zip member through expat (no tree is built); its uncompressed size may not exceed ``cap``."""
    try:
        info = zf.getinfo(name)
    except KeyError as exc:
        raise unreadable(f"缺少 {name[:100]}", f"{name[:100]} is missing") from exc
    too_big = unreadable(f"{name[:100]} 解压后超过 {cap / (1 << 20):.0f} MiB",
                         f"{name[:100]} inflates to more than {cap / (1 << 20):.0f} MiB")
    if info.file_size > cap:
        raise too_big
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.text
    size = 0
    with zf.open(info) as f:
        while chunk := f.read(CHUNK):
            size += len(chunk)
            if size > cap:
                raise too_big
            deadline.check()
            parser.Parse(chunk, False)
    parser.Parse(b"", True)


class _Relationships(_Part):
    """(Id, Type, resolved target path) of a part's relationships, in document order."""

    def __init__(self, name: str) -> None:
        super().__init__(MAX_PART_ELEMENTS)
        self.base = posixpath.dirname(posixpath.dirname(name))  # "xl/_rels/workbook.xml.rels" -> "xl"
        self.found: list[tuple[str, str, str]] = []

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.spend()
        if self.local(tag) == "Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.join(self.base, target)
            self.found.append((attrs.get("Id", ""), attrs.get("Type", ""), posixpath.normpath(path)))


class _Sheets(_Part):
    """The relationship ids of workbook.xml's <sheet> elements, in order."""

    def __init__(self) -> None:
        super().__init__(MAX_PART_ELEMENTS)
        self.ids: list[str] = []

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.spend()
        if self.local(tag) == "sheet":
            rid = next((v for k, v in attrs.items() if k.endswith(":id")), None)
            if rid is not None:
                self.ids.append(rid)


def _relationships(zf: zipfile.ZipFile, name: str, deadline: Deadline) -> list[tuple[str, str, str]]:
    rels = _Relationships(name)
    _read_part(zf, name, MAX_PART_BYTES, deadline, rels)
    return rels.found


def _first_sheet(zf: zipfile.ZipFile, deadline: Deadline) -> tuple[str, str | None]:
    """Paths of the first worksheet and of the shared-strings part (if any)."""
    book = next((t for _, kind, t in _relationships(zf, "_rels/.rels", deadline) if kind.endswith("/officeDocument")),
                None)
    if book is None:
        raise unreadable("找不到工作簿", "no workbook part")
    rels = _relationships(zf, posixpath.join(posixpath.dirname(book), "_rels", posixpath.basename(book) + ".rels"),
                          deadline)
    sheets = _Sheets()
    _read_part(zf, book, MAX_PART_BYTES, deadline, sheets)
    worksheets = {rid: target for rid, kind, target in rels if kind.endswith("/worksheet")}
    first = next((worksheets[rid] for rid in sheets.ids if rid in worksheets), None)
    if first is None:
        raise unreadable("工作簿中没有工作表", "the workbook has no worksheet")
    shared = next((t for _, kind, t in rels if kind.endswith("/sharedStrings")), None)
    return first, shared


class _Text(_Part):
    """Collects the text of <t> or <v> elements, cut at MAX_CELL_CHARS, skipping phonetic runs (<rPh>)."""

    def __init__(self, budget: int) -> None:
        super().__init__(budget)
        self.parts: list[str] = []
        self.size = 0
        self.on = False
        self.phonetic = 0

    def reset(self) -> None:
        self.parts, self.size, self.on, self.phonetic = [], 0, False, 0

    def text(self, data: str) -> None:
        if self.on and not self.phonetic and self.size <= MAX_CELL_CHARS:
            self.parts.append(data)
            self.size += len(data)

    def value(self) -> str:
        text = "".join(self.parts)[:MAX_CELL_CHARS + 1]
        return XML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


class _SharedStrings(_Text):
    def __init__(self, cap: int) -> None:
        super().__init__(100_000 + 4 * cap)  # <si><t>: 2 elements a string; rich text runs take more
        self.cap = cap
        self.strings: list[str] = []

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.spend()
        tag = self.local(tag)
        if tag == "t":
            self.on = True
        elif tag == "si":
            self.reset()
        elif tag == "rPh":
            self.phonetic += 1

    def end(self, tag: str) -> None:
        tag = self.local(tag)
        if tag == "t":
            self.on = False
        elif tag == "si":
            if len(self.strings) >= self.cap:
                raise unreadable(f"共享字符串超过 {self.cap} 个", f"more than {self.cap} shared strings")
            self.strings.append(self.value())
        elif tag == "rPh":
            self.phonetic -= 1


@functools.lru_cache(maxsize=1024)
def _column(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


def _number(text: str) -> str:
    """A numeric cell as Excel shows it (15 significant digits), e.g. 66.599999999999994 -> '66.6'."""
    text = text.strip()
    if not XML_NUMBER.fullmatch(text):
        raise unreadable(f"数值单元格内容无效（{text[:20]}）", f"a numeric cell holds no number ({text[:20]})")
    value = float(text)
    if not math.isfinite(value):
        raise unreadable("数值超出范围", "a numeric cell is out of range")
    return f"{value:.15g}"


class _Enough(Exception):
    """Enough rows read to decide: stop parsing the sheet."""


class _SheetReader(_Text):
    """Handlers for a worksheet: collects its non-empty rows. The declared <dimension> is ignored; only cells
    actually present count, and only the first MAX_COLUMNS columns are kept."""

    def __init__(self, shared: list[str], max_rows: int) -> None:
        super().__init__(100_000 + SHEET_ELEMENTS_PER_ROW * max_rows)
        self.shared = shared
        self.limit = max_rows + 2  # header + max_rows + one more, to tell "too many rows"
        self.rows: list[Row] = []
        self.line = 0
        self.cells: list[str] = []
        self.overflow = False
        self.col = 0
        self.kind = "n"
        self.in_row = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.budget -= 1  # spend(), inlined: this runs once per element
        if self.budget < 0:
            self.spend()
        if ":" in tag:
            tag = self.local(tag)
        if tag == "c":
            if self.in_row:
                self._cell(attrs)
        elif tag == "v" or tag == "t":
            self.on = True
        elif tag == "row":
            self._row(attrs.get("r"))
        elif tag == "rPh":
            self.phonetic += 1

    def _cell(self, attrs: dict[str, str]) -> None:
        ref = attrs.get("r")
        if ref is None:
            self.col += 1
        else:
            m = CELL_REF.fullmatch(ref)
            col = _column(m.group(1)) if m else 0
            if m is None or int(m.group(2)) != self.line or col <= self.col:
                raise unreadable(f"单元格引用 {ref[:20]} 无效", f"bad cell reference {ref[:20]}")
            self.col = col
        if self.col > MAX_SHEET_COLUMNS:
            raise unreadable("列数超过 XFD", "more than 16,384 columns")
        self.kind = attrs.get("t", "n")
        self.parts, self.size, self.on, self.phonetic = [], 0, False, 0

    def _row(self, r: str | None) -> None:
        if r is None:
            line = self.line + 1
        elif r.isascii() and r.isdigit() and self.line < int(r) <= MAX_SHEET_ROWS:
            line = int(r)
        else:
            raise unreadable(f"行号 {r[:20]} 无效", f"bad row number {r[:20]}")
        self.line, self.cells, self.overflow, self.col, self.in_row = line, [], False, 0, True

    def end(self, tag: str) -> None:
        if ":" in tag:
            tag = self.local(tag)
        if tag == "v" or tag == "t":
            self.on = False
        elif tag == "c":
            if self.in_row and self.parts:
                if self.col <= MAX_COLUMNS:
                    self._store(self._value().strip())
                elif not self.overflow:  # further right only "is anything there" matters
                    self.overflow = bool("".join(self.parts).strip())
        elif tag == "row":
            self.in_row = False
            if self.cells or self.overflow:
                self.rows.append((self.line, self.cells, self.overflow))
                if len(self.rows) >= self.limit:
                    raise _Enough
        elif tag == "rPh":
            self.phonetic -= 1

    def _store(self, value: str) -> None:
        if value:
            self.cells.extend([""] * (self.col - len(self.cells)))
            self.cells[self.col - 1] = value

    def _value(self) -> str:
        raw = self.value()
        kind = self.kind
        if kind == "s":
            if not (raw.isascii() and raw.isdigit()) or int(raw) >= len(self.shared):
                raise unreadable(f"共享字符串索引 {raw[:20]} 越界", f"shared-string index {raw[:20]} out of range")
            return self.shared[int(raw)]
        if kind == "n":
            return _number(raw) if raw.strip() else ""
        if kind in ("str", "inlineStr", "e", "d"):
            return raw
        if kind == "b":
            if raw.strip() not in ("0", "1"):
                raise unreadable("布尔单元格内容无效", "a boolean cell is neither 0 nor 1")
            return "TRUE" if raw.strip() == "1" else "FALSE"
        raise unreadable(f"未知单元格类型 {kind[:20]}", f"unknown cell type {kind[:20]}")


def _check_directory(data: bytes) -> None:
    """Refuse a zip whose central directory is larger than MAX_ZIP_MEMBERS entries could need, before
    zipfile reads it (it builds an object per entry)."""
    pos = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if pos < 0 or len(data) < pos + 22:
        raise unreadable("不是有效的 XLSX（zip）文件", "not a valid XLSX (zip) file")
    entries, directory_size = struct.unpack_from("<HI", data, pos + 10)
    if entries > MAX_ZIP_MEMBERS or directory_size > MAX_ZIP_MEMBERS * 400:
        raise unreadable(f"压缩包成员超过 {MAX_ZIP_MEMBERS} 个", f"more than {MAX_ZIP_MEMBERS} zip members")


def _xlsx_rows(data: bytes, max_rows: int, deadline: Deadline) -> list[Row]:
    try:
        _check_directory(data)
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if len(zf.infolist()) > MAX_ZIP_MEMBERS:
                raise unreadable(f"压缩包成员超过 {MAX_ZIP_MEMBERS} 个", f"more than {MAX_ZIP_MEMBERS} zip members")
            sheet, shared_name = _first_sheet(zf, deadline)
            shared = _SharedStrings(1_000 + SHARED_STRINGS_PER_ROW * max_rows)
            if shared_name is not None and shared_name in zf.NameToInfo:
                _read_part(zf, shared_name, 64 * shared.cap + (1 << 20), deadline, shared)
            reader = _SheetReader(shared.strings, max_rows)
            try:
                _read_part(zf, sheet, (1 << 20) + SHEET_BYTES_PER_ROW * max_rows, deadline, reader)
            except _Enough:
                pass
            return reader.rows
    except expat.ExpatError as exc:
        raise unreadable(f"XML 格式错误（{expat.ErrorString(exc.code)}）",
                         f"malformed XML ({expat.ErrorString(exc.code)})") from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, EOFError, NotImplementedError,
            RuntimeError, OSError, ValueError) as exc:
        raise unreadable("不是有效的 XLSX（zip）文件", "not a valid XLSX (zip) file") from exc


# ---- rows -----------------------------------------------------------------------------------------

@functools.cache
def _invisible_re() -> re.Pattern[str]:
    """One character class of everything refused in a name (built once, ~0.2 s: every code point is looked at)."""
    ranges = INVISIBLE_RANGES + [(c, c) for c in range(0x110000)
                                 if unicodedata.category(chr(c)) in INVISIBLE_CATEGORIES]
    return re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]")


def _invisible(text: str) -> bool:
    if text.isascii():
        return not text.isprintable()
    return _invisible_re().search(text) is not None


def _text_field(result: ParseResult, line: int, column: str, raw: str, limit: int) -> str | None:
    """NFKC-normalised text (fullwidth 'Ａ１０１' == 'A101'); None (with a row error) for invisible, bidi or
    control characters, or text over ``limit`` characters."""
    if _invisible(raw):
        result.error(line, column, "invisible or control character", f"{column} 含不可见字符或控制字符")
        return None
    value = unicodedata.normalize("NFKC", raw).strip()
    if len(value) > limit:
        result.error(line, column, "too long", f"{column} 过长")
        return None
    return value


def area_centi(text: str) -> int:
    """A plain decimal with at most two places ('86.35' -> 8635); ValueError with parse_area's reasons."""
    s = text.strip()
    if not s:
        raise ValueError("missing")
    if not AREA.fullmatch(s):
        raise ValueError("not a number")
    if s.startswith("-"):
        raise ValueError("must be positive")
    if len(s.partition(".")[2]) > 2:
        raise ValueError("more than two decimal places")
    return parse_area(s)


def _header(result: ParseResult, line: int, header: list[str], overflow: bool) -> list[str | None]:
    mapping: list[str | None] = []
    seen: set[str] = set()
    for col in header:
        name = unicodedata.normalize("NFKC", col.replace("\ufeff", "")).strip()
        key = ALIASES.get(name.lower()) if name else None
        if name and key is None:
            result.error(line, name[:MAX_FIELD], "unknown column", f"未知列：{name[:MAX_FIELD]}")
        if key in seen:
            result.error(line, key, "duplicate column", f"重复列：{key}")
        if key:
            seen.add(key)
        mapping.append(key)
    if overflow:
        result.error(line, None, "too many columns", f"列数超过 {MAX_COLUMNS}")
    for req in REQUIRED:
        if req not in seen:
            result.error(line, req, "missing column", f"缺少列：{req}")
    return mapping


def _rows(result: ParseResult, body: Iterator[Row], mapping: list[str | None]) -> None:
    seen: dict[tuple[str, str, str], int] = {}
    for line, raw, overflow in body:
        if overflow or any(c for i, c in enumerate(raw) if i >= len(mapping)):
            result.error(line, None, "too many fields", "字段数多于表头")
            continue
        values = {k: (raw[i] if i < len(raw) else "") for i, k in enumerate(mapping) if k}
        bad = False
        names: dict[str, str] = {}
        for col in ("building", "unit", "room"):
            if not values.get(col):
                result.error(line, col, "missing value", f"缺少 {col}")
                bad = True
                continue
            value = _text_field(result, line, col, values[col], FIELD_MAX[col])
            if not value:
                if value == "":
                    result.error(line, col, "missing value", f"缺少 {col}")
                bad = True
            else:
                names[col] = value
        try:
            area = area_centi(values.get("area_m2", ""))
        except ValueError as exc:
            reason, zh = AREA_REASONS[str(exc)]
            result.error(line, "area_m2", reason, zh)
            bad = True
            area = 0
        owner: str | None = None
        if values.get("owner_key"):
            owner = _text_field(result, line, "owner_key", values["owner_key"], MAX_OWNER_KEY)
            bad = bad or owner is None
        if bad:
            continue
        key3 = (names["building"], names["unit"], names["room"])
        if key3 in seen:
            result.error(line, "room", "duplicate room", f"与第 {seen[key3]} 行房号重复")
            continue
        seen[key3] = line
        result.rows.append(ImportRow(line, *key3, area, owner or None))


def parse(data: bytes, *, max_rows: int, time_budget: float = 5.0) -> ParseResult:
    """Rows and row errors, or a fatal (code, zh, en) for the whole file. Blocking: call it in a thread."""
    result = ParseResult()
    if not data.strip():
        result.fatal = ("import.empty", "文件为空", "The file is empty")
        return result
    deadline = Deadline(time_budget)
    try:
        lines = (_xlsx_rows if data[:4] == b"PK\x03\x04" else _csv_rows)(data, max_rows, deadline)
        if not lines:
            raise Fatal("import.empty", "文件为空", "The file is empty")
        (header_line, header, overflow), body = lines[0], lines[1:]
        mapping = _header(result, header_line, header, overflow)
        if result.errors:
            return result
        if len(body) > max_rows:
            raise Fatal("import.too_many_rows", f"行数超过上限 {max_rows}", f"More than {max_rows} rows")
        _rows(result, iter(body), mapping)
    except Fatal as exc:
        result.fatal = exc.problem
        result.rows, result.errors = [], []
        return result
    if not result.rows and not result.errors:
        result.fatal = ("import.empty", "文件没有数据行", "The file has no data rows")
    return result


def single_row(*, building: str, unit: str, room: str, area_m2: str, owner_key: str | None) -> ParseResult:
    """One household entered by hand, checked exactly as an imported row is (names NFKC-normalised, invisible
    characters refused, the area a plain decimal with at most two places); errors carry line 1."""
    result = ParseResult()
    mapping: list[str | None] = ["building", "unit", "room", "area_m2", "owner_key"]
    _rows(result, iter([(1, [building, unit, room, area_m2, owner_key or ""], False)]), mapping)
    return result
