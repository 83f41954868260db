"""Hostile text payloads, kept as Python so that every byte is visible in a diff.

The binary files (workbooks, images) are in ``corpus/``, written by ``make_corpus.py``.
"""

from __future__ import annotations

import json

# Markup that must never come back raw: each carries a marker the tests look for.
XSS = [
    "<script>alert('bihuan-xss')</script>",
    '"><img src=x onerror=alert("bihuan-xss")>',
    "<svg/onload=alert('bihuan-xss')>",
    "javascript:alert('bihuan-xss')//",
    "'-alert('bihuan-xss')-'",
    "<iframe srcdoc=\"<script>alert('bihuan-xss')</script>\"></iframe>",
    "{{ 7|add:7 }}{% debug %}<b>bihuan-xss</b>",
]
# What a raw (unescaped) echo of XSS would put in a page; escaped echoes never contain these.
RAW_MARKERS = [
    "<script>alert(",
    "<img src=x onerror=",
    "<svg/onload",
    'href="javascript:',
    "<iframe srcdoc",
    "<b>bihuan-xss</b>",
]

SQL = [
    "' OR '1'='1",
    "'; DROP TABLE audit_event; --",
    "1; UPDATE accounts_user SET is_superuser = true; --",
    "' UNION SELECT username, password FROM accounts_user --",
    "%' AND 1=1 AND '%'='",
    "\\'; SELECT pg_sleep(5); --",
    "1) OR (1=1",
]

TRAVERSAL_NAMES = [
    "../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "/etc/cron.d/bihuan",
    "....//....//settings.py",
    "%2e%2e%2f%2e%2e%2fconfig.xlsx",
    "evil\x00.xlsx",
    "CON.xlsx",
    ".htaccess",
    "<script>alert('bihuan-xss')</script>.xlsx",
]

# Invalid UTF-8: a stray continuation byte, an overlong "/", a lone surrogate, a truncated
# sequence, and bytes that are invalid in GB18030 too (so no decoder can take the file).
MALFORMED_UTF8 = b"code,name\n420902,\x80\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe4\xb8\n"
NEITHER_UTF8_NOR_GBK = b"code,name\n420902,\xff\xff\xff\x80\x30\n"

# GBK text carrying payloads: a legitimate encoding with hostile contents.
GBK_CSV_HEADER = "代码,名称,上级代码,级别"


def gbk_csv(rows: list[tuple[str, str, str, str]]) -> bytes:
    """A region CSV in GBK with the given rows."""
    lines = [GBK_CSV_HEADER] + [",".join(row) for row in rows]
    return ("\n".join(lines) + "\n").encode("gbk", errors="replace")


def huge_json(megabytes: int = 12) -> bytes:
    """A JSON object larger than DATA_UPLOAD_MAX_MEMORY_SIZE (10 MB)."""
    filler = "x" * 1024
    return json.dumps(
        {
            "description": "<script>alert('bihuan-xss')</script>",
            "padding": [filler] * (megabytes * 1024),
        }
    ).encode()


def deep_json(depth: int = 100_000) -> bytes:
    """Nesting deep enough to exhaust a recursive parser's stack."""
    return b"[" * depth + b"]" * depth


def is_raw(body: bytes) -> bool:
    """Does a response body carry a payload unescaped?"""
    text = body.decode("utf-8", errors="replace")
    return any(marker in text for marker in RAW_MARKERS)
