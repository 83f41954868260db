"""Personal data is masked (脱敏) for everyone who does not need it."""

from __future__ import annotations

import pytest
from django.test import Client

from bihuan.accounts.models import Department, User
from bihuan.core.masking import mask_id_number, mask_name, mask_phone


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812341234", "138****1234"),
        (" 13812341234 ", "138****1234"),
        ("07128888888", "071****8888"),
        ("12345678", "123*5678"),
        ("1234567", "*******"),
        ("", ""),
    ],
)
def test_mask_phone_keeps_the_first_three_and_last_four_digits(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("420902199001011234", "4209**********1234"),
        ("42090219900101123X", "4209**********123X"),
        ("G12345678", "G123*5678"),
        ("12345678", "********"),
    ],
)
def test_mask_id_number_keeps_the_first_four_and_last_four(number: str, masked: str) -> None:
    assert mask_id_number(number) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三丰", "张*丰"),
        ("杨铁柱", "杨*柱"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧*娜娜"),
        ("王", "王"),
    ],
)
def test_mask_name_hides_the_second_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_region_page_shows_people_with_masked_phones_to_the_supervisor(
    client: Client, supervisor_city: User
) -> None:
    client.force_login(supervisor_city)
    response = client.get("/territory/regions/420902003001/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "赵丽" in content
    assert "139****0006" in content
    assert "13900000006" not in content


def test_department_page_shows_officers_with_masked_phones_to_the_supervisor(
    client: Client, supervisor_city: User
) -> None:
    department = Department.objects.get(short_name="市市场监管局")
    client.force_login(supervisor_city)
    response = client.get(f"/departments/{department.pk}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "林涛" in content
    assert "139****0010" in content
    assert "13900000010" not in content


def test_user_page_shows_a_masked_phone_to_the_coordinator(
    client: Client, coordinator_wenchang: User, inspector_wenchang: User
) -> None:
    client.force_login(coordinator_wenchang)
    response = client.get(f"/users/{inspector_wenchang.pk}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "139****0008" in content
    assert "13900000008" not in content


def test_user_page_shows_the_full_phone_to_the_system_administrator(
    client: Client, admin_system: User, inspector_wenchang: User
) -> None:
    client.force_login(admin_system)
    response = client.get(f"/users/{inspector_wenchang.pk}/")
    assert "13900000008" in response.content.decode()
