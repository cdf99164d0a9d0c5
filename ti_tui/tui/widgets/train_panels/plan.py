"""The plan of a run with the project's settings, and what stops one now."""

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static, TabPane

from ti_tui.usecases.journey import FIXED_AT, STEP_TITLES


class PlanPanel(TabPane):
    """What stops a run now, or the key that starts one, and under it the plan as the Train step works it out."""

    def __init__(self):
        super().__init__("Plan", id="plan")
        self.plan_text = "Working out the plan..."

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.plan_text, id="plan-text", markup=False)

    def on_mount(self) -> None:
        self.app.state_changed.subscribe(self, self.draw)
        self.draw(self.app.state)

    def show_plan(self, text: str) -> None:
        self.plan_text = text
        self.draw(self.app.state)

    def draw(self, state) -> None:
        """What stops a run, or the key that starts one, first: at 80x24 the plan below it runs past the panel."""
        problems = [finding for finding in state.problems if finding.severity == "error"]
        if problems:
            lines = ["What stops a run now:", *(f"! {finding.what} ({_where_to_fix(finding)})" for finding in problems)]
        elif getattr(self.screen, "running", False):
            lines = ["A run is at work: the other panels follow it. This plan is the next run's; t starts it once that one has ended."]
        else:
            lines = ["Press t to start training."]
        self.query_one("#plan-text", Static).update("\n".join([*lines, "", self.plan_text]))


def _where_to_fix(finding) -> str:
    step = FIXED_AT.get(finding.check)
    return f"the {STEP_TITLES[step]} step mends it" if step else "doctor explains it"
