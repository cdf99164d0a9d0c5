"""The plan of a run with the project's settings, and what stops one now."""

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static, TabPane

from ti_tui.usecases.journey import FIXED_AT, STEP_TITLES


class PlanPanel(TabPane):
    """The plan as the Train step works it out, under it what stops a run now, or the key that starts one."""

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
        problems = [finding for finding in state.problems if finding.severity == "error"]
        lines = [self.plan_text]
        if problems:
            lines.append("\nWhat stops a run now:")
            lines += [f"! {finding.what} ({_where_to_fix(finding)})" for finding in problems]
        elif getattr(self.screen, "running", False):
            lines.append(
                "\nA run is at work: the other panels follow it. This plan is the next run's; t starts it once that one has ended."
            )
        else:
            lines.append("\nPress t to start training.")
        self.query_one("#plan-text", Static).update("\n".join(lines))


def _where_to_fix(finding) -> str:
    step = FIXED_AT.get(finding.check)
    return f"the {STEP_TITLES[step]} step mends it" if step else "doctor explains it"
