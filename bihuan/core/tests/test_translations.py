"""The Simplified Chinese catalog is complete, compiled, and covers every string in the code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

CATALOG = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"


def _entries() -> list[polib.POEntry]:
    return [e for e in polib.pofile(str(CATALOG / "django.po")) if not e.obsolete]


def test_every_message_has_a_chinese_translation() -> None:
    untranslated = [e.msgid for e in _entries() if not e.translated()]
    assert untranslated == []


def test_no_translation_is_fuzzy() -> None:
    assert [e.msgid for e in _entries() if "fuzzy" in e.flags] == []


def test_compiled_catalog_matches_the_source_catalog() -> None:
    compiled = {
        (e.msgid, e.msgstr or str(e.msgstr_plural))
        for e in polib.mofile(str(CATALOG / "django.mo"))
        if e.msgid
    }
    source = {(e.msgid, e.msgstr or str(e.msgstr_plural)) for e in _entries()}
    assert compiled == source


def test_catalog_holds_every_translatable_string_in_the_code(tmp_path: Path) -> None:
    # Extract afresh from a copy of the sources and compare the message ids with the catalog.
    root = Path(settings.BASE_DIR)
    for name in ("bihuan", "config", "templates", "locale"):
        shutil.copytree(root / name, tmp_path / name, ignore=shutil.ignore_patterns("tests"))
    shutil.copy(root / "manage.py", tmp_path / "manage.py")
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-obsolete", "-v", "0"],
        cwd=tmp_path,
        check=True,
        env={"DJANGO_SETTINGS_MODULE": "config.settings.test", "PATH": "/usr/bin:/bin"},
    )
    fresh = {e.msgid for e in polib.pofile(str(tmp_path / "locale/zh_Hans/LC_MESSAGES/django.po"))}
    assert fresh - {e.msgid for e in _entries()} == set()


@pytest.mark.django_db
def test_login_page_is_in_chinese_by_default(client: Client) -> None:
    response = client.get("/login/")
    assert "登录" in response.content.decode()


@pytest.mark.django_db
def test_english_is_available(client: Client) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get("/login/")
    assert "Sign in" in response.content.decode()
    translation.activate(settings.LANGUAGE_CODE)


def test_catalog_placeholders_match_their_message_ids() -> None:
    # A translation that drops or renames a %(name)s placeholder breaks the page at run time.
    catalog = Path(settings.BASE_DIR) / "locale/zh_Hans/LC_MESSAGES/django.po"
    result = subprocess.run(
        ["msgfmt", "--check-format", "-o", "/dev/null", str(catalog)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
