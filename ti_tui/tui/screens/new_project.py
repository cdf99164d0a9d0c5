"""A new project: its folder, model, images, what they show, the words the vectors start from and the trigger,
checked as they are typed, created by the same core call as `ti-tui new`."""

import os
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ti_tui.errors import UserError
from ti_tui.kinds import PROJECT_KINDS
from ti_tui.names import FILE_STEM
from ti_tui.paths import shown_path, user_path
from ti_tui.settings import BUILTIN_TINY
from ti_tui.tui.widgets.path_input import PathInput, browse_start
from ti_tui.tui.widgets.typing_input import TypingInput

FIELDS = ("folder", "model", "images", "init", "trigger")
MODEL_CHOICES = f"a .safetensors or .ckpt file, a diffusers folder, a Hugging Face id, or {BUILTIN_TINY}"


class NewProjectScreen(ModalScreen[Path | None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="dialog.cancel"),
        Binding("f2", "browse", "Browse", id="dialog.browse"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="new-project") as dialog:
            dialog.border_title = "A new project"
            with VerticalScroll(classes="dialog-body", can_focus=False):  # the fields scroll, the buttons stay in sight
                yield Label("Folder for the project (made if missing)")
                yield PathInput(os.path.join(shown_path(Path.cwd()), ""), id="folder", compact=True)
                yield Static("", id="folder-note", classes="note", markup=False)
                yield Label(
                    f"Model: {BUILTIN_TINY} to try things in a minute, or a .safetensors/.ckpt file, a diffusers folder, a Hugging Face id"
                )
                yield PathInput("", id="model", placeholder="empty: stable-diffusion-v1-5 from the Hugging Face cache", compact=True)
                yield Static("", id="model-note", classes="note", markup=False)
                yield Label("Folder of your photos (empty: put them into the project's images/ later)")
                yield PathInput("", id="images", placeholder="empty: the project's own images/ folder", compact=True)
                yield Static("", id="images-note", classes="note", markup=False)
                yield Label("What the images show")
                yield Select([(kind.words, name) for name, kind in PROJECT_KINDS.items()], prompt="Choose one", id="kind", compact=True)
                yield Static("", id="kind-note", classes="note", markup=False)
                yield Label("Words the vectors start from: close to what you train, such as dog or woman")
                yield TypingInput("", id="init", placeholder="proposed from what the images show; empty: a random start", compact=True)
                yield Static("", id="init-note", classes="note", markup=False)
                yield Label("Trigger: the made-up word you will type in prompts")
                yield TypingInput("", id="trigger", placeholder="such as zorbot; empty: from the folder name", compact=True)
                yield Static("", id="trigger-note", classes="note", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Create", id="create", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        for name in FIELDS:
            self.check(name)
        self.query_one("#folder", Input).focus()

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        self.check(event.input.id)

    @on(Select.Changed, "#kind")
    def kind_chosen(self, event: Select.Changed) -> None:
        """The init words proposed from the kind, unless the user has typed words of their own."""
        init = self.query_one("#init", Input)
        proposed = {kind.init_text for kind in PROJECT_KINDS.values()}
        if event.value in PROJECT_KINDS and init.value.strip() in proposed | {""}:
            init.value = PROJECT_KINDS[event.value].init_text
        self.kind_ready()

    def kind_ready(self) -> bool:
        chosen = self.query_one("#kind", Select).value in PROJECT_KINDS
        note = self.query_one("#kind-note", Static)
        note.update("" if chosen else "Choose what the images show: it decides the crops, the checks and the prompts.")
        note.set_class(not chosen, "problem")
        return chosen

    def check(self, name: str) -> bool:
        """Show what the field's value will do, or what is wrong with it; True when it can be used."""
        value = self.query_one(f"#{name}", Input).value.strip()
        try:
            problem, note = _CHECKS[name](value)
        except UserError as error:
            problem, note = str(error), ""
        except OSError as error:
            problem, note = f"{value} cannot be looked at: {error.strerror}.", ""
        self.query_one(f"#{name}-note", Static).update(problem or note)
        self.query_one(f"#{name}-note", Static).set_class(bool(problem), "problem")
        return not problem

    @on(Input.Submitted)
    def next_field(self, event: Input.Submitted) -> None:
        """Enter goes on to the next field; on the last one it creates the project."""
        if event.input.id == "trigger":
            self.create()
        else:
            self.focus_next()

    @on(Button.Pressed, "#create")
    def create(self) -> None:
        from ti_tui.project import create_project

        if not all([self.check(name) for name in FIELDS] + [self.kind_ready()]):
            return
        value = {name: self.query_one(f"#{name}", Input).value.strip() for name in FIELDS}
        try:
            project = create_project(
                value["folder"],
                model=value["model"] or None,
                images=Path(value["images"]) if value["images"] else None,
                token=value["trigger"] or None,
                kind=self.query_one("#kind", Select).value,
                init_text=value["init"],
            )
        except UserError as error:
            self.notify(str(error), severity="error", markup=False, timeout=10)
            return
        self.dismiss(project.root)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    def action_browse(self) -> None:
        from textual_fspicker import FileOpen, SelectDirectory

        field = self.focused if isinstance(self.focused, PathInput) else self.query_one("#folder", PathInput)
        start = browse_start(field.value)
        picker = FileOpen(start) if field.id == "model" else SelectDirectory(start)

        def picked(path: Path | None) -> None:
            if path is not None:
                field.value = str(path)

        self.app.push_screen(picker, picked)


def _folder(value: str) -> tuple[str, str]:
    if not value:
        return "Name a folder for the project.", ""
    folder = user_path(value, Path.cwd())
    if (folder / "project.toml").exists():
        return f"{shown_path(folder)} is already a project; open it from the start screen instead.", ""
    if folder.exists() and not folder.is_dir():
        return f"{shown_path(folder)} is a file.", ""
    return "", f"The project will be in {shown_path(folder)}" + ("" if folder.exists() else " (a new folder)") + "."


def _model(value: str) -> tuple[str, str]:
    from ti_tui.sd.availability import model_availability
    from ti_tui.sd.source import classify_model_source

    if not value:
        return "", "stable-diffusion-v1-5/stable-diffusion-v1-5, from the local Hugging Face cache (fetch it if missing)."
    try:
        source = classify_model_source(value, Path.cwd())
        availability = model_availability(source)
    except UserError as error:
        return str(error), ""
    if not availability.found and source.kind == "hub":
        return "", f"{availability.detail}: fetch it once while online (f on Settings, or ti-tui fetch)."
    if not availability.found:
        return f"{availability.detail}. Give {MODEL_CHOICES}.", ""
    return "", f"Found: {availability.detail}."


def _images(value: str) -> tuple[str, str]:
    from ti_tui.dataset.files import list_image_files

    if not value:
        return "", "The project gets an images/ folder of its own."
    folder = user_path(value, Path.cwd())
    if not folder.is_dir():
        return f"{shown_path(folder)} is not a folder.", ""
    count = len(list_image_files(folder))
    return "", f"{count} image(s) in it; 10-50 varied ones work best."


def _init(value: str) -> tuple[str, str]:
    return "", f"The vectors start from {value!r}." if value else "Empty: the vectors start at random (a run then needs more steps)."


def _trigger(value: str) -> tuple[str, str]:
    if value and not FILE_STEM.fullmatch(value):
        return "One word of letters and digits (- . _ inside), such as zorbot: it is typed in prompts and names the file.", ""
    return "", "The Token step checks it against the model's tokenizer." if value else ""


_CHECKS = {"folder": _folder, "model": _model, "images": _images, "init": _init, "trigger": _trigger}
