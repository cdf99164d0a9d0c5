"""Editing every caption at once: replace, remove a word, prepend, append, with a preview of what changes."""

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from ti_tui.dataset import captions
from ti_tui.errors import UserError
from ti_tui.tui.widgets.typing_input import TypingInput

WORDS_TITLES = {
    "replace": "Words to look for (whole words)",
    "remove": "The word to remove",
    "prepend": "Words to put first",
    "append": "Words to put last",
}
OPERATIONS = [("replace words", "replace"), ("remove a word", "remove"), ("put words first", "prepend"), ("put words last", "append")]


class BulkEditScreen(ModalScreen[list[str] | None]):
    """Returns the images whose caption changed, or None when cancelled."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="dialog.cancel")]

    def __init__(self, folder: Path, shown: dict[Path, captions.Caption], from_file_name: bool):
        super().__init__()
        self.folder, self.shown, self.from_file_name = folder, shown, from_file_name  # shown: each image's caption

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="bulk-edit") as dialog:
            dialog.border_title = "Edit every caption"
            with VerticalScroll(classes="dialog-body", can_focus=False):
                with _field("What to do"):
                    yield Select(OPERATIONS, value="replace", allow_blank=False, id="operation", compact=True)
                with _field(WORDS_TITLES["replace"], id="words-field"):
                    yield TypingInput("", id="words", compact=True)
                with _field("Put in their place (empty: nothing)", id="replacement-field"):
                    yield TypingInput("", id="replacement", compact=True)
                yield Static("", id="preview", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Apply", id="apply", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#words", Input).focus()
        self.preview()

    def edit(self):
        """The edit as a function of the caption text, from the core; UserError when it is not complete."""
        operation = self.query_one("#operation", Select).value
        words = self.query_one("#words", Input).value
        if operation == "replace":
            return captions.replacing(words, self.query_one("#replacement", Input).value)
        if operation == "remove":
            return captions.removing_word(words)
        if not words.strip():
            raise UserError("type the words to add")
        return captions.prepending(words.strip()) if operation == "prepend" else captions.appending(words.strip())

    @on(Select.Changed)
    @on(Input.Changed)
    def preview(self) -> None:
        operation = self.query_one("#operation", Select).value
        self.query_one("#words-field").border_title = WORDS_TITLES[operation]
        self.query_one("#replacement-field").display = operation == "replace"
        preview = self.query_one("#preview", Static)
        try:
            edit = self.edit()
        except UserError as error:
            preview.update(str(error)[:1].upper() + str(error)[1:] + ".")
            return
        changes = captions.planned_edits(self.shown, edit)
        if not changes:
            preview.update(f"No caption of the {len(self.shown)} would change.")
            return
        image, (before, after) = next(iter(changes.items()))
        preview.update(f"{len(changes)} of {len(self.shown)} captions change, such as {image.name}:\n  {before}\n  -> {after}")

    @on(Input.Submitted)
    @on(Button.Pressed, "#apply")
    def apply(self) -> None:
        try:
            changed = captions.edit_captions(self.folder, self.edit(), self.from_file_name)
        except UserError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self.dismiss(changed)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)


def _field(title: str, id: str | None = None) -> Vertical:
    """A framed field named in its frame; the frame turns heavy while the cursor is in it (dialogs.tcss)."""
    field = Vertical(classes="field", id=id)
    field.border_title = title
    return field
