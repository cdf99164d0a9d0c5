"""The start screen: the projects opened lately, a new project, the sample project."""

import os
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from ti_tui.errors import UserError
from ti_tui.paths import shown_path
from ti_tui.project import Project
from ti_tui.tui.commands import StepCommands
from ti_tui.usecases.journey import STEP_TITLES

INTRODUCTION = (
    "ti-tui teaches a Stable Diffusion model one new word, a face, a character or a style, from 10-50 of your "
    "images, and makes an embedding file that works in every popular UI. Open a project below, start a new "
    "one (n), or try the sample project (s), which trains in a minute on a laptop."
)


@dataclass(frozen=True)
class RecentLine:
    path: Path
    text: str
    exists: bool


class StartScreen(Screen):
    CSS_PATH = "start.tcss"
    COMMANDS = {StepCommands}
    BINDINGS = [
        Binding("enter", "open_selected", "Open", show=False, id="start.open"),
        Binding("n", "new_project", "New project", id="start.new-project"),
        Binding("o", "open_folder", "Open folder", id="start.open-folder"),
        Binding("s", "open_sample", "Sample", id="start.sample"),
        Binding("x", "forget", "Forget", id="start.forget"),
    ]

    @dataclass
    class RecentFound(Message):
        lines: list[RecentLine]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(INTRODUCTION, id="introduction", markup=False)
        yield Static("Recent projects", classes="section-title")
        yield OptionList(id="recent")
        yield Static("", id="nothing-recent", markup=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.app.sub_title = "start"
        self.look_at_recent()

    @work(thread=True, exit_on_error=False, exclusive=True)
    def look_at_recent(self) -> None:
        self.post_message(self.RecentFound([_recent_line(entry) for entry in self.app.services.memory.recent()]))

    def on_worker_state_changed(self, event) -> None:
        self.app.report_failure(event)

    @on(RecentFound)
    def show_recent(self, message: RecentFound) -> None:
        listing = self.query_one("#recent", OptionList)
        listing.clear_options()
        listing.add_options(Option(Content(line.text), id=str(line.path)) for line in message.lines)
        listing.display = bool(message.lines)
        empty = self.query_one("#nothing-recent", Static)
        empty.update("No projects yet: press n for a new one, or s for the sample project.")
        empty.display = not message.lines
        if message.lines:
            listing.highlighted = 0
            listing.focus()

    @on(OptionList.OptionSelected, "#recent")
    def open_chosen(self, event: OptionList.OptionSelected) -> None:
        self.open(Path(event.option.id))

    def action_open_selected(self) -> None:
        listing = self.query_one("#recent", OptionList)
        if listing.highlighted is not None:
            self.open(Path(listing.get_option_at_index(listing.highlighted).id))

    def open(self, folder: Path) -> None:
        try:
            project = Project.open(folder)
        except UserError as error:
            self.notify(str(error), severity="error", markup=False, timeout=10)
            return
        self.app.open_project(project)

    def action_new_project(self) -> None:
        from ti_tui.tui.screens.new_project import NewProjectScreen

        def created(folder: Path | None) -> None:
            if folder is not None:
                self.open(folder)

        self.app.push_screen(NewProjectScreen(), created)

    def action_open_folder(self) -> None:
        from ti_tui.tui.screens.dialogs import AskPath

        def chosen(folder: Path | None) -> None:
            if folder is not None:
                self.open(folder)

        self.app.push_screen(
            AskPath("The project folder (the one holding project.toml):", os.path.join(shown_path(Path.cwd()), ""), title="Open a project"),
            chosen,
        )

    def action_open_sample(self) -> None:
        from ti_tui.usecases.recent import copy_of_sample

        sample = self.app.services.sample_project
        if sample is None:
            self.notify("The sample project comes with a clone of the ti-tui repository; this installation has none.", severity="warning")
            return
        try:
            copy = copy_of_sample(sample)
        except OSError as error:
            self.notify(f"The sample project could not be copied ({error}).", severity="error", markup=False)
            return
        self.open(copy)

    def action_forget(self) -> None:
        listing = self.query_one("#recent", OptionList)
        if listing.highlighted is not None:
            self.app.services.memory.forget(Path(listing.get_option_at_index(listing.highlighted).id))
            self.look_at_recent()


def _recent_line(entry) -> RecentLine:
    """The project's name, folder, the step it was left on and its last run, or that it is gone."""
    if not entry.exists:
        return RecentLine(entry.path, f"{entry.path.name}  (missing: {shown_path(entry.path)})", False)
    step = STEP_TITLES.get(entry.step, entry.step)
    return RecentLine(entry.path, f"{entry.path.name}  {shown_path(entry.path)}\n  at {step}; {_last_run(entry.path)}", True)


def _last_run(folder: Path) -> str:
    from ti_tui.runs import run_status
    from ti_tui.usecases.training import list_runs

    try:
        runs = list_runs(Project.open(folder))
        return f"last run {run_status(runs[-1]).describe()}" if runs else "no runs yet"
    except UserError as error:
        return str(error)
