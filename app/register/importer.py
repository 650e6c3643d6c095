"""Parse a household register file (CSV or XLSX) into rows, collecting every bad row with its line."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field

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


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v).strip()


def _read_xlsx(data: bytes, max_rows: int) -> list[list[str]] | None:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError):
        return None
    try:
        ws = wb.worksheets[0]
        out: list[list[str]] = []
        for i, row in enumerate(ws.iter_rows(values_only=True)):
            if i > max_rows + 1:
                break
            out.append([_cell(v) for v in row])
        return out
    finally:
        wb.close()


def parse(data: bytes, *, max_rows: int) -> ParseResult:
    result = ParseResult()
    if not data.strip():
        result.fatal = ("import.empty", "文件为空", "The file is empty")
        return result
    if data[:4] == b"PK\x03\x04":
        table = _read_xlsx(data, max_rows)
        if table is None:
            result.fatal = ("import.unreadable", "无法读取该 XLSX 文件", "The XLSX file cannot be read")
            return result
    else:
        text = decode_text(data)
        if text is None or "\x00" in text:
            result.fatal = ("import.encoding", "文件编码无法识别（请使用 UTF-8 或 GB18030）",
                            "Unrecognised encoding (use UTF-8 or GB18030)")
            return result
        try:
            table = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text))]
        except csv.Error:
            result.fatal = ("import.unreadable", "无法解析 CSV 文件", "The CSV file cannot be parsed")
            return result
    # drop fully empty trailing/blank rows but keep line numbers
    lines = [(i + 1, r) for i, r in enumerate(table) if any(c for c in r)]
    if not lines:
        result.fatal = ("import.empty", "文件为空", "The file is empty")
        return result
    header_line, header = lines[0]
    mapping: list[str | None] = []
    seen_cols: set[str] = set()
    for col in header:
        key = ALIASES.get(col.strip().lstrip("\ufeff").lower()) if col.strip() else None
        if col.strip() and key is None:
            result.error(header_line, col.strip()[:MAX_FIELD], "unknown column", f"未知列：{col.strip()[:MAX_FIELD]}")
        if key in seen_cols:
            result.error(header_line, key, "duplicate column", f"重复列：{key}")
        if key:
            seen_cols.add(key)
        mapping.append(key)
    for req in REQUIRED:
        if req not in seen_cols:
            result.error(header_line, req, "missing column", f"缺少列：{req}")
    if result.errors:
        return result
    body = lines[1:]
    if len(body) > max_rows:
        result.fatal = ("import.too_many_rows", f"行数超过上限 {max_rows}", f"More than {max_rows} rows")
        return result
    seen: dict[tuple[str, str, str], int] = {}
    for line, raw in body:
        values = {k: (raw[i] if i < len(raw) else "") for i, k in enumerate(mapping) if k}
        extra = [c for i, c in enumerate(raw) if i >= len(mapping) and c]
        if extra:
            result.error(line, None, "too many fields", "字段数多于表头")
            continue
        bad = False
        for req in ("building", "unit", "room"):
            if not values.get(req):
                result.error(line, req, "missing value", f"缺少 {req}")
                bad = True
            elif len(values[req]) > MAX_FIELD:
                result.error(line, req, "too long", f"{req} 过长")
                bad = True
        try:
            area = parse_area(values.get("area_m2"))
        except ValueError as exc:
            reason = {"missing": ("missing area", "缺少面积"), "not a number": ("non-numeric area", "面积不是数字"),
                      "must be positive": ("negative or zero area", "面积必须大于 0"),
                      "more than two decimal places": ("area has more than two decimals", "面积最多两位小数"),
                      "too large": ("area too large", "面积过大")}[str(exc)]
            result.error(line, "area_m2", reason[0], reason[1])
            bad = True
            area = 0
        owner = values.get("owner_key") or None
        if owner is not None and len(owner) > 200:
            result.error(line, "owner_key", "too long", "业主标识过长")
            bad = True
        if bad:
            continue
        key3 = (values["building"], values["unit"], values["room"])
        if key3 in seen:
            result.error(line, "room", "duplicate room", f"与第 {seen[key3]} 行房号重复")
            continue
        seen[key3] = line
        result.rows.append(ImportRow(line, values["building"], values["unit"], values["room"], area, owner))
    if not result.rows and not result.errors:
        result.fatal = ("import.empty", "文件没有数据行", "The file has no data rows")
    return result
