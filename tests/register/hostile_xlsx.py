"""Hostile XLSX workbooks built from bytes (zipfile in memory), for the import hardening tests."""

from __future__ import annotations

import io
import struct
import zipfile

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RNS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
HEADER_ROW = ('<row r="1"><c r="A1" t="inlineStr"><is><t>building</t></is></c><c r="B1" t="inlineStr"><is><t>unit'
              '</t></is></c><c r="C1" t="inlineStr"><is><t>room</t></is></c><c r="D1" t="inlineStr"><is><t>area_m2'
              '</t></is></c></row>')

CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
CONTENT_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{CT}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{CT}.worksheet+xml"/>')
SHARED_TYPE = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{CT}.sharedStrings+xml"/>'


def workbook(sheet: bytes | str, shared: bytes | str | None = None, *, extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal workbook whose first sheet is ``sheet`` (the whole XML document)."""
    rels = (f'<?xml version="1.0"?><Relationships xmlns="{PKG}">'
            f'<Relationship Id="rId1" Type="{RNS}/worksheet" Target="worksheets/sheet1.xml"/>'
            + (f'<Relationship Id="rId2" Type="{RNS}/sharedStrings" Target="sharedStrings.xml"/>' if shared else "")
            + "</Relationships>")
    parts = {
        "[Content_Types].xml": CONTENT_TYPES + (SHARED_TYPE if shared is not None else "") + "</Types>",
        "_rels/.rels": f'<?xml version="1.0"?><Relationships xmlns="{PKG}"><Relationship Id="rId1" '
                       f'Type="{RNS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook xmlns="{NS}" xmlns:r="{RNS}"><sheets>'
                           f'<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": rels,
        "xl/worksheets/sheet1.xml": sheet,
    }
    if shared is not None:
        parts["xl/sharedStrings.xml"] = shared
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, body in (parts | (extra or {})).items():
            z.writestr(name, body.encode() if isinstance(body, str) else body)
    return buf.getvalue()


def sheet(rows: str, *, head: str = "") -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}">{head}<sheetData>{rows}</sheetData></worksheet>'


def data_row(line: int, building: str, unit: str, room: str, area: str, *, area_type: str = "") -> str:
    def s(col: str, v: str) -> str:
        return f'<c r="{col}{line}" t="inlineStr"><is><t>{v}</t></is></c>'

    return (f'<row r="{line}">{s("A", building)}{s("B", unit)}{s("C", room)}'
            f'<c r="D{line}"{area_type}><v>{area}</v></c></row>')


def ok_rows() -> str:
    return HEADER_ROW + data_row(2, "1", "1", "101", "80.5")


def declared_dimension(room: str = "101") -> bytes:
    """2 real rows, 1 and 20,002, and the sheet claims to span A1:XFD20002 (16,384 × 20,002 cells)."""
    return workbook(sheet(HEADER_ROW + data_row(20_002, "1", "1", room, "80.5"), head='<dimension ref="A1:XFD20002"/>'))


def wide_row(cells: int = 3_000_000) -> bytes:
    """One row of millions of cells after a valid header."""
    return workbook(sheet(HEADER_ROW + '<row r="2">' + "<c><v>1</v></c>" * cells + "</row>"))


def many_shared_strings(count: int = 2_000_000) -> bytes:
    sst = (f'<?xml version="1.0"?><sst xmlns="{NS}" count="{count}" uniqueCount="{count}">'
           + "<si><t>x</t></si>" * count + "</sst>")
    return workbook(sheet(ok_rows()), sst)


def billion_laughs() -> bytes:
    ents = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    doc = (f'<?xml version="1.0"?><!DOCTYPE worksheet [{ents}]><worksheet xmlns="{NS}"><sheetData>{HEADER_ROW}'
           f'<row r="2"><c t="inlineStr"><is><t>&a9;</t></is></c></row></sheetData></worksheet>')
    return workbook(doc)


def malformed_sheet() -> bytes:
    return workbook(sheet(ok_rows())[:-40])


def nul_reference() -> bytes:
    return workbook(sheet(HEADER_ROW + data_row(2, "1", "1", "10&#0;1", "80")))


def raw_control_char() -> bytes:
    return workbook(sheet(HEADER_ROW + data_row(2, "1", "1", "10\x011", "80")))


def shared_index_out_of_range() -> bytes:
    sst = f'<?xml version="1.0"?><sst xmlns="{NS}"><si><t>101</t></si></sst>'
    return workbook(sheet(HEADER_ROW + '<row r="2"><c t="inlineStr"><is><t>1</t></is></c><c t="inlineStr"><is><t>1'
                          '</t></is></c><c t="s"><v>99</v></c><c><v>80</v></c></row>'), sst)


def numeric(value: str) -> bytes:
    """A numeric area cell holding ``value`` verbatim (NaN, inf, 1e400, ...)."""
    return workbook(sheet(HEADER_ROW + data_row(2, "1", "1", "101", value)))


def many_rows(count: int, *, bad_last: bool = False, building: str = "") -> bytes:
    """``count`` valid data rows (inline strings, numeric areas), optionally followed by one bad area."""
    rows = [HEADER_ROW] + [data_row(i + 2, f"{building}{i // 500 + 1}", f"{i // 100 % 5 + 1}", f"{i % 100 + 101}",
                                    f"{60 + i % 40}.5") for i in range(count)]
    if bad_last:
        rows.append(data_row(count + 2, "1", "1", "999", "abc", area_type=' t="str"'))
    return workbook(sheet("".join(rows)))


def element_flood() -> bytes:
    """Just under the element budget of a 20,000-row import: ~580,000 empty rows; the parser must work through
    them (no cap refuses it early), so this is the slowest file the caps let through."""
    return workbook(sheet(HEADER_ROW + "<row/>" * 580_000))


def size_lie(real: int = 40_000_000) -> bytes:
    """A sheet member whose header claims 1 KB but inflates to ``real`` bytes (a zip bomb that lies)."""
    body = sheet(HEADER_ROW + "<row r=\"2\">" + " " * real + "</row>").encode()
    data = workbook(body)
    info_name = b"xl/worksheets/sheet1.xml"
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed-size field in both headers
        pos = out.find(sig)
        while pos != -1:
            name_off = 30 if sig == b"PK\x03\x04" else 46
            n = struct.unpack_from("<H", out, pos + (26 if sig == b"PK\x03\x04" else 28))[0]
            if bytes(out[pos + name_off:pos + name_off + n]) == info_name:
                struct.pack_into("<I", out, pos + off, 1024)
            pos = out.find(sig, pos + 4)
    return bytes(out)


def huge_declared_size() -> bytes:
    """A sheet that really inflates to 40 MB of whitespace (declared honestly)."""
    return workbook(sheet(HEADER_ROW + "<row r=\"2\">" + " " * 40_000_000 + "</row>"))


def many_members(count: int = 50_000) -> bytes:
    return workbook(sheet(ok_rows()), extra={f"x/{i}": b"" for i in range(count)})


HOSTILE = {
    "declared_dimension": declared_dimension,
    "wide_row": wide_row,
    "many_shared_strings": many_shared_strings,
    "billion_laughs": billion_laughs,
    "malformed_sheet": malformed_sheet,
    "nul_reference": nul_reference,
    "raw_control_char": raw_control_char,
    "shared_index_out_of_range": shared_index_out_of_range,
    "nan": lambda: numeric("NaN"),
    "inf": lambda: numeric("inf"),
    "size_lie": size_lie,
    "huge_declared_size": huge_declared_size,
    "many_members": many_members,
}
