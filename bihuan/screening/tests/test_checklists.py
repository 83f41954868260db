"""Checklist definitions: the expression parser, validation, evaluation, and the phone's twin.

The JavaScript in static/js/checklist.js must evaluate every case here exactly as Python does;
the agreement tests run it with node and fail (never skip) when node is missing.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import translation

from bihuan.leads.models import ViolationType
from bihuan.screening import checklists
from bihuan.screening.checklists import DefinitionError, compile_expression, evaluate
from bihuan.screening.default_checklist import DEFAULT_CHECKLIST
from bihuan.screening.models import ChecklistVersion
from bihuan.screening.tests.factories import SIMPLE, YES_NO_NA, _question
from bihuan.screening.workflow import VersionStatus

CHECKLIST_JS = Path(settings.BASE_DIR) / "static" / "js" / "checklist.js"
CODES = {"A1", "A2", "B1", "F4"}


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    # Messages are compared in English, whatever the catalogue says in Chinese.
    with translation.override("en"):
        yield


def _simple() -> dict[str, Any]:
    return copy.deepcopy(SIMPLE)


def _problems(definition: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        checklists.validate_definition(definition, known_codes=CODES)
    return caught.value.problems


# ---------------------------------------------------------------------------- parser


@pytest.mark.parametrize(
    ("source", "ast"),
    [
        ("", None),
        ("${has_meals} = 'yes'", ["=", ["ref", "has_meals"], ["lit", "yes"]]),
        (". >= 0", [">=", ["self"], ["lit", 0]]),
        (". > -1.5", [">", ["self"], ["lit", -1.5]]),
        ('${a} != "x"', ["!=", ["ref", "a"], ["lit", "x"]]),
        (
            ". >= 0 and . <= 500",
            ["and", [">=", ["self"], ["lit", 0]], ["<=", ["self"], ["lit", 500]]],
        ),
        (
            "${a} = 1 or ${b} = 2 or ${c} = 3",
            [
                "or",
                ["=", ["ref", "a"], ["lit", 1]],
                ["=", ["ref", "b"], ["lit", 2]],
                ["=", ["ref", "c"], ["lit", 3]],
            ],
        ),
        (
            "not(selected(${forms}, 'online')) and count-selected(${forms}) >= 2",
            [
                "and",
                ["not", ["selected", ["ref", "forms"], "online"]],
                [">=", ["count-selected", ["ref", "forms"]], ["lit", 2]],
            ],
        ),
        (
            "(${a} = 'x' or ${b} = 'y') and ${c} < ${d}",
            [
                "and",
                ["or", ["=", ["ref", "a"], ["lit", "x"]], ["=", ["ref", "b"], ["lit", "y"]]],
                ["<", ["ref", "c"], ["ref", "d"]],
            ],
        ),
        ("count-selected(.) <= 3", ["<=", ["count-selected", ["self"]], ["lit", 3]]),
        ("${ a }", ["ref", "a"]),
    ],
)
def test_expression_compiles_to_the_shared_ast(source: str, ast: Any) -> None:
    assert compile_expression(source) == ast


@pytest.mark.parametrize(
    "source",
    [
        "${a} == 'x'",
        "${a} = ",
        "${a} = 'x' and",
        "(${a} = 'x'",
        "${a} = 'x')",
        "1 < ${a} < 3",
        "__import__('os')",
        "${A-b} = 1",
        "selected(${a})",
        "selected(${a}, ${b})",
        "unknown(${a})",
        "${a} + 1",
        "'unterminated",
    ],
)
def test_unsupported_expression_is_refused(source: str) -> None:
    with pytest.raises(checklists.ExpressionError):
        compile_expression(source)


# ---------------------------------------------------------------------------- validation


@pytest.mark.django_db
def test_the_shared_simple_definition_is_valid_against_the_seeded_taxonomy() -> None:
    assert checklists.validate_definition(_simple()) == SIMPLE


@pytest.mark.django_db
def test_an_inactive_violation_type_cannot_be_suggested() -> None:
    ViolationType.objects.filter(code="A2").update(is_active=False)
    with pytest.raises(DefinitionError) as caught:
        checklists.validate_definition(_simple())
    assert caught.value.problems[0][0] == "licence_displayed"
    assert "A2" in caught.value.message


def test_validation_recompiles_the_source_text() -> None:
    definition = _simple()
    definition["questions"][2]["relevant_ast"] = ["lit", "stale"]
    clean = checklists.validate_definition(definition, known_codes=CODES)
    assert clean["questions"][2]["relevant_ast"] == [
        "=",
        ["ref", "provides_meals"],
        ["lit", "yes"],
    ]


def test_validation_fills_the_yes_no_na_choices_and_defaults() -> None:
    clean = checklists.validate_definition(
        {"questions": [{"name": "open_now", "type": "yes_no_na", "label": "营业中"}]},
        known_codes=CODES,
    )
    question = clean["questions"][0]
    assert [c["name"] for c in question["choices"]] == ["yes", "no", "na"]
    assert question["evidence"] == "none"
    assert question["relevant_ast"] is None
    assert question["required"] is False


@pytest.mark.parametrize(
    ("change", "name", "fragment"),
    [
        ({"name": "Bad-Name"}, "Bad-Name", "lower-case"),
        ({"type": "rank"}, "licence_displayed", "rank"),
        ({"label": ""}, "licence_displayed", "label"),
        ({"evidence": "video"}, "licence_displayed", "video"),
        ({"evidence": "none"}, "licence_displayed", "evidence"),
        ({"violation_types": ["Z9"]}, "licence_displayed", "Z9"),
        ({"choices": YES_NO_NA[:2]}, "licence_displayed", "yes, no, na"),
        ({"relevant": "${nowhere} = 'yes'"}, "licence_displayed", "nowhere"),
        ({"relevant": "${licence_displayed} = 'yes'"}, "licence_displayed", "itself"),
        ({"relevant": ". = 'yes'"}, "licence_displayed", "."),
        ({"constraint": ". > 1"}, "licence_displayed", "constraint"),
        ({"flag_when": ". = 'no'"}, "licence_displayed", "flag_when"),
        ({"relevant": "${a} =="}, "licence_displayed", "relevant"),
    ],
)
def test_a_bad_question_is_refused_naming_it(change: dict, name: str, fragment: str) -> None:
    definition = _simple()
    definition["questions"][0].update(change)
    problems = _problems(definition)
    assert any(n == name and fragment in message for n, message in problems), problems


def test_duplicate_question_names_are_refused() -> None:
    definition = _simple()
    definition["questions"].append(copy.deepcopy(definition["questions"][1]))
    assert ("provides_meals", "the name is used by more than one question") in _problems(definition)


def test_a_circle_of_conditions_is_refused_with_its_path() -> None:
    definition = _simple()
    definition["questions"][1]["relevant"] = "${food_licence} != 'na'"
    problems = _problems(definition)
    assert len(problems) == 1
    assert "provides_meals → food_licence → provides_meals" in problems[0][1] or (
        "food_licence → provides_meals → food_licence" in problems[0][1]
    )


def test_a_condition_may_read_a_later_question() -> None:
    definition = _simple()
    definition["questions"][0]["relevant"] = "${students_present} > 0"
    clean = checklists.validate_definition(definition, known_codes=CODES)
    assert clean["questions"][0]["relevant_ast"] == [">", ["ref", "students_present"], ["lit", 0]]


def test_a_condition_may_not_read_a_photo() -> None:
    definition = _simple()
    definition["questions"].append(_question("facade", "photo", "门头照片"))
    definition["questions"][0]["relevant"] = "${facade} != ''"
    assert any("photo or note" in m for _n, m in _problems(definition))


def test_choices_must_be_unique_and_labelled() -> None:
    definition = _simple()
    definition["questions"].append(
        _question(
            "forms",
            "select_multiple",
            "形式",
            choices=[
                {"name": "a", "label": "A", "label_en": "", "flag": True},
                {"name": "a", "label": "", "label_en": "", "flag": False},
            ],
            evidence="note",
        )
    )
    messages = [m for n, m in _problems(definition) if n == "forms"]
    assert any("repeat" in m for m in messages)
    assert any("label" in m for m in messages)


def test_violation_types_need_a_question_that_can_be_flagged() -> None:
    definition = _simple()
    definition["questions"][4]["violation_types"] = ["A1"]
    assert any(n == "remarks" and "flagged" in m for n, m in _problems(definition))


def test_every_problem_is_reported_at_once() -> None:
    definition = _simple()
    definition["questions"][0]["type"] = "rank"
    definition["questions"][3]["name"] = "9lives"
    assert {n for n, _m in _problems(definition)} == {"licence_displayed", "9lives"}


# ---------------------------------------------------------------------------- evaluation


def test_hidden_question_is_neither_required_nor_kept() -> None:
    result = evaluate(
        SIMPLE,
        {
            "licence_displayed": "yes",
            "provides_meals": "no",
            "food_licence": "no",
            "students_present": 10,
        },
        {},
        {},
    )
    assert "food_licence" not in result.relevant
    assert result.errors == {}
    assert result.flags == []
    assert result.clean_values == {
        "licence_displayed": "yes",
        "provides_meals": "no",
        "students_present": 10,
    }


def test_shown_question_is_required() -> None:
    result = evaluate(
        SIMPLE,
        {"licence_displayed": "yes", "provides_meals": "yes", "students_present": "3"},
        {},
        {},
    )
    assert "food_licence" in result.relevant
    assert set(result.errors) == {"food_licence"}
    assert result.clean_values["students_present"] == 3


def test_optional_question_may_stay_blank() -> None:
    result = evaluate(
        SIMPLE,
        {"licence_displayed": "yes", "provides_meals": "no", "students_present": 0},
        {},
        {},
    )
    assert "remarks" not in result.errors


def test_constraint_message_is_in_the_users_language() -> None:
    values = {"licence_displayed": "yes", "provides_meals": "no", "students_present": 501}
    with translation.override("zh-hans"):
        assert evaluate(SIMPLE, values, {}, {}).errors == {"students_present": "人数应在0到500之间"}
    with translation.override("en"):
        assert evaluate(SIMPLE, values, {}, {}).errors == {"students_present": "Between 0 and 500"}


def test_number_typed_as_text_is_coerced_and_checked() -> None:
    values = {"licence_displayed": "yes", "provides_meals": "no", "students_present": "2.5"}
    result = evaluate(SIMPLE, values, {}, {})
    assert set(result.errors) == {"students_present"}
    assert "students_present" not in result.clean_values


def test_flagged_answer_without_evidence_is_an_error() -> None:
    values = {"licence_displayed": "no", "provides_meals": "no", "students_present": 5}
    result = evaluate(SIMPLE, values, {}, {})
    assert set(result.errors) == {"licence_displayed"}
    assert result.flags[0]["question"] == "licence_displayed"
    assert result.flags[0]["violation_types"] == ["A2"]


@pytest.mark.parametrize(
    ("notes", "photos"), [({"licence_displayed": "墙上没有"}, {}), ({}, {"licence_displayed": 1})]
)
def test_flagged_answer_with_a_photo_or_a_note_passes(notes: dict, photos: dict) -> None:
    values = {"licence_displayed": "no", "provides_meals": "no", "students_present": 5}
    with translation.override("zh-hans"):
        result = evaluate(SIMPLE, values, notes, photos)
    assert result.errors == {}
    assert result.flags == [
        {
            "question": "licence_displayed",
            "label": "办学许可证在显著位置公示",
            "answer": "否",
            "violation_types": ["A2"],
            "note": notes.get("licence_displayed", ""),
            "evidence": "photo_or_note",
        }
    ]


def test_photo_evidence_rule_is_not_met_by_a_note() -> None:
    values = {
        "licence_displayed": "yes",
        "provides_meals": "yes",
        "food_licence": "no",
        "students_present": 5,
    }
    result = evaluate(SIMPLE, values, {"food_licence": "没有许可证"}, {})
    assert set(result.errors) == {"food_licence"}
    assert evaluate(SIMPLE, values, {}, {"food_licence": 2}).errors == {}


def test_default_checklist_flags_an_unlicensed_answer_with_its_types() -> None:
    q = next(q for q in DEFAULT_CHECKLIST["questions"] if "A1" in q["violation_types"])
    flagged = next(c["name"] for c in q["choices"] if c["flag"])
    result = evaluate(DEFAULT_CHECKLIST, {q["name"]: flagged}, {}, {})
    assert q["name"] in {f["question"] for f in result.flags}


# ---------------------------------------------------------------------------- Python ↔ JS

EXPRESSION_CASES: list[tuple[Any, dict[str, Any], Any]] = [
    (["=", ["ref", "a"], ["lit", "yes"]], {"a": "yes"}, ""),
    (["=", ["ref", "a"], ["lit", "yes"]], {}, ""),
    (["!=", ["ref", "a"], ["lit", ""]], {}, ""),
    (["=", ["ref", "n"], ["lit", 5]], {"n": "5.0"}, ""),
    (["=", ["ref", "n"], ["lit", "05"]], {"n": 5}, ""),
    (["<", ["ref", "n"], ["lit", 10]], {"n": "9"}, ""),
    (["<", ["ref", "n"], ["lit", 10]], {"n": "10"}, ""),
    (["<", ["ref", "n"], ["lit", 10]], {}, ""),
    ([">=", ["ref", "n"], ["lit", 0]], {"n": ""}, ""),
    ([">", ["lit", 5], ["ref", "n"]], {}, ""),
    (["<=", ["ref", "n"], ["ref", "m"]], {}, ""),
    (["<", ["ref", "s"], ["lit", "b"]], {"s": "a"}, ""),
    (["<", ["ref", "s"], ["lit", 10]], {"s": "abc"}, ""),
    (["=", ["ref", "s"], ["lit", 1]], {"s": "abc"}, ""),
    (["<=", ["self"], ["lit", 500]], {}, 500),
    (["and", [">=", ["self"], ["lit", 0]], ["<=", ["self"], ["lit", 500]]], {}, -1),
    (["or", ["=", ["ref", "a"], ["lit", "x"]], ["=", ["ref", "b"], ["lit", "y"]]], {"b": "y"}, ""),
    (["not", ["=", ["ref", "a"], ["lit", "x"]]], {"a": "x"}, ""),
    (["selected", ["ref", "m"], "online"], {"m": "home online"}, ""),
    (["selected", ["ref", "m"], "on"], {"m": "home online"}, ""),
    (["selected", ["ref", "m"], "x"], {}, ""),
    (["count-selected", ["ref", "m"]], {"m": "a b  c"}, ""),
    (["count-selected", ["ref", "m"]], {}, ""),
    ([">", ["count-selected", ["self"]], ["lit", 1]], {}, "a b"),
    (["=", ["ref", "d"], ["lit", 1.5]], {"d": 1.5}, ""),
    (["=", ["ref", "d"], ["lit", 2]], {"d": 2.0}, ""),
    (["ref", "a"], {"a": "text"}, ""),
    (["and", ["ref", "a"], ["ref", "n"]], {"a": "x", "n": 0}, ""),
    (["=", ["lit", -1], ["ref", "n"]], {"n": "-1"}, ""),
]


def _simple_with_more() -> dict[str, Any]:
    definition = _simple()
    definition["questions"] += [
        _question(
            "forms",
            "select_multiple",
            "隐形变异形式",
            label_en="Disguised forms",
            required=False,
            choices=[
                {"name": "none", "label": "未发现", "label_en": "None", "flag": False},
                {"name": "online", "label": "线上", "label_en": "Online", "flag": True},
                {"name": "home", "label": "住家", "label_en": "Home", "flag": True},
            ],
            constraint="not(selected(., 'none')) or count-selected(.) = 1",
            constraint_ast=[
                "or",
                ["not", ["selected", ["self"], "none"]],
                ["=", ["count-selected", ["self"]], ["lit", 1]],
            ],
            evidence="photo_and_note",
            violation_types=["B1"],
        ),
        _question(
            "forms_detail",
            "text",
            "形式说明",
            relevant="selected(${forms}, 'online')",
            relevant_ast=["selected", ["ref", "forms"], "online"],
        ),
        _question(
            "area",
            "decimal",
            "面积",
            required=False,
            flag_when=". < 10",
            flag_ast=["<", ["self"], ["lit", 10]],
            evidence="note",
        ),
        _question(
            "spot",
            "location",
            "位置",
            required=False,
            relevant="${students_present} > 0",
            relevant_ast=[">", ["ref", "students_present"], ["lit", 0]],
        ),
        _question("facade", "photo", "门头", required=True),
        _question("info", "note", "说明"),
    ]
    return definition


EVALUATION_CASES: list[tuple[dict[str, Any], dict[str, str], dict[str, int]]] = [
    ({}, {}, {}),
    ({"licence_displayed": "no", "provides_meals": "yes", "students_present": "600"}, {}, {}),
    (
        {
            "licence_displayed": "no",
            "provides_meals": "no",
            "food_licence": "no",
            "students_present": 7,
        },
        {"licence_displayed": "  "},
        {"facade": 1},
    ),
    (
        {"licence_displayed": "maybe", "provides_meals": "yes", "food_licence": "no"},
        {"food_licence": "x"},
        {"food_licence": 1},
    ),
    ({"students_present": "12", "forms": ["online", "home"], "forms_detail": "微信群"}, {}, {}),
    ({"students_present": 1.0, "forms": "none online"}, {"forms": "说明"}, {"forms": 2}),
    ({"forms": ["none"], "forms_detail": "hidden", "area": "8.5"}, {"area": "太小"}, {}),
    ({"forms": ["bogus"], "area": "abc", "spot": {"lat": 30.9, "lng": 113.9}}, {}, {}),
    ({"students_present": 3, "spot": {"lat": 95, "lng": 113.9}, "remarks": 42}, {}, {}),
    ({"students_present": 3, "spot": {"lat": 30.92, "lng": 113.91, "accuracy": 12}}, {}, {}),
    ({"students_present": "-0", "area": 10, "forms": []}, {}, {"facade": 0}),
    ({"students_present": True, "area": 9.99}, {}, {}),
]


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the JavaScript checklist logic cannot be checked")
    return node


def _run_js(script: str, payload: Any) -> Any:
    code = f"const C = require({json.dumps(str(CHECKLIST_JS))});\n" + script
    done = subprocess.run(
        [_node(), "-e", code],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_js_evaluates_every_expression_like_python() -> None:
    script = """
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = cases.map(([ast, env, self]) => C.evalExpr(ast, (n) => env[n] ?? "", self));
process.stdout.write(JSON.stringify(out));
"""
    js = _run_js(script, EXPRESSION_CASES)
    python = [
        checklists.evaluate_expression(ast, env.get, self) for ast, env, self in EXPRESSION_CASES
    ]
    assert js == python
    # The table must exercise both answers, or agreement would prove little.
    assert True in python and False in python


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_js_evaluates_every_answer_set_like_python(language: str) -> None:
    definition = checklists.validate_definition(_simple_with_more(), known_codes=CODES)
    script = """
const {definition, cases, lang} = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = cases.map(([values, notes, photos]) => {
  const r = C.evaluate(definition, values, notes, photos, {lang});
  return {relevant: [...r.relevant].sort(), errors: Object.keys(r.errors).sort(),
          flags: r.flags, clean: r.cleanValues};
});
process.stdout.write(JSON.stringify(out));
"""
    js = _run_js(script, {"definition": definition, "cases": EVALUATION_CASES, "lang": language})
    with translation.override(language):
        python = [
            {
                "relevant": sorted(r.relevant),
                "errors": sorted(r.errors),
                "flags": r.flags,
                "clean": r.clean_values,
            }
            for r in (evaluate(definition, *case) for case in EVALUATION_CASES)
        ]
    assert js == json.loads(json.dumps(python))
    assert any(p["flags"] for p in python) and any(p["errors"] for p in python)


def test_js_shows_the_constraint_message_of_the_page_language() -> None:
    script = """
const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
const v = {licence_displayed: "yes", provides_meals: "no", students_present: 900};
process.stdout.write(JSON.stringify([C.evaluate(d, v, {}, {}, {lang: "en"}).errors,
                                     C.evaluate(d, v, {}, {}, {lang: "zh-hans"}).errors]));
"""
    assert _run_js(script, SIMPLE) == [
        {"students_present": "Between 0 and 500"},
        {"students_present": "人数应在0到500之间"},
    ]


# ---------------------------------------------------------------------------- default checklist


@pytest.mark.django_db
def test_migration_published_the_default_checklist_as_version_one() -> None:
    version = ChecklistVersion.objects.get(template__code="default")
    assert (version.number, version.status) == (1, VersionStatus.PUBLISHED)
    assert version.published_at is not None
    assert version.definition == DEFAULT_CHECKLIST
    # Valid against the taxonomy actually in the database, not only the seeded list.
    assert checklists.validate_definition(version.definition) == DEFAULT_CHECKLIST


def test_default_checklist_covers_groups_a_to_h_with_skip_logic_and_flags() -> None:
    questions = DEFAULT_CHECKLIST["questions"]
    assert 30 <= len(questions) <= 50
    assert sorted({q["group"] for q in questions}) == list("ABCDEFGH")
    types = {q["type"] for q in questions}
    assert {"yes_no_na", "select_one", "select_multiple", "integer", "decimal"} <= types
    assert {"text", "photo", "location"} <= types
    by_name = {q["name"]: q for q in questions}
    assert by_name["food_licence"]["relevant_ast"] == [
        "=",
        ["ref", "provides_meals"],
        ["lit", "yes"],
    ]
    assert "collects_fees" in checklists.expression_refs(by_name["prepaid_months"]["relevant_ast"])
    assert len(by_name["disguised_forms"]["choices"]) == 8
    codes = {c for q in questions for c in q["violation_types"]}
    assert {"A1", "A2", "B1", "C2", "D1", "D2", "E1", "F1", "F4", "G1"} <= codes
    for q in questions:
        assert q["label"] and q["label_en"], q["name"]
        if checklists.is_flaggable(q):
            assert q["evidence"] != "none" and q["violation_types"], q["name"]


def test_default_checklist_hides_fee_questions_when_no_fees_are_collected() -> None:
    shown = evaluate(DEFAULT_CHECKLIST, {"collects_fees": "no"}, {}, {}).relevant
    assert not {"price_posted", "prepaid_months", "supervised_account"} & shown
    shown = evaluate(DEFAULT_CHECKLIST, {"collects_fees": "yes"}, {}, {}).relevant
    assert {"price_posted", "prepaid_months", "supervised_account"} <= shown


def test_default_checklist_flags_four_months_of_prepaid_fees() -> None:
    values = {"collects_fees": "yes", "prepaid_months": "4"}
    result = evaluate(DEFAULT_CHECKLIST, values, {"prepaid_months": "收四个月"}, {})
    flag = next(f for f in result.flags if f["question"] == "prepaid_months")
    assert flag["violation_types"] == ["D1"]
    assert "prepaid_months" not in result.errors


def test_js_messages_cover_every_message_of_the_script() -> None:
    script = "process.stdout.write(JSON.stringify(C.MESSAGES));"
    assert _run_js(script, None) == checklists.js_messages()


def test_js_uses_the_messages_passed_to_it() -> None:
    script = """
const d = JSON.parse(require("fs").readFileSync(0, "utf8"));
const r = C.evaluate(d, {}, {}, {}, {lang: "zh-hans", messages: {required: "必答"}});
process.stdout.write(JSON.stringify(r.errors));
"""
    assert _run_js(script, SIMPLE)["licence_displayed"] == "必答"
