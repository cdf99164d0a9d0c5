"""The Token step: the trigger as the model's tokenizer reads it, the core's verdict and better words;
the init text the vectors start from, and how many vectors to train."""

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ti_tui.sd.tokens import END_OF_WORD
from ti_tui.tui.screens.step import StepScreen
from ti_tui.tui.widgets.setting_field import SettingField
from ti_tui.usecases.images import originals
from ti_tui.usecases.token_check import TokenQuestion, TokenReport

GUIDANCE = (
    "The trigger is the word you will type: make one up, such as zorbot; a real word, or one already a single "
    "token, drags its old meaning along. The init text names what the images show (woman, dog); the vectors "
    "start from it. Next: Settings."
)
ASK_AFTER_SECONDS = 0.25


class TokenScreen(StepScreen):
    STEP = "token"
    GUIDANCE = GUIDANCE
    CSS_PATH = "token.tcss"
    AUTO_FOCUS = ""  # on_mount puts the cursor in the trigger, or in the field another step sent the user to
    BINDINGS = [Binding("u", "use_suggestion", "Use the suggestion", show=False, id="token.use-suggestion")]

    @dataclass
    class Answered(Message):
        question: TokenQuestion
        report: TokenReport

    def __init__(self, focus: str | None = None):
        super().__init__()
        self.focus_on = focus or "trigger"  # a field's id
        self.checker = None
        self.ask_timer = None
        self.image_count = 0

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="setting"):
            yield Label("Trigger", classes="field-title")
            yield SettingField("token.trigger", id="trigger")
            yield Static("Reading the tokenizer...", id="pieces", markup=False)
            yield Static("", id="verdict", markup=False)
            yield OptionList(id="suggestions")
        with Vertical(classes="setting"):
            yield Label("Init text", classes="field-title")
            yield SettingField("token.init_text", id="init-text")
            yield Static("", id="init-pieces", markup=False)
        with Vertical(classes="setting"):
            yield Label("Vectors", classes="field-title")
            yield SettingField("token.vectors", id="vectors")
            yield Static("", id="vectors-note", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.checker = self.app.services.token_checker(self.app.project.root)
        self.image_count = len(originals(self.app.project))
        self.query_one("#suggestions", OptionList).display = False
        self.set_focus(self.query_one(f"#{self.focus_on}", SettingField).query_one(Input))
        self.ask()

    def on_unmount(self) -> None:
        if self.checker is not None:
            self.checker.close()

    @on(Input.Changed)
    def typed(self) -> None:
        if self.ask_timer is not None:
            self.ask_timer.stop()
        self.ask_timer = self.set_timer(ASK_AFTER_SECONDS, self.ask)

    @on(Input.Submitted)
    @on(SettingField.Saved)
    def ask_now(self) -> None:
        if self.ask_timer is not None:
            self.ask_timer.stop()
        self.ask()

    def settings_reloaded(self, project) -> None:
        for field in self.query(SettingField):
            field.show_saved()
        self.ask()

    def question(self) -> TokenQuestion:
        """What the fields hold now."""
        return TokenQuestion(
            self.query_one("#trigger", SettingField).value.strip(),
            self.query_one("#init-text", SettingField).value,
            self.image_count,
            self.app.project.settings.dataset.kind,
        )

    def ask(self) -> None:
        self.ask_tokenizer(self.question())

    @work(thread=True, exit_on_error=False, exclusive=True, group="tokenizer")
    def ask_tokenizer(self, question: TokenQuestion) -> None:
        self.post_message(self.Answered(question, self.checker.ask(question)))

    @on(Answered)
    def show_answer(self, message: Answered) -> None:
        if message.question != self.question():
            return  # an answer to what was typed before; the answer to what is there now is coming
        report = message.report
        if report.problem:
            self.query_one("#pieces", Static).update(f"The tokenizer cannot be read: {report.problem}")
            return
        trigger = self.query_one("#trigger", SettingField).value.strip()
        pieces = _pieces(report.trigger_pieces)
        self.query_one("#pieces", Static).update(
            f"{trigger!r} is read as {len(report.trigger_pieces)} piece(s): {pieces}" if trigger else "No trigger yet."
        )
        verdict = "\n".join(f"{'!' if finding.severity == 'error' else '?'} {finding}" for finding in report.findings)
        self.query_one("#verdict", Static).update(verdict or "A good trigger: a made-up word in a few pieces.")
        self.query_one("#verdict", Static).set_class(not report.findings, "-good")
        listing = self.query_one("#suggestions", OptionList)
        listing.clear_options()
        listing.add_options(Option(Content(f"use {word}"), id=word) for word in report.suggestions)
        listing.display = bool(report.suggestions)
        init_text = self.query_one("#init-text", SettingField).value
        self.query_one("#init-pieces", Static).update(
            f"{init_text!r}: {len(report.init_pieces)} token(s): {_pieces(report.init_pieces)}"
            if report.init_pieces
            else "No init text: the vectors start small and random."
        )
        chosen = self.app.project.settings.token.vectors
        self.query_one("#vectors-note", Static).update(
            f"Suggested: {report.vectors_reason}" + ("" if chosen else " 0 takes the suggestion.")
        )

    @on(OptionList.OptionSelected, "#suggestions")
    def suggestion_chosen(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#trigger", SettingField).set_value(event.option.id)

    def action_use_suggestion(self) -> None:
        listing = self.query_one("#suggestions", OptionList)
        if listing.option_count:
            self.query_one("#trigger", SettingField).set_value(listing.get_option_at_index(listing.highlighted or 0).id)


def _pieces(pieces: list[str]) -> str:
    return " · ".join(piece.removesuffix(END_OF_WORD) for piece in pieces)
