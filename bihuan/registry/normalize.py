"""Normal forms of institution names, phones and addresses, shared by import, matcher and search."""

from __future__ import annotations

import re
import unicodedata

from pypinyin import Style, lazy_pinyin

from bihuan.core.text import to_simplified

# Punctuation, spaces and symbols that differ between copies of the same name.
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)
# Legal-form words that say nothing about which institution it is.
_LEGAL_FORMS = ("有限责任公司", "有限公司", "股份有限公司", "培训学校有限公司")


def normalize_name(name: str) -> str:
    """Simplified, half-width, lower-case, without spaces or punctuation."""
    text = unicodedata.normalize("NFKC", name or "")
    text = to_simplified(text).lower()
    return _NOISE.sub("", text)


def core_name(name: str) -> str:
    """The normalised name without bracketed branch notes and legal-form suffixes, for matching."""
    text = unicodedata.normalize("NFKC", name or "")
    text = re.sub(r"[(（\[【].*?[)）\]】]", "", text)
    text = normalize_name(text)
    for suffix in _LEGAL_FORMS:
        if text.endswith(suffix) and len(text) > len(suffix) + 1:
            text = text[: -len(suffix)]
            break
    return text


def pinyin_forms(name: str) -> tuple[str, str]:
    """Full pinyin without tones and the initials, both lower-case without separators."""
    simplified = normalize_name(name)
    syllables = lazy_pinyin(simplified, style=Style.NORMAL, errors="default")
    full = "".join(syllables).lower()
    initials = "".join(s[0] for s in syllables if s).lower()
    return full[:600], initials[:200]


def normalize_phone(phone: str) -> str:
    """Digits only, without the +86 / 0086 country prefix."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone or ""))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) in (11, 12):
            digits = digits[len(prefix) :]
            break
    return digits


def normalize_address(address: str) -> str:
    """Simplified, half-width, without spaces or punctuation."""
    return normalize_name(address)
