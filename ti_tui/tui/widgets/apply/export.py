"""The Apply step's export: the chosen checkpoint written, in the layouts ticked, into the folder typed. The folder
is recognised (a UI's installation, its embeddings folder) and what becomes of each file said as the user
types, before anything is written; a file that is there already is replaced only when the user says so.

Planning reads a few file headers and folders, so it runs in a worker as the user types; so does the export.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Checkbox, Input, Label, Static
from textual.worker import WorkerState

from ti_tui.errors import UserError
from ti_tui.paths import shown_path
from ti_tui.tui.widgets.apply import sentence
from ti_tui.tui.widgets.path_input import PathInput
from ti_tui.tui.widgets.tick_box import TickBox

if TYPE_CHECKING:
    from ti_tui.runs import RunDirectory
    from ti_tui.runs.directory import Checkpoint
    from ti_tui.usecases.export import ExportPlan, ExportResult

FORMATS = {  # the export's layouts, and who reads each
    "safetensors": ".safetensors, which every UI reads",
    "pt": ".pt, the classic layout older web UI versions read",
    "diffusers": ".bin, the layout of diffusers scripts",
}
PLAN_AFTER_SECONDS = 0.3  # of no typing


@dataclass(frozen=True)
class Asked:
    """What the fields held when a plan was asked for."""

    target: str
    formats: tuple[str, ...]


class ExportPanel(VerticalScroll, can_focus=False):  # the fields in it take focus, never the panel
    exporting = reactive(False, bindings=True)

    @dataclass
    class CheckpointFound(Message):
        """The checkpoint the export and the try-it use (None: there is none, and `problem` says why)."""

        run: RunDirectory | None
        checkpoint: Checkpoint | None
        problem: str

    @dataclass
    class Planned(Message):
        """The checkpoint and the plan for what the fields held (`plan` None: `problem` says why)."""

        asked: Asked
        run: RunDirectory | None
        checkpoint: Checkpoint | None
        plan: ExportPlan | None
        problem: str

    @dataclass
    class Exported(Message):
        result: ExportResult

    @dataclass
    class ExportFound(Message):
        """Files of the export's name are there already: the user is asked before they are replaced."""

        asked: Asked
        existing: list[Path]

    @dataclass
    class ExportRefused(Message):
        text: str

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.plan: ExportPlan | None = None  # for what the fields hold; None when they hold a problem
        self.plan_timer = None
        self.written: dict[Path, tuple[int, int]] = {}  # each file the last export wrote: its time and size then
        self.usage: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        project = self.app.project
        with Horizontal(classes="field-row"):
            yield Label("Into", classes="row-title", markup=False)
            placeholder = "a folder, or your UI's installation folder"
            yield PathInput(shown_path(project.exports_dir), id="target", placeholder=placeholder, compact=True)
        with Horizontal(id="formats"):  # first in sight: focus arrives here
            for layout, use in FORMATS.items():
                ticked = layout in project.settings.export.formats
                yield TickBox(layout, ticked, id=f"format-{layout}", tooltip=use, compact=True)
        yield Static("", id="target-words", markup=False)
        yield Static("", id="target-files", markup=False)
        yield Vertical(id="usage")

    def on_mount(self) -> None:
        self.ask_plan()

    def on_worker_state_changed(self, event) -> None:
        self.app.report_failure(event)
        if event.worker.group == "export" and event.state == WorkerState.ERROR:
            self.exporting = False  # e exports again once the failure is said

    def settings_reloaded(self, project) -> None:
        self.query_one("#target", Input).value = shown_path(project.exports_dir)
        for layout in FORMATS:
            self.query_one(f"#format-{layout}", Checkbox).value = layout in project.settings.export.formats

    # The plan: which checkpoint, where it lands -----------------------------------------------------

    def asked(self) -> Asked:
        formats = tuple(layout for layout in FORMATS if self.query_one(f"#format-{layout}", Checkbox).value)
        return Asked(self.query_one("#target", Input).value.strip(), formats)

    @on(Input.Changed, "#target")
    def target_typed(self) -> None:
        if self.plan_timer is not None:
            self.plan_timer.stop()
        self.plan_timer = self.set_timer(PLAN_AFTER_SECONDS, self.ask_plan)

    @on(Input.Submitted, "#target")
    def ask_plan(self) -> None:
        if self.plan_timer is not None:
            self.plan_timer.stop()
        self.work_out_plan(self.app.project, self.asked())

    @work(thread=True, exit_on_error=False, exclusive=True, group="plan")
    def work_out_plan(self, project, asked: Asked) -> None:
        from ti_tui.usecases.checkpoints import chosen_checkpoint
        from ti_tui.usecases.export import plan_export

        try:
            run, checkpoint = chosen_checkpoint(project)
        except UserError as error:
            if error.fix is not None and error.fix.action == "train":
                problem = "No runs yet, so nothing to export or try. Train first (5 opens Train); then export and try it here."
            else:
                problem = f"No checkpoint to use: {sentence(str(error))} Train (5) makes them; Compare (6) chooses one."
            self.post_message(self.Planned(asked, None, None, None, problem))
            return
        if not asked.target:
            self.post_message(self.Planned(asked, run, checkpoint, None, "Name the folder to export into."))
            return
        try:
            plan = plan_export(project, formats=list(asked.formats), to=asked.target)
        except UserError as error:
            self.post_message(self.Planned(asked, run, checkpoint, None, sentence(str(error))))
            return
        except OSError as error:
            problem = f"{error.filename or asked.target} cannot be looked at: {error.strerror}."
            self.post_message(self.Planned(asked, run, checkpoint, None, problem))
            return
        self.post_message(self.Planned(asked, run, checkpoint, plan, ""))

    @on(Planned)
    def planned(self, message: Planned) -> None:
        if message.asked != self.asked():
            return  # a plan for what was typed before; the one for what is there now is coming
        self.plan = message.plan
        words = self.query_one("#target-words", Static)
        files = self.query_one("#target-files", Static)
        plan = message.plan
        words.set_class(message.checkpoint is not None and plan is None, "-problem")
        if message.checkpoint is None:
            words.update("")
            files.update("")
            self.show_usage([])
        elif plan is None:
            words.update(message.problem)
            files.update("")
            self.show_usage([])
        else:
            words.update(sentence(f"{plan.target.description[0].upper()}{plan.target.description[1:]}"))
            files.update("\n".join(self.file_line(plan, path) for path in plan.paths))
            self.show_usage([("usage-warning", f"! {warning}") for warning in plan.warnings] + _usage_lines(plan))
        self.post_message(self.CheckpointFound(message.run, message.checkpoint, message.problem if message.checkpoint is None else ""))

    def show_usage(self, lines: list[tuple[str, str]]) -> None:
        """What to type in each UI, and what to know first: (CSS class, text) a line."""
        if lines == self.usage:
            return
        self.usage = lines
        usage = self.query_one("#usage", Vertical)
        usage.remove_children()
        usage.mount_all(Static(text, classes=kind, markup=False) for kind, text in lines)

    def file_line(self, plan: ExportPlan, path: Path) -> str:
        """What becomes of one file, named from the folder typed (shown above it) when it is inside it."""
        try:
            shown = f"{path.relative_to(plan.target.folder)} in it"
        except ValueError:
            shown = os.fspath(path)
        if path in plan.existing and self.written.get(path) == _time_and_size(path):  # not replaced since, by hand
            return f"Wrote {shown}."
        if path in plan.existing:
            return f"Replaces {shown} (e asks first)."
        return f"Writes {shown}."

    # Export -----------------------------------------------------------------------------------------

    @on(Checkbox.Changed)
    def format_ticked(self, event: Checkbox.Changed) -> None:
        asked = self.asked()
        if not asked.formats:
            self.notify("One format at least: safetensors is the one every UI reads.", severity="warning")
            event.checkbox.value = True  # comes back here, with a format
            return
        if list(asked.formats) != list(self.app.project.settings.export.formats):
            self.app.save_settings({"export.formats": list(asked.formats)})
        self.ask_plan()

    def start_export(self) -> None:
        if self.exporting:
            return
        self.exporting = True
        self.query_one("#target-files", Static).update("Exporting...")
        self.export(self.app.project, self.asked(), force=False)

    @work(thread=True, exit_on_error=False, exclusive=True, group="export")
    def export(self, project, asked: Asked, force: bool) -> None:
        from ti_tui.usecases.export import ExportExistsError, export_checkpoint

        try:
            if not asked.target:
                raise UserError("Name the folder to export into")
            result = export_checkpoint(project, formats=list(asked.formats), to=asked.target, force=force)
        except ExportExistsError as error:
            self.post_message(self.ExportFound(asked, error.existing))
            return
        except UserError as error:
            self.post_message(self.ExportRefused(str(error)))
            return
        except OSError as error:
            self.post_message(self.ExportRefused(f"{error.filename or asked.target}: {error.strerror or error}"))
            return
        self.post_message(self.Exported(result))

    @on(ExportFound)
    def export_found(self, message: ExportFound) -> None:
        from ti_tui.tui.screens.dialogs import Confirm

        plan = self.plan
        which = f"step {plan.checkpoint.step} of run {plan.run.id}" if plan is not None else "the chosen checkpoint"
        there = "\n".join(shown_path(path) for path in message.existing)
        verb = "is" if len(message.existing) == 1 else "are"

        def answered(yes: bool | None) -> None:
            if yes:
                self.export(self.app.project, message.asked, force=True)
            else:
                self.exporting = False
                self.ask_plan()
                self.notify("Nothing was written.")

        self.ask_plan()  # nothing is written while the question is up: the plan, not "Exporting...", stays in view
        self.app.push_screen(Confirm(f"{there}\n{verb} there already. Replace with {which}?"), answered)

    @on(ExportRefused)
    def export_refused(self, message: ExportRefused) -> None:
        self.exporting = False
        self.ask_plan()
        self.notify(sentence(message.text), severity="error", markup=False, timeout=12)

    @on(Exported)
    def exported(self, message: Exported) -> None:
        self.exporting = False
        result = message.result
        self.written = {path: _time_and_size(path) for path in result.paths}
        lines = [f"Wrote {path}" for path in result.paths]
        if result.target.kind != "folder":
            lines += [f"In {tool}, type {text}" for tool, text in _usage(result.name, result.target)]
        if self.remember_folder(result.target.embeddings_dir):
            lines.append("The folder is kept as [export] folder, for next time.")
        self.notify("\n".join(lines), markup=False, timeout=12)
        self.app.refresh_state()  # and the plan is worked out again with it

    def remember_folder(self, folder: Path) -> bool:
        """Keep the folder the export went to as `[export] folder`, for next time and `ti-tui export`; whether it was kept."""
        project = self.app.project
        if folder == project.exports_dir:
            return False
        try:
            text = os.fspath(folder.relative_to(project.root))
        except ValueError:
            text = os.fspath(folder)
        return self.app.save_settings({"export.folder": text}) == []


def _usage(name: str, target) -> list[tuple[str, str]]:
    from ti_tui.usecases.export import prompt_usage

    return prompt_usage(name, target)


def _usage_lines(plan: ExportPlan) -> list[tuple[str, str]]:
    usage = _usage(plan.name, plan.target)
    if plan.target.kind != "folder":
        return [("usage-title", f"In {tool}, type {text}") for tool, text in usage]
    return [("usage-title", "What to type:"), *(("usage-row", f"{tool}: {text}") for tool, text in usage)]


def _time_and_size(path: Path) -> tuple[int, int] | None:
    try:
        facts = path.stat()
    except OSError:
        return None
    return facts.st_mtime_ns, facts.st_size
