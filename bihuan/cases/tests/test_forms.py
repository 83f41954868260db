"""Amounts typed in yuan become fen exactly, or are refused with a message."""

from __future__ import annotations

import pytest
from django.utils import translation

from bihuan.cases.forms import PenaltyForm, RefundForm


@pytest.mark.parametrize(
    ("typed", "fen"),
    [
        ("1250", 125_000),
        ("1250.5", 125_050),
        ("1250.50", 125_050),
        ("0.01", 1),
        (".5", 50),
        ("1,250.50", 125_050),
        ("¥ 99.99", 9_999),
        ("10000000000", 10**12),
        (" 3 ", 300),
    ],
)
def test_amount_in_yuan_is_stored_in_fen(typed: str, fen: int) -> None:
    form = RefundForm({"amount": typed, "families": "1"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["amount"] == fen


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("12.345", "at most two decimals"),
        ("0.001", "at most two decimals"),
        ("-5", "cannot be negative"),
        ("-0.50", "cannot be negative"),
        ("abc", "Enter an amount in yuan"),
        ("1e3", "Enter an amount in yuan"),
        ("NaN", "Enter an amount in yuan"),
        ("12.3.4", "Enter an amount in yuan"),
        ("0", "at least ¥0.01"),
        ("0.00", "at least ¥0.01"),
        ("10000000000.01", "too large"),
    ],
)
def test_unusable_amounts_are_refused_with_a_message(typed: str, message: str) -> None:
    with translation.override("en"):
        form = PenaltyForm({"amount": typed, "basis": "第十八条"})
        assert not form.is_valid()
        assert any(message in error for error in form.errors["amount"])


def test_amount_is_required() -> None:
    form = PenaltyForm({"amount": " ", "basis": "第十八条"})
    assert form.has_error("amount", "required")


def test_families_must_be_a_positive_whole_number() -> None:
    for families in ("0", "-1", "1.5", "many"):
        form = RefundForm({"amount": "10", "families": families})
        assert not form.is_valid()
        assert "families" in form.errors
