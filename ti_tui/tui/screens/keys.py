"""The keys that act on the screen below, its own first: what `?` shows.

Textual's help panel lists the focused widget's keys and Textual's generic ones before the screen's,
in a third of an 80-column terminal; this dialog lists the screen's keys first, then the wizard's.
"""

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


class KeysScreen(ModalScreen[None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape,question_mark,f1,q", "dismiss", "Close", id="keys.close")]

    def __init__(self, target: Screen):
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="keys") as dialog:
            dialog.border_title = "Keys on this screen (Escape closes)"
            yield Static(Content("\n".join(self.key_lines())), id="key-lines")

    def key_lines(self) -> list[str]:
        """One line a key, its name and what it does: the screen's own keys, then the steps' and the
        wizard's, then Textual's (moving focus, copying, the palette)."""
        ranked: dict[str, tuple[int, str]] = {}  # by what the key does: one line for keys that do the same
        for active in self.target.active_bindings.values():
            binding = active.binding
            if not binding.description or binding.system:
                continue
            words = binding.group.description if binding.group else binding.description
            words += "" if active.enabled else " (not now)"
            keys = self.app.get_key_display(binding)
            if words in ranked:
                rank, shown = ranked[words]
                ranked[words] = (rank, shown if keys in shown.split("/") else f"{shown}{'' if binding.group else '/'}{keys}")
            else:
                ranked[words] = (_declared_at(active.node, binding.action), keys)
        lines = sorted(ranked.items(), key=lambda entry: entry[1][0])  # stable: each class's keys keep their order
        width = max((len(keys) for _, (_, keys) in lines), default=0)
        return [f"{keys:<{width}}  {words}" for words, (_, keys) in lines]


def _declared_at(node, action: str) -> int:
    """Where the binding for `action` was declared: 0 in the screen's own class, more in its bases,
    more again in the app's classes, and most in Textual's own classes."""
    for distance, owner in enumerate(type(node).__mro__):
        declared = owner.__dict__.get("BINDINGS", ())
        if any((entry.action if isinstance(entry, Binding) else entry[1]) == action for entry in declared):
            textual = owner.__module__.startswith("textual")
            return (2000 if textual else 0) + (0 if isinstance(node, Screen) else 1000) + distance
    return 3000
