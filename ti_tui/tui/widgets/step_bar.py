"""The steps of the journey in one line, each marked done, needs attention, or not yet; click one to go there."""

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from ti_tui.usecases.journey import STEP_TITLES, STEPS, Step, StepState

MARKS = {"done": "✓", "attention": "!", "not-yet": "·"}
# Steps a new project has done by its defaults (a trigger from the folder's name, every setting): a ✓ there
# would say the user chose what nobody looked at.
CHOSEN_BY_DEFAULTS = ("token", "settings")


class StepTab(Static):
    DEFAULT_CSS = """
    StepTab {
        width: auto;
        padding: 0 1 0 0;
        color: $text-muted;
    }
    StepTab.-done { color: $success; }
    StepTab.-attention { color: $warning; }
    StepTab.-current { background: $accent; color: $text; text-style: bold; }
    """

    def __init__(self, step: Step, number: int):
        super().__init__(f"{number} {STEP_TITLES[step]} ·", markup=False, id=f"tab-{step}")
        self.step, self.number = step, number

    def show(self, state: StepState | None, current: bool, looked_at: bool = True) -> None:
        progress = state.progress if state else "not-yet"
        if progress == "done" and not looked_at:
            progress = "not-yet"  # done by its defaults alone: nobody has looked at them yet
        self.update(f"{self.number} {STEP_TITLES[self.step]} {MARKS[progress]}")
        for name in MARKS:
            self.set_class(name == progress, f"-{name}")
        self.set_class(current, "-current")
        self.tooltip = Content(state.line) if state else None  # the line holds paths and error text: never markup

    def on_click(self) -> None:
        self.post_message(StepBar.Chosen(self.step))


class StepBar(Horizontal):
    DEFAULT_CSS = """
    StepBar {
        height: 1;
        width: 1fr;
        background: $panel;
    }
    """

    @dataclass
    class Chosen(Message):
        step: Step

    def __init__(self, current: Step, **kwargs):
        super().__init__(**kwargs)
        self.current = current

    def compose(self) -> ComposeResult:
        for number, step in enumerate(STEPS, start=1):
            yield StepTab(step, number)

    def show(self, states: dict[Step, StepState], looked_at: set[Step] | None = None) -> None:
        """Each step's mark; a step in CHOSEN_BY_DEFAULTS is done only once `looked_at` holds it."""
        for tab in self.query(StepTab):
            unseen = looked_at is not None and tab.step in CHOSEN_BY_DEFAULTS and tab.step not in looked_at
            tab.show(states.get(tab.step), tab.step == self.current, looked_at=not unseen)
