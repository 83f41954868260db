"""Display masks for personal data (脱敏): phone 138****1234, ID first 4 + last 4, name 张*三."""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """Keep the first three and last four digits of a phone number."""
    digits = phone.strip()
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_id_number(number: str) -> str:
    """Keep the first four and the last four characters of an identity document number."""
    value = number.strip()
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:4]}{'*' * (len(value) - 8)}{value[-4:]}"


def mask_name(name: str) -> str:
    """Replace the second character of a personal name."""
    value = name.strip()
    if len(value) < 2:
        return value
    return f"{value[0]}*{value[2:]}"
