"""A text field whose editing keys act in the order they were typed."""

from textual import events
from textual.widgets import Input


class TypingInput(Input):
    """Its bound keys (backspace, ctrl+u, the arrows, Enter where a screen binds it here) act at once, in the
    order typed. As bindings they would act only once the key had bubbled up to the app: behind the letters
    typed after them, which a busy machine has already put into the field, so ctrl+u then 100 left 00.
    The text is never selected on focus: a key typed then goes after it, never in its place."""

    def __init__(self, value: str | None = None, **options):
        super().__init__(value, select_on_focus=False, **options)

    async def on_key(self, event: events.Key) -> None:
        if event.is_printable:
            return
        bound = self.screen.active_bindings.get(event.key)
        if bound is not None and bound.node is self and bound.enabled:
            event.stop()
            event.prevent_default()
            await self.run_action(bound.binding.action)
