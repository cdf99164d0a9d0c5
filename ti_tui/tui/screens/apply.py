"""The Apply step: the chosen checkpoint exported where a UI reads embeddings (the export panel), and the word
tried on another model of the same base (the try-it panel). The screen names the checkpoint both use and
holds the step's keys, which act wherever focus is; each panel keeps its own fields and work.
"""

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

from ti_tui.tui.screens.step import StepScreen
from ti_tui.tui.widgets.apply.export import ExportPanel
from ti_tui.tui.widgets.apply.try_it import TryPanel

GUIDANCE = (
    "Export writes the chosen checkpoint as a file named after the word, into your UI's installation folder or any "
    "other. Try the word on another model of the same base before you share it."
)


class ApplyScreen(StepScreen):
    STEP = "apply"
    GUIDANCE = GUIDANCE
    CSS_PATH = "apply.tcss"
    AUTO_FOCUS = "#formats Checkbox"  # not a text field: keys pressed on arrival are the screen's, not typing
    BINDINGS = [
        Binding(
            "e",
            "export",
            "Export",
            tooltip="Write the checkpoint into the target folder (asks before replacing a file)",
            id="apply.export",
        ),
        Binding("t", "try_it", "Try it", tooltip="Render the prompt with the checkpoint on the model given", id="apply.try"),
        Binding("x", "stop_rendering", "Stop rendering", id="apply.stop-rendering"),
    ]

    has_checkpoint: reactive[bool | None] = reactive(None, bindings=True)  # None: not known yet

    def compose_body(self) -> ComposeResult:
        yield Static("Looking for the checkpoint...", id="checkpoint", markup=False)
        with Horizontal(id="sides"):
            yield ExportPanel(id="export-side")
            yield TryPanel(id="try-side")

    def show_state(self, state) -> None:
        super().show_state(state)
        if self.is_mounted:
            self.query_one(ExportPanel).ask_plan()  # a run may have ended, or Compare chosen another checkpoint

    def settings_reloaded(self, project) -> None:
        export = self.query_one(ExportPanel)
        export.settings_reloaded(project)
        self.query_one(TryPanel).settings_reloaded(project)
        export.ask_plan()

    def on_export_panel_checkpoint_found(self, message: ExportPanel.CheckpointFound) -> None:
        line = self.query_one("#checkpoint", Static)
        self.has_checkpoint = message.checkpoint is not None
        line.set_class(not self.has_checkpoint, "-missing")
        line.update(_checkpoint_words(self.app.project, message.run, message.checkpoint) if self.has_checkpoint else message.problem)
        self.query_one(TryPanel).use_checkpoint(message.checkpoint)

    # Keys -------------------------------------------------------------------------------------------

    def action_export(self) -> None:
        self.query_one(ExportPanel).start_export()

    def action_try_it(self) -> None:
        self.query_one(TryPanel).try_it()

    def action_stop_rendering(self) -> None:
        self.query_one(TryPanel).stop()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "stop_rendering":
            return self.query_one(TryPanel).rendering is not None
        if action == "export":
            return None if not self.has_checkpoint or self.query_one(ExportPanel).exporting else True
        if action == "try_it":
            return None if not self.has_checkpoint or self.query_one(TryPanel).rendering is not None else True
        return super().check_action(action, parameters)


def _checkpoint_words(project, run, checkpoint) -> str:
    chosen = project.settings.export
    if chosen.step and chosen.step == checkpoint.step and chosen.run in ("", run.id):
        return f"Step {checkpoint.step} of run {run.id}, chosen in Compare."
    return f"Step {checkpoint.step} of run {run.id}, the last; Compare (6) chooses another."
