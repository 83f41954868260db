"""Administrative division codes: the shape of a code per level, and its parent's prefix."""

from __future__ import annotations

import pytest

from bihuan.territory import codes
from bihuan.territory.codes import CodeError, check_code, check_parent, code_length


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("420000", "province"),
        ("110000", "province"),
        ("420900", "city"),
        ("420100", "city"),
        ("420902", "district"),
        ("420984", "district"),
        ("420902003000", "street"),
        ("420902100000", "street"),
        ("420902003001", "community"),
        ("420902003210", "community"),
    ],
)
def test_valid_code_fits_its_level(code: str, level: str) -> None:
    check_code(code, level)


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("42000", "province"),  # too short
        ("4200000", "province"),  # too long
        ("420900", "province"),  # a province ends in 0000
        ("420000", "city"),  # a city has a non-zero city part
        ("420902", "city"),  # a city ends in 00
        ("420900", "district"),  # a district does not end in 00
        ("42090A", "district"),  # digits only
        ("420902003", "street"),  # 12 digits below the district
        ("420902000000", "street"),  # a street has a non-zero street part
        ("420902003001", "street"),  # a street ends in 000
        ("420902003000", "community"),  # a community does not end in 000
        ("4209020030011", "community"),  # too long
        ("420902003001", "village"),  # unknown level
        ("", "district"),
        (" 420902", "district"),
    ],
)
def test_invalid_code_is_refused(code: str, level: str) -> None:
    with pytest.raises(CodeError):
        check_code(code, level)


@pytest.mark.parametrize(
    "code",
    ["４２０９０２", "٤٢٠٩٠٢", "420902\n"],
    ids=["full-width digits", "arabic-indic digits", "trailing newline"],
)
def test_code_of_non_ascii_digits_is_refused(code: str) -> None:
    with pytest.raises(CodeError):
        check_code(code, "district")


@pytest.mark.parametrize(
    ("level", "length"),
    [("province", 6), ("city", 6), ("district", 6), ("street", 12), ("community", 12)],
)
def test_code_length_per_level(level: str, length: int) -> None:
    assert code_length(level) == length


@pytest.mark.parametrize(
    ("code", "level", "parent_code", "parent_level"),
    [
        ("420000", "province", None, None),
        ("420900", "city", "420000", "province"),
        ("420902", "district", "420900", "city"),
        ("420902003000", "street", "420902", "district"),
        ("420902003001", "community", "420902003000", "street"),
    ],
)
def test_child_code_repeats_its_parent_digits(
    code: str, level: str, parent_code: str | None, parent_level: str | None
) -> None:
    check_parent(code, level, parent_code, parent_level)


@pytest.mark.parametrize(
    ("code", "level", "parent_code", "parent_level"),
    [
        ("420000", "province", "420000", "province"),  # a province has no parent
        ("420900", "city", None, None),  # a city needs one
        ("420902003001", "community", None, None),
        ("430100", "city", "420000", "province"),  # another province's digits
        ("420921", "district", "420100", "city"),  # another city's digits
        ("420921001000", "street", "420902", "district"),  # another district's digits
        ("420902001001", "community", "420902003000", "street"),  # another street's digits
        ("420902003001", "community", "420902", "district"),  # a community's parent is a street
        ("420902", "district", "420000", "province"),  # a district's parent is a city
    ],
)
def test_wrong_parent_is_refused(
    code: str, level: str, parent_code: str | None, parent_level: str | None
) -> None:
    with pytest.raises(CodeError):
        check_parent(code, level, parent_code, parent_level)


@pytest.mark.parametrize(
    ("parent_code", "parent_level", "prefix"),
    [
        ("420000", "province", "42"),
        ("420900", "city", "4209"),
        ("420902", "district", "420902"),
        ("420902003000", "street", "420902003"),
    ],
)
def test_expected_prefix_is_the_significant_part_of_the_parent(
    parent_code: str, parent_level: str, prefix: str
) -> None:
    assert codes.expected_prefix(parent_code, parent_level) == prefix
