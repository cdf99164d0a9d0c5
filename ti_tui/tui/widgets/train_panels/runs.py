"""The project's runs, newest first, the one shown marked: Enter shows another."""

import time
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.reactive import var
from textual.widgets import DataTable

from ti_tui.errors import UserError
from ti_tui.runs import RunDirectory, run_status
from ti_tui.runs.status import RunStatus
from ti_tui.tui.widgets.row_table import RowTable
from ti_tui.tui.widgets.train_panels.panel import TablePanel
from ti_tui.tui.widgets.train_panels.run_view import RunView


@dataclass(frozen=True)
class RunRow:
    run: RunDirectory
    state: str
    steps: str
    started: str
    parent: str


class RunsPanel(TablePanel):
    rows: var[list[RunRow]] = var(list, init=False, bindings=True)  # an overlay needs a second run

    @dataclass
    class Chosen(Message):
        """The user chose a run to show."""

        run: RunDirectory

    def __init__(self):
        super().__init__("Runs", "runs")
        self.run: RunDirectory | None = None  # the one shown; its state comes from the looks at it

    def compose(self) -> ComposeResult:
        yield RowTable(id="run-table")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("", "run", "state", "steps", "started", "from")

    def follow(self, run: RunDirectory) -> None:
        super().follow(run)
        self.run = run
        self.draw_rows()

    def watch_rows(self) -> None:
        self.draw_rows()

    def draw(self, view: RunView) -> None:
        self.draw_rows()

    def draw_rows(self) -> None:
        def state(row: RunRow) -> str:
            return _state_words(self.view.status) if row.run == self.run and self.view is not None else row.state

        self.fill(
            [
                (row.run.id, (">" if row.run == self.run else "", row.run.id, state(row), row.steps, row.started, row.parent))
                for row in self.rows
            ]
        )

    @on(DataTable.RowSelected)
    def row_chosen(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.Chosen(self.rows[event.cursor_row].run))

    def other_run(self) -> RunDirectory | None:
        """The run under the cursor, or when that is the one shown, the first other one."""
        row = self.rows[self.query_one(DataTable).cursor_row] if self.rows else None
        if row is None or row.run == self.run:
            row = next((other for other in self.rows if other.run != self.run), None)
        return row.run if row is not None else None


_ENDED_RUN_ROWS: dict[tuple, RunRow] = {}  # by (folder, size and time of its log): an ended run's row does not change


def run_row(run: RunDirectory, with_state: bool) -> RunRow:
    """`run`'s row, read from its folder; `with_state` false leaves its state to the looks at it."""
    try:
        log = run.events_file.stat()
        key = (run.path, log.st_size, log.st_mtime_ns)
    except OSError:
        key = None
    if with_state and key in _ENDED_RUN_ROWS:
        return _ENDED_RUN_ROWS[key]
    try:
        facts = run.facts()
        status = run_status(run) if with_state else None
    except UserError as error:
        return RunRow(run, "damaged", "", "", str(error))
    steps = f"{facts.first_step + 1}-{facts.last_step}" if facts.first_step else str(facts.steps)
    parent = f"{facts.parent.run} step {facts.parent.step}" if facts.parent else ""
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(facts.created))
    row = RunRow(run, _state_words(status) if status else "", steps, started, parent)
    if status is not None and not status.active and status.state != "lost" and key is not None:
        _ENDED_RUN_ROWS[key] = row
    return row


def _state_words(status: RunStatus) -> str:
    return f"{status.state}, step {status.step} of {status.total_steps}"
