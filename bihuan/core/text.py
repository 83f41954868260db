"""Text as users type it: Traditional characters are matched as Simplified.

OpenCC's table-driven conversion (t2s) is the reference implementation used across the Chinese
open-source world; a hand-written character map would miss phrases and variants.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import opencc


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """The Simplified form of a text written in Traditional (or mixed) characters."""
    return _t2s().convert(text) if text else text


def normalize_query(text: str) -> str:
    """A search query as stored data is written: NFKC (full-width → half-width), Simplified."""
    return to_simplified(unicodedata.normalize("NFKC", text).strip())
