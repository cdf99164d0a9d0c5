"""A table of rows that keys act on, such as the images or the runs."""

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
