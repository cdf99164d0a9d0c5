"""Reading and writing `project.toml`: commented template, clear errors, value-by-value atomic saves.

The settings handed out are copies: an edit reaches the file only through `save` (a whole settings
object, changed by the caller) or `update` (values by dotted key), each of which validates first,
writes only the values that changed, and refuses when the file was changed by another program.
"""

import difflib
import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import BaseModel, ValidationError
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import InlineTable

from ti_tui.errors import UserError
from ti_tui.findings import Finding, Fix
from ti_tui.fsutil import atomic_write_text
from ti_tui.settings import SECTION_MODELS, SECTION_NAMES, ProjectSettings, consistency_problems

HEADER = """\
# ti-tui project. Edit it here or in the wizard (`ti-tui <this folder>`): both keep your comments.
# Paths are relative to this file's folder. Runs, checkpoints and previews are kept beside it.
"""


class ProjectFileError(UserError):
    """Settings that cannot be read or used; lists every problem with its line and key."""

    def __init__(
        self,
        path: Path,
        problems: list[Finding],
        advice: str = "Fix the file in an editor and open the project again; nothing was changed.",
    ):
        self.problems = problems
        heading = f"{path} has a problem:" if len(problems) == 1 else f"{path} has {len(problems)} problems:"
        super().__init__("\n".join([heading, *(f"  {problem}" for problem in problems), advice]))


@dataclass(frozen=True)
class SettingsUpdate:
    changed: list[str]  # the dotted keys written to the file
    problems: list[Finding]  # why nothing was written, when something was wrong


class ProjectChangedOnDiskError(UserError):
    """The file was edited by someone else after we loaded it; saving would throw their edit away."""

    def __init__(self, path: Path):
        super().__init__(
            f"{path} was edited by another program after it was loaded, so it was not saved "
            "(that would undo the other edit). Reload it, then make your change again.",
            Fix("reload"),
        )


def render_project_toml(settings: ProjectSettings) -> str:
    """A new `project.toml` holding `settings`, every key explained by a one-line comment."""
    data = settings.to_toml_data()
    blocks = [HEADER, _commented_lines([("schema", data["schema"], _description(ProjectSettings, "schema"))])]
    for section, section_model in SECTION_MODELS.items():
        rows = [(key, value, _description(section_model, key)) for key, value in data[section].items()]
        # The table's comment shares the header line: keys added later are appended to the table,
        # and a comment line above the next header would end up above them.
        title = (section_model.__doc__ or "").strip()
        blocks.append(f"[{section}]  # {title}\n" + _commented_lines(rows))
    return "\n".join(blocks)


def _description(model: type[BaseModel], key: str) -> str:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field.description or ""
    raise KeyError(key)


def _commented_lines(rows: list[tuple[str, Any, str]]) -> str:
    assignments = [f"{key} = {tomlkit.item(value).as_string()}" for key, value, _ in rows]
    width = max(len(text) for text in assignments) + 2
    return "".join(f"{assignment.ljust(width)}# {description}\n" for assignment, (_, _, description) in zip(assignments, rows))


class ProjectStore:
    """One `project.toml`: its validated settings and the document they came from.

    Saving writes back only the values that changed, so the user's comments and layout survive,
    and refuses when the file changed on disk since it was loaded.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.reload()

    @property
    def settings(self) -> ProjectSettings:
        """A copy: changing it changes nothing until it is saved."""
        return self._settings.model_copy(deep=True)

    def reload(self) -> None:
        text = _read_text(self.path)
        document = _parse_toml(self.path, text)
        self._settings = _validate(self.path, text, document.unwrap())
        self._document = document
        self._digest = _digest(text)

    def changed_on_disk(self) -> bool:
        """Whether another program wrote the file since it was loaded or saved here."""
        try:
            return _digest(_read_text(self.path)) != self._digest
        except UserError:
            return True

    def update(self, changes: dict[str, Any]) -> SettingsUpdate:
        """Set values by dotted key (`{"training.steps": 500}`), all or none: each is checked, and
        the problems come back in the words `ti-tui doctor` uses, with nothing written."""
        current_text = self._unchanged_text()
        data = self._settings.to_toml_data()
        unknown = []
        for key, value in changes.items():
            section, _, name = key.partition(".")
            if section not in SECTION_NAMES or name not in data[section]:
                unknown.append(_unknown_key_problem(current_text, key.split(".")))
                continue
            data[section][name] = value
        if unknown:
            return SettingsUpdate([], unknown)
        try:
            settings = _validate(self.path, current_text, data)
        except ProjectFileError as error:
            return SettingsUpdate([], error.problems)
        return SettingsUpdate(self.save(settings), [])

    def save(self, settings: ProjectSettings) -> list[str]:
        """Write the values of `settings` that differ from the file; returns the changed keys."""
        current_text = self._unchanged_text()
        new = settings.to_toml_data()
        # Each value was checked when it was set; together they may still clash.
        _validate(self.path, current_text, new, advice="Nothing was saved; change the settings named above.")
        old = self._settings.to_toml_data()
        changed = []
        for section, value in new.items():
            if section not in SECTION_NAMES:
                if value != old[section]:
                    self._document[section] = value
                    changed.append(section)
                continue
            for key, item in value.items():
                if item != old[section][key]:
                    _set_value(self._document, section, key, item)
                    changed.append(f"{section}.{key}")
        if changed:
            text = tomlkit.dumps(self._document)
            try:
                atomic_write_text(self.path, text)
            except OSError as error:
                self._document = _parse_toml(self.path, current_text)
                raise UserError(f"{self.path} could not be saved ({error.strerror}); the file is unchanged.") from None
            self._digest = _digest(text)
        self._settings = settings.model_copy(deep=True)
        return changed

    def _unchanged_text(self) -> str:
        text = _read_text(self.path)
        if _digest(text) != self._digest:
            raise ProjectChangedOnDiskError(self.path)
        return text


def _set_value(document: tomlkit.TOMLDocument, section: str, key: str, value: Any) -> None:
    """Change one value in place; a key or table the user deleted comes back with its comment."""
    section_model = SECTION_MODELS[section]
    if section not in document:
        document.add(tomlkit.nl())
        document.add(section, tomlkit.table())
        document[section].comment((section_model.__doc__ or "").strip())
        document[section].trivia.comment_ws = "  "
    table = document[section]
    if key in table or isinstance(table, InlineTable):
        table[key] = value
        return
    item = tomlkit.item(value)
    item.comment(_description(section_model, key))
    item.trivia.comment_ws = "  "
    table.add(key, item)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; create a project there first", Fix("create-project", str(path.parent))) from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; the project's settings must be a file of that name") from None
    except UnicodeDecodeError as error:
        raise ProjectFileError(path, [_file_problem(f"the file is not UTF-8 text (byte {error.start}); save it as UTF-8")]) from None
    except OSError as error:
        raise UserError(f"{path} cannot be read: {error.strerror}") from None


_TOMLLIB_EXPLANATIONS = {
    "Cannot overwrite a value": "this key is already set above; keep one of the two lines",
    "Cannot declare": "this table is already declared above (or its keys were set with dotted keys); keep one",
}


def _parse_toml(path: Path, text: str) -> tomlkit.TOMLDocument:
    # The standard library's parser reports every kind of mistake with its line and column;
    # tomlkit then keeps the comments and layout for saving.
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProjectFileError(path, [_syntax_problem(text, str(error))]) from None
    try:
        return tomlkit.parse(text)
    except TOMLKitError as error:
        raise ProjectFileError(path, [_file_problem(f"this is not valid TOML ({error})")]) from None


def _file_problem(message: str, line: int | None = None) -> Finding:
    return Finding("error", message, check="setting", line=line)


def _setting_problem(key: str, line: int | None, message: str) -> Finding:
    return Finding("error", message, check="setting", fix=Fix("edit-setting", key), subjects=(key,), line=line)


def _syntax_problem(text: str, message: str) -> Finding:
    located = re.match(r"(.*) \(at line (\d+), column (\d+)\)$", message)
    if not located:
        return _file_problem(f"this is not valid TOML ({message})")
    reason, line, column = located.group(1), int(located.group(2)), int(located.group(3))
    for start, explanation in _TOMLLIB_EXPLANATIONS.items():
        if reason.startswith(start):
            reason = explanation
    lines = text.splitlines()
    shown = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return _file_problem(f"column {column}: this is not valid TOML: {reason}" + (f": {shown}" if shown else ""), line)


def _validate(path: Path, text: str, data: dict, advice: str | None = None) -> ProjectSettings:
    extra = {} if advice is None else {"advice": advice}
    try:
        settings = ProjectSettings.model_validate(data)
    except ValidationError as error:
        problems = [_problem_from_error(text, detail) for detail in error.errors()]
        raise ProjectFileError(path, problems, **extra) from None
    clashes = [
        _setting_problem(key, find_key_line(text, key.split(".")), f"{key} = {shown_value(_lookup(data, key))}: {reason}")
        for key, reason in consistency_problems(settings)
    ]
    if clashes:
        raise ProjectFileError(path, clashes, **extra)
    return settings


def _lookup(data: dict, key: str) -> Any:
    for part in key.split("."):
        data = data.get(part, {}) if isinstance(data, dict) else {}
    return data


def value_problem(key: str, value: Any) -> Finding | None:
    """What is wrong with `value` for the setting `key` on its own, in the words of project.toml's errors."""
    section, _, name = key.partition(".")
    try:
        setattr(SECTION_MODELS[section](), name, value)
    except ValidationError as error:
        detail = error.errors()[0]
        return _problem_from_error("", {**detail, "loc": (section, *detail["loc"])})
    return None


def _problem_from_error(text: str, detail: dict) -> Finding:
    location = [part for part in detail["loc"] if isinstance(part, str)]
    key = ".".join(location)
    item = next((part for part in detail["loc"] if isinstance(part, int)), None)
    shown_key = key if item is None else f"{key} item {item + 1}"
    line = find_key_line(text, location)
    if detail["type"] == "extra_forbidden":
        return _unknown_key_problem(text, location)
    if detail["type"] == "model_type":
        return _setting_problem(key, line, f"{key} should be a table: a line [{key}] followed by its keys")
    explanation = _explain(detail)
    description = _field_description(location)
    if description:
        explanation += f" ({description})"
    return _setting_problem(key, line, f"{shown_key} = {shown_value(detail['input'])}: {explanation}")


def _unknown_key_problem(text: str, location: list[str]) -> Finding:
    key = ".".join(location)
    return _setting_problem(key, find_key_line(text, location), f"unknown key {key}{_closest_key_hint(location)}")


def _closest_key_hint(location: list[str]) -> str:
    *parents, unknown = location
    if parents and parents[0] in SECTION_MODELS:
        candidates = list(SECTION_MODELS[parents[0]].model_fields)
    else:
        candidates = [*SECTION_NAMES, "schema"]
    close = difflib.get_close_matches(unknown, candidates, n=1, cutoff=0.6)
    prefix = ".".join(parents + [""]) if parents else ""
    if close:
        return f"; did you mean {prefix}{close[0]}?"
    return f"; the keys here are: {', '.join(candidates)}"


def _field_description(location: list[str]) -> str:
    if len(location) == 2 and location[0] in SECTION_MODELS and location[1] in SECTION_MODELS[location[0]].model_fields:
        return _description(SECTION_MODELS[location[0]], location[1])
    return ""


_EXPLANATIONS = {
    "int_type": "should be a whole number",
    "float_type": "should be a number",
    "bool_type": "should be true or false (without quotes)",
    "string_type": "should be text in double quotes",
    "list_type": "should be a list in square brackets, like [1, 2]",
    "finite_number": "should be a finite number (not nan or inf)",
}


def _explain(detail: dict) -> str:
    kind, context, value = detail["type"], detail.get("ctx", {}), detail["input"]
    if isinstance(value, dict):
        return "is a table, but should be a single value"
    if kind in _EXPLANATIONS:
        explanation = _EXPLANATIONS[kind]
        if isinstance(value, str) and kind in ("int_type", "float_type", "bool_type"):
            explanation += "; remove the quotes"
        return explanation
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "less_than_equal": ("at most", "le"),
        "greater_than": ("more than", "gt"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, name = bounds[kind]
        return f"should be {words} {context[name]}"
    if kind == "value_error":
        return str(context.get("error", detail["msg"]))
    if kind == "too_short":
        return f"should have at least {context.get('min_length', 1)} item(s)"
    return re.sub(r"^Input should be", "should be", detail["msg"])


def shown_value(value: Any) -> str:
    """A value as TOML writes it, on one line."""
    if isinstance(value, dict):
        return "(a table)"
    try:
        shown = tomlkit.item(value).as_string()
    except (TypeError, ValueError):
        shown = repr(value)
    return shown.replace("\n", " ")


_TABLE_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY_ASSIGNMENT = re.compile(r"""^\s*([\w\-."' ]+?)\s*=""")


def find_key_line(text: str, location: list[str]) -> int | None:
    """The 1-based line where the key at `location` (a table path plus a key) is set, if found.

    Understands `[table]` headers, dotted keys (`training.steps = 5`) and inline tables
    (`training = {steps = 5}`, reported at the line that opens them).
    """
    if not location:
        return None
    current: list[str] = []
    enclosing_line = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TABLE_HEADER.match(line)
        if header:
            current = _key_parts(header.group(1))
            if current == location:
                return number
            continue
        assignment = _KEY_ASSIGNMENT.match(line)
        if not assignment:
            continue
        path = current + _key_parts(assignment.group(1))
        if path == location:
            return number
        if location[: len(path)] == path and enclosing_line is None:
            enclosing_line = number
    return enclosing_line


def _key_parts(dotted: str) -> list[str]:
    return [part.strip().strip("\"'") for part in dotted.split(".")]
