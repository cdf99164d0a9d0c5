"""Label/value rows; values are user text, so they are never read as markup."""

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label


class FactList(Vertical):
    DEFAULT_CSS = """
    FactList {
        height: auto;
    }
    FactList > Horizontal {
        height: auto;
    }
    FactList .fact-label {
        width: 14;
        color: $text-muted;
    }
    FactList .fact-value {
        width: 1fr;
    }
    """

    def __init__(self, facts: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(**kwargs)
        self._facts = facts or []

    def compose(self) -> ComposeResult:
        for label, value in self._facts:
            yield self._row(label, value)

    def show(self, facts: list[tuple[str, str]]) -> None:
        self._facts = facts
        self.remove_children()
        self.mount_all(self._row(label, value) for label, value in facts)

    @staticmethod
    def _row(label: str, value: str) -> Horizontal:
        return Horizontal(
            Label(label, classes="fact-label", markup=False),
            Label(value, classes="fact-value", markup=False),
        )
