"""Small questions asked over the current screen: a path, a yes or no."""

from collections.abc import Callable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from ti_tui.errors import UserError
from ti_tui.paths import shown_path, user_path
from ti_tui.tui.widgets.path_input import PathInput, browse_start


class AskPath(ModalScreen[Path | str | None]):
    """A file or folder, typed with completion or picked from a browser (f2)."""

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="dialog.cancel"),
        Binding("f2", "browse", "Browse", id="dialog.browse"),
    ]

    def __init__(
        self,
        question: str,
        start: str = "",
        folders: bool = True,
        files: bool = False,
        *,
        title: str,
        other: tuple[str, Callable[[str], bool]] | None = None,
    ):
        """`other`: what else may be typed, in words, and whether a text is one (such as a model id in a cache),
        given back as the text itself."""
        super().__init__()
        self.question, self.heading, self.start, self.folders, self.files = question, title, start, folders, files
        self.other = other

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self.heading
            yield Static(self.question, markup=False)
            yield PathInput(self.start, id="path", placeholder="a path; right arrow completes, f2 browses", compact=True)
            yield Static("", id="path-problem", classes="problem", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def choose(self) -> None:
        text = self.query_one("#path", Input).value.strip()
        kinds = " or ".join(kind for kind, wanted in (("folder", self.folders), ("file", self.files)) if wanted)
        try:
            path = user_path(text, Path.cwd())
            wanted_kind = (path.is_dir() and self.folders) or (path.is_file() and self.files)
        except UserError as error:
            self.query_one("#path-problem", Static).update(str(error))
            return
        except OSError as error:
            self.query_one("#path-problem", Static).update(f"{text} cannot be looked at: {error.strerror}.")
            return
        other = f", or {self.other[0]}" if self.other is not None else ""
        if not text:
            self.query_one("#path-problem", Static).update(f"Type the path of a {kinds}{other}, or press f2 to browse.")
        elif wanted_kind:
            self.dismiss(path)
        elif self.other is not None and not path.exists() and self.other[1](text):
            self.dismiss(text)
        elif self.other is not None and not path.exists():
            self.query_one("#path-problem", Static).update(f"{text} is neither a {kinds} here nor {self.other[0]}; check it (f2 browses).")
        elif not path.exists():
            self.query_one("#path-problem", Static).update(f"{shown_path(path)} does not exist; check the path (f2 browses).")
        else:
            self.query_one("#path-problem", Static).update(f"{shown_path(path)} is not a {kinds}; choose a {kinds}.")

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    def action_browse(self) -> None:
        from textual_fspicker import FileOpen, SelectDirectory

        field = self.query_one("#path", Input)
        start = browse_start(field.value)
        picker = SelectDirectory(start) if self.folders and not self.files else FileOpen(start)

        def picked(path: Path | None) -> None:
            if path is not None:
                field.value = str(path)
                self.choose()

        self.app.push_screen(picker, picked)


class Confirm(ModalScreen[bool]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "dismiss(False)", "No", id="dialog.no"), Binding("y", "dismiss(True)", "Yes", id="dialog.yes")]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Are you sure?"
            with VerticalScroll(classes="dialog-body", can_focus=False):  # a long list of files scrolls, the buttons stay
                yield Static(self.question, markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Yes (y)", id="yes", variant="primary", compact=True)
                yield Button("No (esc)", id="no", compact=True)

    @on(Button.Pressed)
    def answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
