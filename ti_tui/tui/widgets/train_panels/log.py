"""The run's log lines, the newest in sight; for a run that failed or was lost, the end of its trainer's output."""

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from ti_tui.tui.widgets.train_panels.panel import RunPanel
from ti_tui.tui.widgets.train_panels.run_view import RunView


class LogPanel(RunPanel):
    def __init__(self):
        super().__init__("Log", "log")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="log-scroll"):
            yield Static("", id="log-text", markup=False)

    def draw(self, view: RunView) -> None:
        text = "\n".join(view.lines)
        if view.log_tail:
            text += f"\n\nThe end of {view.run.log_file}:\n{view.log_tail}"
        self.query_one("#log-text", Static).update(text)
        self.call_after_refresh(self.query_one("#log-scroll", VerticalScroll).scroll_end, animate=False)
