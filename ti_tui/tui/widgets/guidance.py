"""A few sentences on what a step is for and what good looks like; folded away with a key, remembered."""

from textual.widgets import Static


class Guidance(Static):
    DEFAULT_CSS = """
    Guidance {
        color: $text-muted;
        padding: 0 1;
        border-left: outer $accent;
        margin: 0 0 1 0;
    }
    Guidance.-folded {
        border-left: none;
        margin: 0;
    }
    """

    def __init__(self, text: str, folded: bool, **kwargs):
        super().__init__("", markup=False, **kwargs)
        self.text = text
        self.fold(folded)

    def fold(self, folded: bool) -> None:
        self.folded = folded
        self.set_class(folded, "-folded")
        self.update("Guidance folded away (g shows it)." if folded else f"{self.text} (g folds this away)")
