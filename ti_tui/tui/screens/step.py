"""What every step screen has: the steps bar, the guidance, the project's problems, the keys."""

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ti_tui.tui.commands import StepCommands
from ti_tui.tui.widgets.guidance import Guidance
from ti_tui.tui.widgets.step_bar import StepBar
from ti_tui.usecases.journey import FIXED_AT, STEPS, Step

STEP_KEYS = Binding.Group("Go to that step (1 Images ... 7 Apply)")


class StepScreen(Screen):
    STEP: Step = "images"
    GUIDANCE = ""
    COMMANDS = {StepCommands}
    BINDINGS = [
        *(
            Binding(str(number), f"open_step('{step}')", f"Go to step {number}", show=False, group=STEP_KEYS, id=f"step.{step}")
            for number, step in enumerate(STEPS, start=1)
        ),
        Binding("left_square_bracket", "neighbour(-1)", "Previous step", key_display="[", show=False, id="step.previous"),
        Binding("right_square_bracket", "neighbour(1)", "Next", key_display="]", tooltip="The next step", id="step.next"),
        Binding("g", "fold_guidance", "Guidance", show=False, id="step.guidance"),
        Binding("r", "app.reload", "Reload project.toml", show=False, id="step.reload"),
        Binding("escape", "leave_field", "Leave the field", show=False, id="step.leave-field"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield StepBar(self.STEP, id="steps")
        yield Guidance(self.GUIDANCE, self.app.services.memory.guidance_folded(self.STEP), id="guidance")
        yield Static("", id="problems", markup=False)
        with Vertical(id="body"):
            yield from self.compose_body()
        yield Footer(show_command_palette=False)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.app.state_changed.subscribe(self, self.show_state)
        self.app.settings_reloaded.subscribe(self, self.settings_reloaded)
        self.show_state(self.app.state)

    def show_state(self, state) -> None:
        self.query_one(StepBar).show(state.steps, self.app.steps_looked_at())
        problems = [finding for finding in state.problems if finding.severity == "error" and self.shows_problem(finding)]
        banner = self.query_one("#problems", Static)
        banner.update("\n".join(f"! {finding}" for finding in problems))
        banner.display = bool(problems)

    def shows_problem(self, finding) -> bool:
        """Whether this step is where the user fixes `finding`; the others leave it to that step."""
        return FIXED_AT.get(finding.check) == self.STEP

    def settings_reloaded(self, project) -> None:
        """project.toml was read again: show its values."""

    def flush_edits(self) -> None:
        """Save what is typed but not saved yet: the screen is about to go."""
        from ti_tui.tui.widgets.setting_field import SettingField

        for field in self.query(SettingField):
            field.flush()

    def on_step_bar_chosen(self, message: StepBar.Chosen) -> None:
        self.app.open_step(message.step)

    def on_worker_state_changed(self, event) -> None:
        self.app.report_failure(event)

    def action_open_step(self, step: Step) -> None:
        self.app.open_step(step)

    def action_neighbour(self, offset: int) -> None:
        index = STEPS.index(self.STEP) + offset
        if 0 <= index < len(STEPS):
            self.app.open_step(STEPS[index])

    def action_fold_guidance(self) -> None:
        guidance = self.query_one(Guidance)
        guidance.fold(not guidance.folded)
        self.app.services.memory.fold_guidance(self.STEP, guidance.folded)

    def action_leave_field(self) -> None:
        self.set_focus(None)
