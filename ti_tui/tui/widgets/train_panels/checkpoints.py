"""The run's checkpoints, newest first, then those of the runs it goes on from, with the validation loss and the
longest vector at each; the one suggested, and why, above them, and those whose vectors say over-trained marked."""

from textual.app import ComposeResult
from textual.reactive import var
from textual.widgets import DataTable, Static

from ti_tui.runs import RunDirectory
from ti_tui.runs.history import CheckpointRow
from ti_tui.runs.suggestion import Suggestion
from ti_tui.tui.widgets.row_table import RowTable
from ti_tui.tui.widgets.train_panels.panel import TablePanel
from ti_tui.tui.widgets.train_panels.run_view import RunView


class CheckpointsPanel(TablePanel):
    rows: var[list[CheckpointRow]] = var(list, init=False, bindings=True)  # as drawn; "continue from here" needs one

    def __init__(self):
        super().__init__("Checkpoints", "checkpoints")

    def compose(self) -> ComposeResult:
        yield Static("", id="checkpoint-suggestion", markup=False)
        yield RowTable(id="checkpoint-table")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("step", "validation loss", "longest vector", "verdict", "file")

    def follow(self, run: RunDirectory) -> None:
        super().follow(run)
        self.rows = []  # the rows drawn are another run's until its first look

    def draw(self, view: RunView) -> None:
        suggestion = view.suggestion
        self.query_one("#checkpoint-suggestion", Static).update(f"Suggested: {suggestion.words}" if suggestion else "")
        self.fill([(str(checkpoint.step), _cells(checkpoint, suggestion)) for checkpoint in view.checkpoints])
        self.rows = view.checkpoints

    @property
    def chosen(self) -> CheckpointRow | None:
        """The checkpoint under the cursor."""
        return self.rows[self.query_one(DataTable).cursor_row] if self.rows else None


def _cells(checkpoint: CheckpointRow, suggestion: Suggestion | None) -> tuple[str, ...]:
    validation = f"{checkpoint.validation_loss:.4f}" if checkpoint.validation_loss is not None else ""
    longest = f"{checkpoint.longest_vector:.3f}" if checkpoint.longest_vector is not None else ""
    verdict = ""
    if suggestion is not None and suggestion.step == checkpoint.step:
        verdict = "suggested"
    elif suggestion is not None and suggestion.flags(checkpoint.step):
        verdict = "over-trained?"
    file = f"{checkpoint.path.name} (run {checkpoint.run})" if checkpoint.run else checkpoint.path.name
    return str(checkpoint.step), validation, longest, verdict, file
