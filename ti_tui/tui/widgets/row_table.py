"""A table of rows that keys act on, such as the images or the runs."""

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable


class RowTable(DataTable):
    """Home and End go to the first and the last row, as in a list of files. DataTable's own Home and End
    scroll sideways and leave the cursor, and with it what the keys act on, on a row out of sight."""

    BINDINGS = [
        Binding("home", "scroll_top", "First row", show=False, id="table.first-row"),
        Binding("end", "scroll_bottom", "Last row", show=False, id="table.last-row"),
    ]

    def __init__(self, **keywords):
        super().__init__(cursor_type="row", zebra_stripes=True, **keywords)

    def add_row(self, *cells, **keywords):
        # DataTable measures new rows later, when it is idle; a second filling that came first once left the
        # Images names cut to the header's width ("01-hi"). Measured here, no column is narrower than its cells.
        key = super().add_row(*cells, **keywords)
        for column, cell in zip(self.ordered_columns, cells, strict=False):
            column.content_width = max(column.content_width, cell_len(cell.plain if isinstance(cell, Text) else str(cell)))
        return key
