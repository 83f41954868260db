"""Checklist definitions: their format, validation, skip-logic expressions and evaluation.

A definition (``ChecklistVersion.definition``) is plain JSON::

    {"title": "...", "title_en": "...", "form_id": "...", "version": "...",
     "questions": [QUESTION, ...]}

Each question has ``name`` (``^[a-z][a-z0-9_]{0,63}$``), ``type`` (see ``TYPES``), labels and
hints in Chinese and English, a ``group`` with its labels, ``required``, XLSForm-style source text
for ``relevant`` (skip logic), ``constraint`` and ``flag_when`` together with their compiled
``*_ast``, ``choices`` (``{"name", "label", "label_en", "flag"}``) for the choice types,
``evidence`` (what a flagged answer needs), ``violation_types`` (codes a flag suggests) and
``major``. The full contract is in the screening brief's format page; ``validate_definition`` is
its executable form.

Expressions are a small XLSForm subset — ``${name}``, ``.``, ``'text'``, numbers, ``= != < <= >
>=``, ``and``, ``or``, ``not(...)``, ``selected(${x}, 'v')``, ``count-selected(${x})`` and
parentheses — compiled by a hand-written recursive-descent parser into JSON lists. We write the
parser ourselves because the XPath libraries that exist (elementpath, lxml) evaluate against XML
documents, would accept far more than the phone can evaluate, and have no JavaScript twin: the
same AST is evaluated by ``static/js/checklist.js`` on the phone, and the two must agree (a test
runs both on one table of cases).

Evaluation rules, shared with the JavaScript: an unanswered or hidden question reads as ``""``;
a comparison of two numbers (or numeric strings) is numeric; ``<`` and friends with a blank side
are false; ``=`` otherwise compares text. A question is flagged when its answer is a choice with
``"flag": true`` (any selected one for multiple choice) or when ``flag_ast`` is true.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from bihuan.core.errors import ServiceError

TYPES = (
    "yes_no_na",
    "select_one",
    "select_multiple",
    "integer",
    "decimal",
    "text",
    "photo",
    "location",
    "note",
)
CHOICE_TYPES = frozenset({"yes_no_na", "select_one", "select_multiple"})
# Types whose flag comes from an expression on the answer rather than from a choice.
FLAG_WHEN_TYPES = frozenset({"integer", "decimal", "text"})
CONSTRAINT_TYPES = frozenset({"integer", "decimal", "text", "select_multiple"})
# Questions without a value an expression could read.
VALUELESS_TYPES = frozenset({"photo", "note"})
EVIDENCE = ("none", "photo", "note", "photo_or_note", "photo_and_note")
YES_NO_NA = ("yes", "no", "na")
YES_NO_NA_LABELS = {"yes": ("是", "Yes"), "no": ("否", "No"), "na": ("不适用", "Not applicable")}

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Choice names end up space-separated in a multiple-choice answer, as in XLSForm.
CHOICE_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
GROUP_RE = re.compile(r"^[A-Za-z0-9_]{0,32}$")
NUMBER_RE = re.compile(r"^-?(?:\d+\.?\d*|\.\d+)$")
INTEGER_RE = re.compile(r"^-?\d+$")
TEXT_MAX = 2000
LABEL_MAX = 500

Ast = Any  # a JSON list, see the module docstring


# ---------------------------------------------------------------------------- language helpers


def is_english() -> bool:
    """Does the active language call for the English texts of a definition?"""
    return (translation.get_language() or "").lower().startswith("en")


def _pick(obj: Mapping[str, Any], key: str) -> str:
    # The English text when the user reads English and one exists; the Chinese one otherwise.
    if is_english() and obj.get(f"{key}_en"):
        return str(obj[f"{key}_en"])
    return str(obj.get(key) or obj.get(f"{key}_en") or "")


def question_label(question: Mapping[str, Any]) -> str:
    """The question's label in the user's language."""
    return _pick(question, "label") or str(question.get("name", ""))


def question_hint(question: Mapping[str, Any]) -> str:
    """The question's hint in the user's language."""
    return _pick(question, "hint")


def group_label(question: Mapping[str, Any]) -> str:
    """The label of the question's group in the user's language."""
    return _pick(question, "group_label") or str(question.get("group", ""))


def choice_label(choice: Mapping[str, Any]) -> str:
    """A choice's label in the user's language."""
    return _pick(choice, "label") or str(choice.get("name", ""))


def constraint_message(question: Mapping[str, Any]) -> str:
    """The message shown when the answer breaks the constraint, in the user's language."""
    return _pick(question, "constraint_message") or _("The answer is outside the allowed values.")


def definition_title(definition: Mapping[str, Any]) -> str:
    """The checklist's title in the user's language."""
    return _pick(definition, "title")


def is_flaggable(question: Mapping[str, Any]) -> bool:
    """Can an answer to this question be flagged at all?"""
    return bool(question.get("flag_ast")) or any(c.get("flag") for c in question.get("choices", []))


# ---------------------------------------------------------------------------- expressions


class ExpressionError(ValueError):
    """Source text that is not in the supported expression subset."""


_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<ref>\$\{\s*(?P<refname>[^}]*?)\s*\})
      | (?P<number>\d+\.?\d*|\.\d+)
      | (?P<self>\.)
      | (?P<string>'[^']*'|"[^"]*")
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<punct>[(),\-])
      | (?P<word>[A-Za-z][A-Za-z\-]*)
    )""",
    re.VERBOSE,
)
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")


def _tokenize(source: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = source.rstrip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.end() == pos:
            raise ExpressionError(
                _("cannot read the expression at “%(text)s”") % {"text": text[pos:].strip()[:20]}
            )
        pos = match.end()
        kind = match.lastgroup
        if match.group("ref") is not None:
            tokens.append(("ref", match.group("refname")))
        elif kind == "number":
            raw = match.group("number")
            tokens.append(("lit", float(raw) if "." in raw else int(raw)))
        elif kind == "string":
            tokens.append(("lit", match.group("string")[1:-1]))
        elif kind == "word":
            word = match.group("word")
            # count-selected is one word; a trailing hyphen belongs to a minus sign.
            if word.endswith("-"):
                word = word[:-1]
                pos -= 1
            tokens.append(("word", word))
        else:
            tokens.append((kind or "", match.group(kind or "")))
    return tokens


class _Parser:
    """Recursive descent over the tokens; precedence: or < and < not < comparison < primary."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.pos = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.peek()
        if token is None:
            raise ExpressionError(_("the expression ends too early"))
        self.pos += 1
        return token

    def expect(self, kind: str, value: str) -> None:
        token = self.take()
        if token != (kind, value):
            raise ExpressionError(
                _("expected “%(want)s” but found “%(found)s”") % {"want": value, "found": token[1]}
            )

    def parse(self) -> Ast:
        ast = self.or_expr()
        if self.peek() is not None:
            raise ExpressionError(
                _("unexpected “%(found)s”") % {"found": self.peek()[1]}  # type: ignore[index]
            )
        return ast

    def _chain(self, word: str, lower: Callable[[], Ast]) -> Ast:
        parts = [lower()]
        while self.peek() == ("word", word):
            self.take()
            parts.append(lower())
        if len(parts) == 1:
            return parts[0]
        flat: list[Ast] = [word]
        for part in parts:
            flat.extend(part[1:] if isinstance(part, list) and part[0] == word else [part])
        return flat

    def or_expr(self) -> Ast:
        return self._chain("or", self.and_expr)

    def and_expr(self) -> Ast:
        return self._chain("and", self.not_expr)

    def not_expr(self) -> Ast:
        if self.peek() == ("word", "not"):
            self.take()
            self.expect("punct", "(")
            inner = self.or_expr()
            self.expect("punct", ")")
            return ["not", inner]
        return self.comparison()

    def comparison(self) -> Ast:
        left = self.primary()
        token = self.peek()
        if token is not None and token[0] == "op":
            self.take()
            right = self.primary()
            after = self.peek()
            if after is not None and after[0] == "op":
                raise ExpressionError(_("comparisons cannot be chained; join them with “and”"))
            return [token[1], left, right]
        return left

    def primary(self) -> Ast:
        kind, value = self.take()
        if kind == "ref":
            if not NAME_RE.match(value):
                raise ExpressionError(_("“${%(name)s}” is not a question name") % {"name": value})
            return ["ref", value]
        if kind == "self":
            return ["self"]
        if kind == "lit":
            return ["lit", value]
        if (kind, value) == ("punct", "-"):
            number = self.take()
            if number[0] != "lit" or isinstance(number[1], str):
                raise ExpressionError(_("a minus sign must precede a number"))
            return ["lit", -number[1]]
        if (kind, value) == ("punct", "("):
            inner = self.or_expr()
            self.expect("punct", ")")
            return inner
        if (kind, value) == ("word", "selected"):
            self.expect("punct", "(")
            target = self.target()
            self.expect("punct", ",")
            choice = self.take()
            if choice[0] != "lit":
                raise ExpressionError(_("selected() needs a choice name in quotes"))
            self.expect("punct", ")")
            return ["selected", target, str(choice[1])]
        if (kind, value) == ("word", "count-selected"):
            self.expect("punct", "(")
            target = self.target()
            self.expect("punct", ")")
            return ["count-selected", target]
        if kind == "word":
            raise ExpressionError(_("unknown word “%(word)s”") % {"word": value})
        raise ExpressionError(_("unexpected “%(found)s”") % {"found": value})

    def target(self) -> Ast:
        kind, value = self.take()
        if kind == "ref" and NAME_RE.match(value):
            return ["ref", value]
        if kind == "self":
            return ["self"]
        raise ExpressionError(_("expected a question such as ${name}"))


def compile_expression(source: str) -> Ast | None:
    """Source text → AST (None for blank text); raises ExpressionError on anything unsupported."""
    if not source or not source.strip():
        return None
    return _Parser(source).parse()


def expression_refs(ast: Ast | None) -> set[str]:
    """The question names an AST reads."""
    if not isinstance(ast, list) or not ast:
        return set()
    if ast[0] == "ref":
        return {ast[1]}
    found: set[str] = set()
    for part in ast[1:]:
        found |= expression_refs(part)
    return found


def _uses_self(ast: Ast | None) -> bool:
    if not isinstance(ast, list) or not ast:
        return False
    return ast[0] == "self" or any(_uses_self(part) for part in ast[1:])


def _number(value: Any) -> float | int | None:
    """The value as a number, if it is one or a numeric string; booleans count as 1 and 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and NUMBER_RE.match(value.strip()):
        return float(value.strip())
    return None


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return not _blank(value)


def _text(value: Any) -> str:
    # Matches JavaScript's String() for the values that reach a comparison.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compare(op: str, left: Any, right: Any) -> bool:
    a, b = _number(left), _number(right)
    if op in ("=", "!="):
        equal = a == b if a is not None and b is not None else _text(left) == _text(right)
        return equal if op == "=" else not equal
    if _blank(left) or _blank(right):
        return False
    lhs: Any = a if a is not None and b is not None else _text(left)
    rhs: Any = b if a is not None and b is not None else _text(right)
    if op == "<":
        return bool(lhs < rhs)
    if op == "<=":
        return bool(lhs <= rhs)
    if op == ">":
        return bool(lhs > rhs)
    return bool(lhs >= rhs)


def evaluate_expression(ast: Ast, lookup: Callable[[str], Any], self_value: Any = "") -> Any:
    """The value of an AST; ``lookup(name)`` gives a question's value ("" when unanswered)."""
    op = ast[0]
    if op == "lit":
        return ast[1]
    if op == "ref":
        value = lookup(ast[1])
        return "" if value is None else value
    if op == "self":
        return "" if self_value is None else self_value
    if op == "and":
        return all(_truthy(evaluate_expression(a, lookup, self_value)) for a in ast[1:])
    if op == "or":
        return any(_truthy(evaluate_expression(a, lookup, self_value)) for a in ast[1:])
    if op == "not":
        return not _truthy(evaluate_expression(ast[1], lookup, self_value))
    if op in COMPARISONS:
        return _compare(
            op,
            evaluate_expression(ast[1], lookup, self_value),
            evaluate_expression(ast[2], lookup, self_value),
        )
    if op == "selected":
        chosen = _text(evaluate_expression(ast[1], lookup, self_value)).split()
        return str(ast[2]) in chosen
    if op == "count-selected":
        return len(_text(evaluate_expression(ast[1], lookup, self_value)).split())
    raise ExpressionError(f"unknown operator {op!r}")


# ---------------------------------------------------------------------------- validation


class DefinitionError(ServiceError):
    """A definition with problems; ``problems`` lists (question name or "", message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        text = "; ".join(
            (_("Question “%(name)s”: %(message)s") % {"name": name, "message": message})
            if name
            else message
            for name, message in problems
        )
        super().__init__(text)


def _str(value: Any, limit: int = LABEL_MAX) -> str:
    return ("" if value is None else str(value)).strip()[:limit]


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y", "是")
    return bool(value)


def _codes(value: Any) -> list[str]:
    if isinstance(value, str):
        value = re.split(r"[\s,，、;；]+", value)
    codes: list[str] = []
    for code in value or []:
        code = str(code).strip().upper()
        if code and code not in codes:
            codes.append(code)
    return codes


def active_violation_codes() -> set[str]:
    """Codes of the active violation types (the ones a flag may suggest)."""
    from bihuan.leads.models import ViolationType

    return set(ViolationType.objects.filter(is_active=True).values_list("code", flat=True))


def _normalise_choices(qtype: str, raw: Any, problem: Callable[[str], None]) -> list[dict]:
    choices: list[dict[str, Any]] = []
    for item in raw or []:
        if not isinstance(item, Mapping):
            problem(_("each choice needs a name and a label"))
            continue
        choice: dict[str, Any] = {
            "name": _str(item.get("name"), 64),
            "label": _str(item.get("label")),
            "label_en": _str(item.get("label_en")),
            "flag": _bool(item.get("flag", False)),
        }
        if qtype == "yes_no_na" and not choice["label"] and choice["name"] in YES_NO_NA_LABELS:
            choice["label"], default_en = YES_NO_NA_LABELS[choice["name"]]
            choice["label_en"] = choice["label_en"] or default_en
        choices.append(choice)
    if qtype == "yes_no_na":
        if not choices:
            choices = [
                {"name": n, "label": zh, "label_en": en, "flag": False}
                for n, (zh, en) in YES_NO_NA_LABELS.items()
            ]
        if [c["name"] for c in choices] != list(YES_NO_NA):
            problem(_("a yes / no / not applicable question has exactly the choices yes, no, na"))
        return choices
    if not choices:
        problem(_("a choice question needs at least one choice"))
    names = [c["name"] for c in choices]
    for choice in choices:
        if not CHOICE_NAME_RE.match(choice["name"]):
            problem(
                _("choice name “%(name)s” may use only letters, digits, _ . and -")
                % {"name": choice["name"]}
            )
        if not choice["label"]:
            problem(_("choice “%(name)s” needs a label") % {"name": choice["name"]})
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problem(_("choice names repeat: %(names)s") % {"names": ", ".join(duplicates)})
    return choices


def _normalise_question(
    raw: Any, known_codes: set[str], problems: list[tuple[str, str]], position: int
) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        problems.append(("", _("Question %(n)d is not an object.") % {"n": position}))
        return None
    name = _str(raw.get("name"), 100)
    label_for_errors = name or f"#{position}"

    def problem(message: str) -> None:
        problems.append((label_for_errors, message))

    if not NAME_RE.match(name):
        problem(
            _(
                "the name must start with a lower-case letter and use only a-z, 0-9 and _ "
                "(at most 64 characters)"
            )
        )
    qtype = _str(raw.get("type"), 32)
    if qtype not in TYPES:
        problem(_("unknown type “%(type)s”") % {"type": qtype})
    question: dict[str, Any] = {
        "name": name,
        "type": qtype,
        "label": _str(raw.get("label")),
        "label_en": _str(raw.get("label_en")),
        "hint": _str(raw.get("hint")),
        "hint_en": _str(raw.get("hint_en")),
        "group": _str(raw.get("group"), 32),
        "group_label": _str(raw.get("group_label")),
        "group_label_en": _str(raw.get("group_label_en")),
        "required": _bool(raw.get("required", False)) and qtype != "note",
        "relevant": _str(raw.get("relevant"), TEXT_MAX),
        "relevant_ast": None,
        "constraint": _str(raw.get("constraint"), TEXT_MAX),
        "constraint_ast": None,
        "constraint_message": _str(raw.get("constraint_message")),
        "constraint_message_en": _str(raw.get("constraint_message_en")),
        "choices": [],
        "flag_when": _str(raw.get("flag_when"), TEXT_MAX),
        "flag_ast": None,
        "evidence": _str(raw.get("evidence") or "none", 32),
        "violation_types": _codes(raw.get("violation_types")),
        "major": _bool(raw.get("major", False)),
    }
    if not question["label"]:
        problem(_("a label is required"))
    if not GROUP_RE.match(question["group"]):
        problem(_("the group code may use only letters, digits and _"))
    if qtype in CHOICE_TYPES:
        question["choices"] = _normalise_choices(qtype, raw.get("choices"), problem)
    elif raw.get("choices"):
        problem(_("only choice questions have choices"))

    for key, ast_key in (
        ("relevant", "relevant_ast"),
        ("constraint", "constraint_ast"),
        ("flag_when", "flag_ast"),
    ):
        try:
            question[ast_key] = compile_expression(question[key])
        except ExpressionError as exc:
            problem(_("%(field)s: %(error)s") % {"field": key, "error": exc})
    if question["relevant_ast"] is not None and _uses_self(question["relevant_ast"]):
        problem(_("relevant: “.” means the answer itself, which a condition to show cannot read"))
    if question["constraint_ast"] is not None and qtype not in CONSTRAINT_TYPES:
        problem(_("constraints apply to numbers, text and multiple choice only"))
    if question["flag_ast"] is not None and qtype not in FLAG_WHEN_TYPES:
        problem(_("flag_when applies to numbers and text; flag a choice instead"))

    if question["evidence"] not in EVIDENCE:
        problem(_("unknown evidence rule “%(value)s”") % {"value": question["evidence"]})
    flaggable = is_flaggable(question)
    if flaggable and question["evidence"] == "none":
        problem(_("a flagged answer needs evidence: choose photo, note or both"))
    if not flaggable and question["violation_types"]:
        problem(_("violation types apply only to a question whose answer can be flagged"))
    unknown = [c for c in question["violation_types"] if c not in known_codes]
    if unknown:
        problem(_("unknown or inactive violation types: %(codes)s") % {"codes": ", ".join(unknown)})
    return question


def _relevance_cycle(questions: list[dict[str, Any]]) -> list[str] | None:
    """A cycle in "shown only if" references, as a list of names, or None."""
    deps = {q["name"]: expression_refs(q["relevant_ast"]) for q in questions}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(deps.get(name, ())):
            if dep not in deps:
                continue
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[name] = 2
        return None

    for q in questions:
        if q["name"] not in state:
            found = visit(q["name"])
            if found:
                return found
    return None


def validate_definition(
    definition: Any, *, known_codes: Iterable[str] | None = None
) -> dict[str, Any]:
    """The definition normalised, its expressions compiled; DefinitionError lists every problem.

    ``known_codes`` replaces the database look-up of active violation types (data migrations pass
    the codes of their historical models).
    """
    if not isinstance(definition, Mapping):
        raise DefinitionError([("", _("A checklist definition must be an object."))])
    codes = set(known_codes) if known_codes is not None else active_violation_codes()
    problems: list[tuple[str, str]] = []
    raw_questions = definition.get("questions") or []
    if not isinstance(raw_questions, list):
        raise DefinitionError([("", _("The questions must be a list."))])
    questions = [
        q
        for i, raw in enumerate(raw_questions, start=1)
        if (q := _normalise_question(raw, codes, problems, i)) is not None
    ]
    names = [q["name"] for q in questions]
    for name in sorted({n for n in names if n and names.count(n) > 1}):
        problems.append((name, _("the name is used by more than one question")))

    types = {q["name"]: q["type"] for q in questions}
    for q in questions:
        for key, ast_key in (
            ("relevant", "relevant_ast"),
            ("constraint", "constraint_ast"),
            ("flag_when", "flag_ast"),
        ):
            for ref in sorted(expression_refs(q[ast_key])):
                if ref not in types:
                    problems.append(
                        (
                            q["name"],
                            _("%(field)s: no question is named “%(ref)s”")
                            % {"field": key, "ref": ref},
                        )
                    )
                elif types[ref] in VALUELESS_TYPES:
                    problems.append(
                        (
                            q["name"],
                            _("%(field)s: “%(ref)s” is a photo or note and has no answer to read")
                            % {"field": key, "ref": ref},
                        )
                    )
        if q["name"] in expression_refs(q["relevant_ast"]):
            problems.append((q["name"], _("relevant: a question cannot depend on itself")))
    if not problems:
        cycle = _relevance_cycle(questions)
        if cycle:
            problems.append(
                (
                    cycle[0],
                    _("relevant: the conditions go round in a circle: %(cycle)s")
                    % {"cycle": " → ".join(cycle)},
                )
            )
    if problems:
        raise DefinitionError(problems)
    return {
        "title": _str(definition.get("title")),
        "title_en": _str(definition.get("title_en")),
        "form_id": _str(definition.get("form_id"), 100),
        "version": _str(definition.get("version"), 100),
        "questions": questions,
    }


# ---------------------------------------------------------------------------- evaluation


@dataclass
class Evaluation:
    """What a set of answers means for a checklist: what is shown, wrong, flagged and kept."""

    relevant: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    flags: list[dict[str, Any]] = field(default_factory=list)
    clean_values: dict[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> set[str]:
        """Names of the flagged questions."""
        return {f["question"] for f in self.flags}


class _Invalid(ValueError):
    pass


def coerce_value(question: Mapping[str, Any], value: Any) -> Any:
    """The stored form of an answer, None when unanswered; _Invalid with a message otherwise."""
    qtype = question["type"]
    if qtype in VALUELESS_TYPES:
        return None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if qtype == "integer":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and INTEGER_RE.match(value.strip()):
            return int(value.strip())
        raise _Invalid(_("Enter a whole number."))
    if qtype == "decimal":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and NUMBER_RE.match(value.strip()):
            return float(value.strip())
        raise _Invalid(_("Enter a number."))
    if qtype in ("yes_no_na", "select_one"):
        if not isinstance(value, str) or value.strip() not in {
            c["name"] for c in question["choices"]
        }:
            raise _Invalid(_("Choose one of the listed answers."))
        return value.strip()
    if qtype == "select_multiple":
        items = value.split() if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
            raise _Invalid(_("Choose among the listed answers."))
        names = [c["name"] for c in question["choices"]]
        chosen = {v.strip() for v in items if v.strip()}
        if chosen - set(names):
            raise _Invalid(_("Choose among the listed answers."))
        # Kept in the order of the choices so equal answers compare equal.
        return [n for n in names if n in chosen] or None
    if qtype == "text":
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise _Invalid(_("Enter text."))
        return _text(value).strip()[:TEXT_MAX] or None
    if qtype == "location":
        if not isinstance(value, Mapping):
            raise _Invalid(_("The location could not be read."))
        lat, lng = _number(value.get("lat")), _number(value.get("lng"))
        accuracy = _number(value.get("accuracy")) if value.get("accuracy") is not None else None
        if lat is None or lng is None or not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise _Invalid(_("The location could not be read."))
        if lat == 0 and lng == 0:
            raise _Invalid(_("The location could not be read."))
        return {"lat": float(lat), "lng": float(lng), "accuracy": float(accuracy or 0)}
    raise _Invalid(_("This question cannot be answered."))


def expression_value(question: Mapping[str, Any], clean: Any) -> Any:
    """What an expression reads for a coerced answer (XLSForm style: a list is space-joined)."""
    if clean is None:
        return ""
    if isinstance(clean, list):
        return " ".join(clean)
    if isinstance(clean, dict):
        return f"{_text(clean['lat'])} {_text(clean['lng'])}"
    return clean


def _relevance_order(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Questions ordered so each comes after the questions its condition reads."""
    by_name = {q["name"]: q for q in questions}
    done: set[str] = set()
    order: list[dict[str, Any]] = []

    def visit(q: dict[str, Any], trail: frozenset[str]) -> None:
        if q["name"] in done or q["name"] in trail:
            return
        for ref in sorted(expression_refs(q.get("relevant_ast"))):
            if ref in by_name:
                visit(by_name[ref], trail | {q["name"]})
        done.add(q["name"])
        order.append(q)

    for q in questions:
        visit(q, frozenset())
    return order


def _answer_text(question: Mapping[str, Any], clean: Any) -> str:
    if question["type"] in CHOICE_TYPES:
        chosen = clean if isinstance(clean, list) else [clean]
        labels = [choice_label(c) for c in question["choices"] if c["name"] in chosen]
        return (", " if is_english() else "、").join(labels)
    return _text(clean)


def _evidence_missing(rule: str, has_photo: bool, has_note: bool) -> str | None:
    if rule == "photo" and not has_photo:
        return _("This answer is flagged: take a photo as evidence.")
    if rule == "note" and not has_note:
        return _("This answer is flagged: write a note as evidence.")
    if rule == "photo_or_note" and not (has_photo or has_note):
        return _("This answer is flagged: take a photo or write a note as evidence.")
    if rule == "photo_and_note" and not (has_photo and has_note):
        return _("This answer is flagged: take a photo and write a note as evidence.")
    return None


def js_messages() -> dict[str, str]:
    """The messages of static/js/checklist.js in the user's language, for a json_script tag.

    A page embeds them as ``{{ messages|json_script:"bihuan-checklist-messages" }}`` so the
    phone shows the same words as the server.
    """
    return {
        "required": _("This question needs an answer."),
        "photo_required": _("This question needs a photo."),
        "integer": _("Enter a whole number."),
        "decimal": _("Enter a number."),
        "choice": _("Choose one of the listed answers."),
        "choices": _("Choose among the listed answers."),
        "text": _("Enter text."),
        "location": _("The location could not be read."),
        "constraint": _("The answer is outside the allowed values."),
        "evidence_photo": _("This answer is flagged: take a photo as evidence."),
        "evidence_note": _("This answer is flagged: write a note as evidence."),
        "evidence_photo_or_note": _(
            "This answer is flagged: take a photo or write a note as evidence."
        ),
        "evidence_photo_and_note": _(
            "This answer is flagged: take a photo and write a note as evidence."
        ),
    }


def evaluate(
    definition: Mapping[str, Any],
    values: Mapping[str, Any] | None,
    notes: Mapping[str, str] | None,
    photo_counts: Mapping[str, int] | None,
) -> Evaluation:
    """Skip logic, required answers, constraints, flags and evidence for one set of answers."""
    values = values or {}
    notes = notes or {}
    photo_counts = photo_counts or {}
    questions: list[dict[str, Any]] = list(definition.get("questions", []))
    result = Evaluation()
    clean: dict[str, Any] = {}
    invalid: dict[str, str] = {}
    for q in questions:
        try:
            clean[q["name"]] = coerce_value(q, values.get(q["name"]))
        except _Invalid as exc:
            clean[q["name"]] = None
            invalid[q["name"]] = str(exc)
    by_name = {q["name"]: q for q in questions}

    def lookup(name: str) -> Any:
        # A hidden question reads as unanswered, whatever was typed before it was hidden.
        if name not in result.relevant or name not in by_name:
            return ""
        return expression_value(by_name[name], clean.get(name))

    for q in _relevance_order(questions):
        ast = q.get("relevant_ast")
        if ast is None or _truthy(evaluate_expression(ast, lookup)):
            result.relevant.add(q["name"])

    for q in questions:
        name = q["name"]
        if name not in result.relevant or q["type"] == "note":
            continue
        if name in invalid:
            result.errors[name] = invalid[name]
            continue
        value = clean[name]
        has_photo = int(photo_counts.get(name, 0) or 0) > 0
        note = str(notes.get(name) or "").strip()
        if q["type"] == "photo":
            if q.get("required") and not has_photo:
                result.errors[name] = _("This question needs a photo.")
            continue
        if value is None:
            if q.get("required"):
                result.errors[name] = _("This question needs an answer.")
            continue
        result.clean_values[name] = value
        self_value = expression_value(q, value)
        if q.get("constraint_ast") is not None and not _truthy(
            evaluate_expression(q["constraint_ast"], lookup, self_value)
        ):
            result.errors[name] = constraint_message(q)
            continue
        chosen = value if isinstance(value, list) else [value]
        flagged = any(c.get("flag") and c["name"] in chosen for c in q.get("choices", []))
        if not flagged and q.get("flag_ast") is not None:
            flagged = _truthy(evaluate_expression(q["flag_ast"], lookup, self_value))
        if not flagged:
            continue
        rule = q.get("evidence", "none")
        result.flags.append(
            {
                "question": name,
                "label": question_label(q),
                "answer": _answer_text(q, value),
                "violation_types": list(q.get("violation_types", [])),
                "note": note,
                "evidence": rule,
            }
        )
        missing = _evidence_missing(rule, has_photo, bool(note))
        if missing:
            result.errors[name] = missing
    return result
