"""Write the hostile input corpus (``corpus/``) deterministically: ``python tests/hostile/make_corpus.py``.

Every file is small on disk (at most about 1 MB) and hostile when opened: workbooks that expand to
a gibibyte or declare four, XML entity bombs and external entities, images whose pixels would fill
the memory, and polyglots that are an image and a web page at once. ``README.md`` beside this
script says which entry points receive each file. Run it again after a change: the same bytes come
out (fixed zip timestamps, fixed pixels), so a diff shows only a real change.
"""

# The OOXML parts below are kept verbatim, one element a line, whatever their length.
# ruff: noqa: E501

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path

from PIL import Image

CORPUS = Path(__file__).resolve().parent / "corpus"
GIB = 1024**3
STAMP = (2026, 1, 1, 0, 0, 0)
SCRIPT = b"<script>alert('bihuan-xss')</script>"

CONTENT_TYPES = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>"""
ROOT_RELS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
WORKBOOK = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="survey" sheetId="1" r:id="rId1"/></sheets>
</workbook>"""
WORKBOOK_RELS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
</Relationships>"""
SHEET_OPEN = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
SHEET_CLOSE = b"</sheetData></worksheet>"


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _workbook(sheet: bytes | None = None, *, extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal XLSX package around one worksheet's XML."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(_info("[Content_Types].xml"), CONTENT_TYPES)
        archive.writestr(_info("_rels/.rels"), ROOT_RELS)
        archive.writestr(_info("xl/workbook.xml"), WORKBOOK)
        archive.writestr(_info("xl/_rels/workbook.xml.rels"), WORKBOOK_RELS)
        if sheet is not None:
            archive.writestr(_info("xl/worksheets/sheet1.xml"), sheet)
        for name, data in (extra or {}).items():
            archive.writestr(_info(name), data)
    return out.getvalue()


def _cells(*values: str) -> bytes:
    row = "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values)
    return f'<row r="1">{row}</row>'.encode()


def zip_bomb_actual() -> bytes:
    """One cell whose text is 1 GiB of "0": the sheet really inflates to just over a gibibyte.

    One repeated byte, because deflate codes a match at distance 1 in a few bits: at level 9 the
    ratio is about 1:1030, so the file stays near a megabyte (a repeated cell would cost 1:340).
    """
    chunk = b"0" * (1024 * 1024)
    head = SHEET_OPEN + b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
    tail = b"</t></is></c></row>" + SHEET_CLOSE
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(_info("[Content_Types].xml"), CONTENT_TYPES)
        archive.writestr(_info("_rels/.rels"), ROOT_RELS)
        archive.writestr(_info("xl/workbook.xml"), WORKBOOK)
        archive.writestr(_info("xl/_rels/workbook.xml.rels"), WORKBOOK_RELS)
        info = _info("xl/worksheets/sheet1.xml")
        # ZipInfo has no public level before Python 3.13; the old name still works after it.
        info._compresslevel = 9  # type: ignore[attr-defined]
        with archive.open(info, "w", force_zip64=True) as sheet:
            sheet.write(head)
            for _ in range(GIB // len(chunk)):
                sheet.write(chunk)
            sheet.write(tail)
    return out.getvalue()


def zip_bomb_declared() -> bytes:
    """A small, valid workbook whose sheet claims (in both zip headers) to inflate to 4 GiB."""
    data = bytearray(_workbook(SHEET_OPEN + _cells("code", "name") + SHEET_CLOSE))
    target = b"xl/worksheets/sheet1.xml"
    declared = 0xFFFFFFFE  # just under the zip64 marker: a plain 32-bit header can say it
    # Local file header: signature, then the uncompressed size at offset 22 and the name at 30.
    local = data.find(b"PK\x03\x04" + b"\x14\x00")
    while local != -1:
        name_len = struct.unpack_from("<H", data, local + 26)[0]
        if bytes(data[local + 30 : local + 30 + name_len]) == target:
            struct.pack_into("<I", data, local + 22, declared)
        local = data.find(b"PK\x03\x04", local + 4)
    # Central directory header: the uncompressed size at offset 24, the name at 46.
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46 : central + 46 + name_len]) == target:
            struct.pack_into("<I", data, central + 24, declared)
        central = data.find(b"PK\x01\x02", central + 4)
    return bytes(data)


def billion_laughs() -> bytes:
    """Nested entities: ten levels of ten make 10^9 copies of "lol" from one reference."""
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
    doctype = "<!DOCTYPE worksheet [" + "".join(entities) + "]>"
    sheet = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + doctype.encode()
        + b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<sheetData>" + _cells("&lol9;", "name") + SHEET_CLOSE
    )
    return _workbook(sheet)


def external_entity() -> bytes:
    """XXE: a cell whose text is an entity naming a local file."""
    sheet = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<sheetData>" + _cells("&xxe;", "name") + SHEET_CLOSE
    )
    return _workbook(sheet)


def html_named_xlsx() -> bytes:
    """A web page uploaded under a workbook's name."""
    return b"<!doctype html><html><body>" + SCRIPT + b"</body></html>\n"


def zip_without_workbook() -> bytes:
    """A zip (PK header) that is no workbook: one text file with a traversal name."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(_info("../../etc/cron.d/bihuan"), b"* * * * * root id\n")
    return out.getvalue()


def _jpeg(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=80)
    return out.getvalue()


def png_bomb() -> bytes:
    """20000 × 20000 one-bit pixels (400 megapixels, over twice Pillow's limit), ~50 KB."""
    out = io.BytesIO()
    Image.new("1", (20000, 20000), 0).save(out, format="PNG", optimize=True)
    return out.getvalue()


def jpeg_huge_header() -> bytes:
    """A real JPEG whose frame header claims 65500 × 65500 pixels."""
    data = bytearray(_jpeg())
    sof = data.find(b"\xff\xc0")
    # SOF0: marker, length (2), precision (1), then height and width (2 bytes each).
    struct.pack_into(">HH", data, sof + 5, 65500, 65500)
    return bytes(data)


def polyglot_jpeg_html() -> bytes:
    """A decodable JPEG with a web page in a comment segment and again after its end marker."""
    data = _jpeg()
    page = b"<html><body>" + SCRIPT + b'<img src=x onerror=alert("bihuan-xss")></body></html>'
    comment = b"\xff\xfe" + struct.pack(">H", len(page) + 2) + page
    # After SOI (2 bytes): browsers sniffing the start see an image, a parser of the tail a page.
    return data[:2] + comment + data[2:] + page


def fake_jpeg_html() -> bytes:
    """A JPEG's first bytes, then a web page: passes a magic-number check, decodes as nothing."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"<html>" + SCRIPT + b"</html>" * 40


def svg_as_png() -> bytes:
    """An SVG with a script, named like a photo."""
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\'bihuan-xss\')">'
        + SCRIPT
        + b"</svg>\n"
    )


def gif_js_polyglot() -> bytes:
    """GIF89a header that is also a JavaScript statement."""
    return b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;alert('bihuan-xss');" + b"\x00;"


def pdf_html() -> bytes:
    """A file that starts like a PDF and is a web page after the first line."""
    return b"%PDF-1.7\n<html><body>" + SCRIPT + b"</body></html>\n%%EOF\n"


def png_text_xss() -> bytes:
    """A valid PNG carrying a script in a tEXt chunk (metadata that must not survive)."""
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 120, 200)).save(out, format="PNG")
    data = out.getvalue()
    body = b"Comment\x00" + SCRIPT
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body) & 0xFFFFFFFF)
    end = data.rfind(b"IEND") - 4
    return data[:end] + chunk + data[end:]


FILES = {
    "xlsx_bomb_1gib.xlsx": zip_bomb_actual,
    "xlsx_bomb_declared_4gib.xlsx": zip_bomb_declared,
    "xlsx_billion_laughs.xlsx": billion_laughs,
    "xlsx_external_entity.xlsx": external_entity,
    "xlsx_html_page.xlsx": html_named_xlsx,
    "xlsx_zip_no_workbook.xlsx": zip_without_workbook,
    "img_png_bomb_400mpx.png": png_bomb,
    "img_jpeg_header_65500px.jpg": jpeg_huge_header,
    "img_polyglot_jpeg_html.jpg": polyglot_jpeg_html,
    "img_fake_jpeg_html.jpg": fake_jpeg_html,
    "img_svg_script.png": svg_as_png,
    "img_gif_js_polyglot.gif": gif_js_polyglot,
    "img_pdf_html.pdf": pdf_html,
    "img_png_text_xss.png": png_text_xss,
}


def main(names: list[str]) -> None:
    CORPUS.mkdir(exist_ok=True)
    for name, make in FILES.items():
        if names and name not in names:
            continue
        data = make()
        (CORPUS / name).write_bytes(data)
        print(f"{name:36} {len(data):>9} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
