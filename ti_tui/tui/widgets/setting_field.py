"""A setting of project.toml as a field: typed (or chosen), checked as it changes, saved through the core
a moment after the last change, and the problem shown under it in the words `ti-tui doctor` uses."""

import types
import typing
from dataclasses import dataclass
from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Select, Static, Switch

from ti_tui.settings import SECTION_MODELS
from ti_tui.tui.widgets.typing_input import TypingInput

SAVE_AFTER_SECONDS = 0.5  # of no typing
LIST_SEPARATOR = " | "  # prompts hold commas, so list items are set apart by a bar
BOUNDS = (  # a setting's bound (its name in the field's metadata), when a value is outside it, and in words
    ("ge", lambda value, limit: value < limit, "at least"),
    ("gt", lambda value, limit: value <= limit, "more than"),
    ("le", lambda value, limit: value > limit, "at most"),
    ("lt", lambda value, limit: value >= limit, "less than"),
)


def field_info(key: str):
    section, name = key.split(".")
    return SECTION_MODELS[section].model_fields[name]


def _item_type(annotation):
    """The type of a field, or of its items for a list; Annotated[...] and its bounds looked through."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


class SettingField(Vertical):
    """A setting's field and the line under it; `value` is what is typed, saved when it makes sense."""

    @dataclass
    class Saved(Message):
        """The setting's new value is in project.toml."""

        key: str

    DEFAULT_CSS = """
    SettingField {
        height: auto;
    }
    SettingField > .setting-note {
        color: $text-muted;
        padding: 0 1;
    }
    SettingField > .setting-note.-problem {
        color: $error;
    }
    SettingField.-unsaved > .setting-note {
        text-style: bold;
    }
    """

    def __init__(self, key: str, describe: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.key = key
        self.info = field_info(key)
        self.resting_note = (self.info.description or "") if describe else ""  # shown when there is no problem to say
        self.unsaved = ""  # why the value shown is not the one in project.toml; "" when it is
        self.save_timer = None

    def compose(self) -> ComposeResult:
        annotation = self.info.annotation
        if annotation is bool:
            yield Switch(value=bool(self.saved()), classes="setting-input")
        elif typing.get_origin(annotation) is Literal:
            choices = [(str(choice), choice) for choice in typing.get_args(annotation)]
            yield Select(choices, value=self.saved(), allow_blank=False, compact=True, classes="setting-input")
        else:
            yield TypingInput(self.as_text(self.saved()), classes="setting-input", compact=True)
        yield Static(self.resting_note, classes="setting-note", markup=False)

    # The value ---------------------------------------------------------------------------------

    def saved(self):
        section, name = self.key.split(".")
        return getattr(getattr(self.app.project.settings, section), name)

    def as_text(self, value) -> str:
        if isinstance(value, list):
            separator = LIST_SEPARATOR if _item_type(typing.get_args(self.info.annotation)[0]) is str else ", "
            return separator.join(str(item) for item in value)
        return str(value)

    def parse(self, text: str):
        """The typed text as the setting's type; ValueError with the reason when it is not one."""
        annotation = self.info.annotation
        if typing.get_origin(annotation) is list:
            item = _item_type(typing.get_args(annotation)[0])
            if item is str:
                return [part.strip() for part in text.split("|") if part.strip()]
            return [_number(part, item) for part in text.replace(",", " ").split()]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            return _number_or_word(text, typing.get_args(annotation))
        return _number(text, annotation) if annotation in (int, float) else text

    def bounds_problem(self, value) -> str:
        """What is wrong with a parsed `value` for this setting's bounds, in doctor's words; "" when it is within them."""
        for bound in self.info.metadata:
            for name, outside, words in BOUNDS:
                limit = getattr(bound, name, None)
                if limit is not None and not isinstance(value, list) and outside(value, limit):
                    return f"should be {words} {limit}"
        return ""

    @property
    def value(self) -> str:
        widget = self.query_one(".setting-input")
        return widget.value if isinstance(widget, Input) else str(widget.value)

    def set_value(self, text: str) -> None:
        """Put `text` in the field (as if typed) and save it."""
        self.query_one(Input).value = text
        self.save()

    def show_saved(self) -> None:
        """Show what project.toml holds now (after a reload)."""
        widget = self.query_one(".setting-input")
        with widget.prevent(Input.Changed, Select.Changed, Switch.Changed):
            if isinstance(widget, Input):
                widget.value = self.as_text(self.saved())
            else:
                widget.value = self.saved()
        self.mark_unsaved("")

    # Saving ------------------------------------------------------------------------------------

    @on(Input.Changed)
    def typed(self) -> None:
        if self.save_timer is not None:
            self.save_timer.stop()
        self.save_timer = self.set_timer(SAVE_AFTER_SECONDS, self.save)

    @on(Input.Submitted)
    def submitted(self) -> None:
        self.save()

    @on(Select.Changed)
    @on(Switch.Changed)
    def chosen(self) -> None:
        self.save()

    def save(self) -> None:
        """Save the value shown, on its own; when it cannot be, the field says it is not saved, and why."""
        if self.save_timer is not None:
            self.save_timer.stop()
            self.save_timer = None
        widget = self.query_one(".setting-input")
        try:
            value = self.parse(widget.value) if isinstance(widget, Input) else widget.value
        except ValueError as error:
            self.mark_unsaved(f"{self.key} = {widget.value!r}: {error}")
            return
        if value == self.saved():
            self.mark_unsaved("")
            return
        problems = self.app.save_settings({self.key: value})
        if problems is None:
            self.mark_unsaved(f"{self.key}: project.toml was changed elsewhere or cannot be written (ctrl+r reloads it)")
        elif problems:
            self.mark_unsaved(str(problems[0]))
        else:
            self.mark_unsaved("")
            self.post_message(self.Saved(self.key))

    def mark_unsaved(self, reason: str) -> None:
        """Say at the field that its value is not saved, and `reason`; "" once it is saved."""
        self.unsaved = reason
        self.set_class(bool(reason), "-unsaved")
        self.show_note("")

    def show_note(self, text: str, problem: bool = False) -> None:
        """`text` under the field ("" for its resting note); while the value is unsaved, that it is, first."""
        if self.unsaved:
            text, problem = f"not saved: {text or self.unsaved}", True
        note = self.query_one(".setting-note", Static)
        note.update(text or self.resting_note)
        note.set_class(problem, "-problem")

    def flush(self) -> None:
        """Save now what is waiting for the typing to stop (before the screen goes)."""
        if self.save_timer is not None:
            self.save()


def _number_or_word(text: str, kinds: tuple):
    """A whole number, or a word the setting takes in place of one (such as "auto"), which the setting's own
    check then judges."""
    try:
        return int(text.strip()) if int in kinds else float(text.strip())
    except ValueError:
        return text.strip()


def _number(text: str, kind: type):
    try:
        return kind(text.strip())
    except ValueError:
        raise ValueError("should be a whole number" if kind is int else "should be a number") from None
