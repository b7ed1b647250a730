"""Hostile files, built at test time (never committed): zip bombs, grid bombs, long names, links.

Every builder writes a real file a hostile or careless uploader could make, smallest first: the
tests assert that doisoat refuses or bounds it, and the memory tests run the upload in a child
process with an address-space limit (a safety net for the machine) and read its peak RSS.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

from rules.ingest.limits import column_letters

REPO = Path(__file__).resolve().parents[2]
HEADER = ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân"]

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
    'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/>{shared}</Types>'
)
_SHARED_TYPE = ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                'officedocument.spreadsheetml.sharedStrings+xml"/>')
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
             'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
             'relationships"><sheets><sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WB_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>{shared}'
            '</Relationships>')
_SHARED_REL = ('<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
               'relationships/sharedStrings" Target="sharedStrings.xml"/>')
_SHEET_HEAD = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
               'spreadsheetml/2006/main"><sheetData>')
_SHEET_TAIL = "</sheetData></worksheet>"


col_letters = column_letters  # Excel's column names: the reader's own rule (rules.ingest.limits)


def inline_row(r: int, values: list[str]) -> str:
    cells = "".join(f'<c r="{col_letters(j + 1)}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
                    for j, v in enumerate(values))
    return f'<row r="{r}">{cells}</row>'


def write_xlsx(path: Path, sheet_parts, *, shared_parts=None, sheet_name: str = "DS") -> Path:
    """An xlsx from worksheet XML given as an iterable of text parts (streamed into the zip, so a
    bomb of gigabytes costs the test only its compressed size in memory)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        shared = shared_parts is not None
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES.format(shared=_SHARED_TYPE if shared else ""))
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WORKBOOK.format(sheet=sheet_name))
        zf.writestr("xl/_rels/workbook.xml.rels", _WB_RELS.format(shared=_SHARED_REL if shared else ""))
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            for part in sheet_parts:
                fh.write(part.encode("utf-8"))
        if shared:
            with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
                for part in shared_parts:
                    fh.write(part.encode("utf-8"))
    return path


def zip_bomb(path: Path, unpacked_mib: int = 300) -> Path:
    """About 1 MB packed: a header row, then the same row again and again (``unpacked_mib`` MiB)."""
    cells = "".join('<c t="inlineStr"><is><t>a</t></is></c>' for _ in HEADER)
    row = f"<row>{cells}</row>"  # rows without r= follow each other: a periodic text that packs ~1000x
    block = row * ((1 << 20) // len(row))

    def parts():
        yield _SHEET_HEAD + inline_row(1, HEADER)
        for _ in range(unpacked_mib):
            yield block
        yield _SHEET_TAIL

    return write_xlsx(path, parts())


def shared_string_bomb(path: Path, mib: int = 128) -> Path:
    """A 128 MiB shared string (a "name") in a file of about 130 KB."""
    def shared():
        yield ('<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
               'spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>')
        chunk = "A" * (1 << 20)
        for _ in range(mib):
            yield chunk
        yield "</t></si></sst>"

    sheet = [_SHEET_HEAD, inline_row(1, HEADER),
             '<row r="2"><c r="A2" t="inlineStr"><is><t>1</t></is></c><c r="B2" t="s"><v>0</v></c></row>',
             _SHEET_TAIL]
    return write_xlsx(path, sheet, shared_parts=shared())


def grid_bomb(path: Path, far_cell: str) -> Path:
    """A header row and one cell far away (``far_cell`` such as ``ZZ1000000``): a few hundred bytes."""
    letters = "".join(ch for ch in far_cell if ch.isalpha())
    row = int(far_cell[len(letters):])
    sheet = [_SHEET_HEAD, inline_row(1, HEADER), inline_row(2, ["1", "Nguyễn Văn An", "05/09/2012", "Nam",
                                                                  "079212000123"]),
             f'<row r="{row}"><c r="{far_cell}" t="inlineStr"><is><t>x</t></is></c></row>', _SHEET_TAIL]
    return write_xlsx(path, sheet)


def lying_directory(path: Path, unpacked_mib: int = 300) -> Path:
    """A zip bomb whose central directory claims each member unpacks to its packed size (ratio 1)."""
    zip_bomb(path, unpacked_mib)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    end = data.rfind(b"PK\x05\x06")
    central = int.from_bytes(data[end + 16:end + 20], "little")
    pos = central
    for info in infos:  # central header: uncompressed size at +24 (zip64 members keep 0xffffffff there)
        assert data[pos:pos + 4] == b"PK\x01\x02"
        size_field = int.from_bytes(data[pos + 24:pos + 28], "little")
        if size_field != 0xFFFFFFFF:
            data[pos + 24:pos + 28] = min(info.compress_size, 0xFFFFFFFE).to_bytes(4, "little")
        name_len, extra_len, comment_len = (int.from_bytes(data[pos + k:pos + k + 2], "little")
                                            for k in (28, 30, 32))
        pos += 46 + name_len + extra_len + comment_len
    path.write_bytes(bytes(data))
    return path


def run_limited(args: list[str], *, data: Path, limit_gib: int = 4, timeout: int = 300) -> dict:
    """``doisoat <args>`` in a child process with an address-space limit; its exit code, peak RSS (MiB,
    the child's own high-water mark), stdout and stderr."""
    script = (
        "import json, resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({limit_gib} << 30, {limit_gib} << 30))\n"
        "from pipelines.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve from the forked parent (pytest)
        "peak = next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')) / 1024\n"
        "print('@@' + json.dumps({'rc': rc, 'maxrss_mib': peak}))\n"
    )
    env = {"DOISOAT_DATA": str(data), "PATH": "/usr/bin:/bin", "HOME": str(data),
           "DAGSTER_HOME": str(REPO), "POLARS_MAX_THREADS": "2"}
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env)
    marker = [line for line in proc.stdout.splitlines() if line.startswith("@@")]
    result = json.loads(marker[-1][2:]) if marker else {"rc": proc.returncode, "maxrss_mib": None}
    return result | {"stdout": proc.stdout, "stderr": proc.stderr, "returncode": proc.returncode}


def children_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def compress_ratio(path: Path) -> float:
    with zipfile.ZipFile(path) as zf:
        return max(i.file_size / max(i.compress_size, 1) for i in zf.infolist())


__all__ = ["compress_ratio", "grid_bomb", "lying_directory", "run_limited", "shared_string_bomb", "write_xlsx",
           "zip_bomb", "zlib"]
