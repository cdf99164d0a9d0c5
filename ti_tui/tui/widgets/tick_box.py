"""A check box whose mark is drawn only when it is ticked: Textual's draws an X either way, told apart by
colour alone, which a 16-colour terminal or a colour-blind user may not tell."""

from textual.widgets import Checkbox


class TickBox(Checkbox):
    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - the name Textual's Checkbox draws its mark from
        return "X" if self.value else " "
