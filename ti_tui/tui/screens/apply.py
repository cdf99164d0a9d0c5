"""The Apply step: the chosen checkpoint exported where a UI reads embeddings (the folder recognised, and
what it was taken for said, before anything is written), the word tried on another model of the same
base, and the exact text to type for it in each UI.

Planning an export reads a few file headers and folders, so it runs in a worker as the user types;
rendering needs torch, so it runs `ti-tui generate` in a helper process (`Services.generate`).
"""

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Checkbox, Input, Label, Static

from ti_tui.errors import UserError
from ti_tui.sd.tiny import NOISE_NOTICE
from ti_tui.tui.screens.step import StepScreen
from ti_tui.tui.widgets.path_input import PathInput
from ti_tui.tui.widgets.picture import Picture
from ti_tui.tui.widgets.tick_box import TickBox

GUIDANCE = (
    "Export writes the chosen checkpoint as a file named after the word, into your UI's installation folder or any "
    "other. Try the word on another model of the same base before you share it."
)
FORMATS = {  # the export's layouts, and who reads each
    "safetensors": ".safetensors, which every UI reads",
    "pt": ".pt, the classic layout older web UI versions read",
    "diffusers": ".bin, the layout of diffusers scripts",
}
PLAN_AFTER_SECONDS = 0.3  # of no typing
TRY_MODEL = "apply-model:"  # + the project's folder: the model last tried, remembered between sessions


@dataclass(frozen=True)
class Asked:
    """What the fields held when a plan was asked for."""

    target: str
    formats: tuple[str, ...]


class ApplyScreen(StepScreen):
    STEP = "apply"
    GUIDANCE = GUIDANCE
    CSS_PATH = "apply.tcss"
    AUTO_FOCUS = "#formats Checkbox"  # not a text field: keys pressed on arrival are the screen's, not typing
    BINDINGS = [
        Binding("e", "export", "Export", tooltip="Write the checkpoint into the target folder (asks before replacing a file)"),
        Binding("t", "try_it", "Try it", tooltip="Render the prompt with the checkpoint on the model given"),
        Binding("x", "stop_rendering", "Stop rendering"),
    ]

    class Planned(Message):
        """The checkpoint (None: there is none, and `problem` says why) and the plan (None: `problem` says why)."""

        def __init__(self, asked: Asked, run, checkpoint, plan, problem: str):
            super().__init__()
            self.asked, self.run, self.checkpoint, self.plan, self.problem = asked, run, checkpoint, plan, problem

    class Exported(Message):
        def __init__(self, result):
            super().__init__()
            self.result = result

    class ExportFound(Message):
        """Files of the export's name are there already: the user is asked before they are replaced."""

        def __init__(self, asked: Asked, existing: list[Path]):
            super().__init__()
            self.asked, self.existing = asked, existing

    class ExportRefused(Message):
        def __init__(self, text: str):
            super().__init__()
            self.text = text

    class Rendered(Message):
        def __init__(self, paths: list[Path], problem: str = ""):
            super().__init__()
            self.paths, self.problem = paths, problem

    def __init__(self):
        super().__init__()
        self.plan = None  # the export's, for what the fields hold; None when they hold a problem
        self.checkpoint = None  # the one exported and tried
        self.has_checkpoint: bool | None = None  # None: not known yet
        self.plan_timer = None
        self.exporting = False
        self.written: set[Path] = set()
        self.rendering: threading.Event | None = None  # set to stop the render going on
        self.render_started = 0.0
        self.render_words = ""
        self.rendered_words = ""
        self.tried = False  # whether a render was asked for: its outcome stays on screen
        self.noise = False  # whether the render is on builtin:tiny, whose weights are random
        self.usage: list[tuple[str, str]] = []
        self.render_timer = None

    # Drawing ----------------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        project = self.app.project
        yield Static("Looking for the checkpoint...", id="checkpoint", markup=False)
        with Horizontal(id="sides"):
            with VerticalScroll(id="export-side", can_focus=False):
                with Horizontal(classes="field-row"):
                    yield Label("Into", classes="row-title", markup=False)
                    placeholder = "a folder, or your UI's installation folder"
                    yield PathInput(_shown_path(project.exports_dir), id="target", placeholder=placeholder, compact=True)
                with Horizontal(id="formats"):  # first in sight: focus arrives here
                    for layout, use in FORMATS.items():
                        ticked = layout in project.settings.export.formats
                        yield TickBox(layout, ticked, id=f"format-{layout}", tooltip=use, compact=True)
                yield Static("", id="target-words", markup=False)
                yield Static("", id="target-files", markup=False)
                yield Vertical(id="usage")
            with Vertical(id="try-side"):
                with Horizontal(classes="field-row"):
                    yield Label("Model", classes="row-title", markup=False)
                    remembered = self.app.services.memory.value(TRY_MODEL + os.fspath(project.root)) or ""
                    placeholder = f"the project's, {project.settings.model.base}"
                    yield PathInput(remembered, id="model", placeholder=placeholder, compact=True)
                with Horizontal(classes="field-row"):
                    yield Label("Prompt", classes="row-title", markup=False)
                    yield Input(project.settings.xy.prompt, id="prompt", select_on_focus=False, compact=True)
                yield Static("", id="render-state", markup=False)
                yield Picture(id="picture")
                yield Static("", id="image-path", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.show_render_hint()
        self.ask_plan()

    def on_unmount(self) -> None:
        if self.rendering is not None:
            self.rendering.set()  # the helper process ends with the screen

    def show_state(self, state) -> None:
        super().show_state(state)
        if self.is_mounted:
            self.ask_plan()  # a run may have ended, or Compare chosen another checkpoint

    def settings_reloaded(self, project) -> None:
        self.query_one("#target", Input).value = _shown_path(project.exports_dir)
        for layout in FORMATS:
            self.query_one(f"#format-{layout}", Checkbox).value = layout in project.settings.export.formats
        self.query_one("#prompt", Input).value = project.settings.xy.prompt
        self.ask_plan()

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
                problem = f"No checkpoint to use: {_sentence(str(error))} Train (5) makes them; Compare (6) chooses one."
            self.post_message(self.Planned(asked, None, None, None, problem))
            return
        if not asked.target:
            self.post_message(self.Planned(asked, run, checkpoint, None, "Name the folder to export into."))
            return
        try:
            plan = plan_export(project, formats=list(asked.formats), to=asked.target)
        except UserError as error:
            self.post_message(self.Planned(asked, run, checkpoint, None, _sentence(str(error))))
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
        self.checkpoint = message.checkpoint
        self.has_checkpoint = message.checkpoint is not None
        checkpoint = self.query_one("#checkpoint", Static)
        checkpoint.set_class(not self.has_checkpoint, "-missing")
        words = self.query_one("#target-words", Static)
        files = self.query_one("#target-files", Static)
        if not self.has_checkpoint:
            checkpoint.update(message.problem)
            words.update("")
            files.update("")
            self.show_usage([])
            self.show_render_hint()
            self.refresh_bindings()
            return
        checkpoint.update(_checkpoint_words(self.app.project, message.run, message.checkpoint))
        plan = message.plan
        words.set_class(plan is None, "-problem")
        if plan is None:
            words.update(message.problem)
            files.update("")
            self.show_usage([])
        else:
            words.update(_sentence(f"{plan.target.description[0].upper()}{plan.target.description[1:]}"))
            files.update("\n".join(self.file_line(plan, path) for path in plan.paths))
            self.show_usage([("usage-warning", f"! {warning}") for warning in plan.warnings] + _usage_lines(plan))
        if not self.tried:
            self.show_render_hint()
        self.refresh_bindings()

    def show_usage(self, lines: list[tuple[str, str]]) -> None:
        """What to type in each UI, and what to know first: (CSS class, text) a line."""
        if lines == self.usage:
            return
        self.usage = lines
        usage = self.query_one("#usage", Vertical)
        usage.remove_children()
        usage.mount_all(Static(text, classes=kind, markup=False) for kind, text in lines)

    def file_line(self, plan, path: Path) -> str:
        """What becomes of one file, named from the folder typed (shown above it) when it is inside it."""
        try:
            shown = f"{path.relative_to(plan.target.folder)} in it"
        except ValueError:
            shown = os.fspath(path)
        if path in self.written and path in plan.existing:
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

    def action_export(self) -> None:
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
        there = "\n".join(str(path) for path in message.existing)
        verb = "is" if len(message.existing) == 1 else "are"

        def answered(yes: bool | None) -> None:
            if yes:
                self.export(self.app.project, message.asked, force=True)
            else:
                self.exporting = False
                self.ask_plan()
                self.notify("Nothing was written.")

        self.app.push_screen(Confirm(f"{there}\n{verb} there already. Replace with {which}?"), answered)

    @on(ExportRefused)
    def export_refused(self, message: ExportRefused) -> None:
        self.exporting = False
        self.ask_plan()
        self.notify(_sentence(message.text), severity="error", markup=False, timeout=12)

    @on(Exported)
    def exported(self, message: Exported) -> None:
        self.exporting = False
        result = message.result
        self.written = set(result.paths)
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

    # Trying the word --------------------------------------------------------------------------------

    def show_render_hint(self) -> None:
        state = self.query_one("#render-state", Static)
        state.set_class(False, "-problem")
        if self.has_checkpoint is False:
            state.update("Nothing to try yet: no checkpoint.")
        else:
            xy = self.app.project.settings.xy
            state.update(f"t renders the prompt with [xy]'s seed {xy.seed}, {xy.sampling_steps} steps, CFG {xy.cfg_scale:g}.")

    @on(Input.Submitted, "#model, #prompt")
    def action_try_it(self) -> None:
        if not self.has_checkpoint:
            self.notify("There is no checkpoint to try yet.", severity="warning")
            return
        if self.rendering is not None:
            self.notify("Still rendering the last one; x stops it.")
            return
        prompt = self.query_one("#prompt", Input).value.strip()
        if not prompt:
            self.notify("Type a prompt first; [name] in it becomes the word.", severity="warning", markup=False)
            return
        project = self.app.project
        model = self.query_one("#model", Input).value.strip()
        self.app.services.memory.remember_value(TRY_MODEL + os.fspath(project.root), model)
        self.rendering = threading.Event()
        self.tried = True
        self.render_started = time.monotonic()
        on_model = f"on {Path(model).name or model}" if model else f"on the project's model, {project.settings.model.base}"
        step = f"Step {self.checkpoint.step}" if self.checkpoint is not None else "The chosen checkpoint"
        self.rendered_words = f"{step} {on_model}, seed {project.settings.xy.seed}"
        self.noise = (model or project.settings.model.base) == "builtin:tiny"
        unused = (
            "" if "[name]" in prompt or project.settings.token.trigger in prompt else " The prompt has no [name], so the word is not in it."
        )
        self.render_words = f"Rendering {on_model}{unused}"
        self.query_one("#render-state", Static).set_class(False, "-problem")
        self.tick_render()
        self.render_timer = self.set_interval(1.0, self.tick_render)
        self.render_image(project.root, prompt, model, self.rendering)
        self.refresh_bindings()

    def tick_render(self) -> None:
        seconds = int(time.monotonic() - self.render_started)
        self.query_one("#render-state", Static).update(f"{self.render_words} ({seconds} s; x stops it)...")

    @work(thread=True, exit_on_error=False, group="render")
    def render_image(self, project_root: Path, prompt: str, model: str, cancel: threading.Event) -> None:
        try:
            paths = self.app.services.generate(project_root, prompt, model, cancel=cancel)
        except UserError as error:
            self.post_message(self.Rendered([], _sentence(str(error))))
            return
        except OSError as error:
            self.post_message(self.Rendered([], f"The renderer could not be started: {error.strerror or error}."))
            return
        if not cancel.is_set():
            self.post_message(self.Rendered(paths, "" if paths else "The renderer wrote no image."))

    @on(Rendered)
    def rendered(self, message: Rendered) -> None:
        self.end_render()
        state = self.query_one("#render-state", Static)
        state.set_class(bool(message.problem), "-problem")
        if message.problem:
            state.update(message.problem)
            return
        path = message.paths[0]
        state.update(f"{self.rendered_words}:")
        self.query_one("#picture", Picture).show(path)
        noise = f"\n{NOISE_NOTICE.split(' (')[0]}." if self.noise else ""
        self.query_one("#image-path", Static).update(f"{path}{noise}")

    def action_stop_rendering(self) -> None:
        if self.rendering is not None:
            self.rendering.set()
            self.end_render()
            self.query_one("#render-state", Static).update("Stopped; t renders again.")

    def end_render(self) -> None:
        self.rendering = None
        if self.render_timer is not None:
            self.render_timer.stop()
            self.render_timer = None
        self.refresh_bindings()

    # Keys -------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "stop_rendering":
            return self.rendering is not None
        if action == "export":
            return None if not self.has_checkpoint or self.exporting else True
        if action == "try_it":
            return None if not self.has_checkpoint or self.rendering is not None else True
        return super().check_action(action, parameters)


def _checkpoint_words(project, run, checkpoint) -> str:
    chosen = project.settings.export
    if chosen.step and chosen.step == checkpoint.step and chosen.run in ("", run.id):
        return f"Step {checkpoint.step} of run {run.id}, chosen in Compare."
    return f"Step {checkpoint.step} of run {run.id}, the last; Compare (6) chooses another."


def _usage(name: str, target) -> list[tuple[str, str]]:
    from ti_tui.usecases.export import prompt_usage

    return prompt_usage(name, target)


def _usage_lines(plan) -> list[tuple[str, str]]:
    usage = _usage(plan.name, plan.target)
    if plan.target.kind != "folder":
        return [("usage-title", f"In {tool}, type {text}") for tool, text in usage]
    return [("usage-title", "What to type:"), *(("usage-row", f"{tool}: {text}") for tool, text in usage)]


def _shown_path(path: Path) -> str:
    """A path as the user reads and types it: the home folder as ~."""
    home = Path.home()
    try:
        return "~/" + os.fspath(path.relative_to(home)) if path != home else "~"
    except ValueError:
        return os.fspath(path)


def _sentence(text: str) -> str:
    """The core's words as they are (they may start with a file's name), ended as a sentence."""
    text = text.strip()
    return text if not text or text.endswith((".", "?", "!")) else text + "."
