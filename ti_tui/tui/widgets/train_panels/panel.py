"""What the Train step's panels that show the run have in common: the latest look at it, drawn while in sight."""

from textual.widgets import DataTable, TabPane

from ti_tui.runs import RunDirectory
from ti_tui.tui.widgets.train_panels.run_view import RunView


class RunPanel(TabPane):
    """A panel that draws the latest look at the run shown: at once while in sight, else when it comes into sight.

    The TabbedContent hides the panels out of sight, so a look costs the drawing of one panel.
    """

    def __init__(self, title: str, pane_id: str):
        super().__init__(title, id=pane_id)
        self.view: RunView | None = None
        self.drawn_from: int | None = None  # the events_read of the look drawn

    def follow(self, run: RunDirectory) -> None:
        """Another run is shown: nothing of it is read yet, and the last drawing stays until its first look."""
        self.view, self.drawn_from = None, None

    def look(self, view: RunView) -> None:
        """A newer look at the run shown."""
        self.view = view
        if self.display:
            self.draw_latest()

    def come_into_sight(self) -> None:
        self.draw_latest()

    def redraw(self) -> None:
        """What the panel draws changed beside the run: drawn again now, or when it comes into sight."""
        self.drawn_from = None
        if self.display:
            self.draw_latest()

    def draw_latest(self) -> None:
        if self.view is not None and self.view.events_read != self.drawn_from:
            self.drawn_from = self.view.events_read
            self.draw(self.view)

    def draw(self, view: RunView) -> None:
        raise NotImplementedError


class TablePanel(RunPanel):
    """A panel that is a table to choose a row from: shown, it takes the arrows at once (no Tab first); filled
    again, its cursor stays on the row chosen, though newer rows come in above it."""

    def come_into_sight(self) -> None:
        super().come_into_sight()
        self.query_one(DataTable).focus()

    def fill(self, rows: list[tuple[str, tuple[str, ...]]]) -> None:
        """The table's rows in place of the ones it shows, as (key, cells)."""
        table = self.query_one(DataTable)
        chosen = table.ordered_rows[table.cursor_row].key.value if table.row_count else None
        row_at = table.cursor_row
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        keys = [key for key, _ in rows]
        if keys:
            table.move_cursor(row=keys.index(chosen) if chosen in keys else min(row_at, len(keys) - 1))
