"""The previews at one step: the trigger beside the init words in its place, at the same seed."""

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from ti_tui.runs import RunDirectory
from ti_tui.tui.widgets.picture import Picture
from ti_tui.tui.widgets.train_panels.panel import RunPanel
from ti_tui.tui.widgets.train_panels.run_view import RunView


class PreviewsPanel(RunPanel):
    def __init__(self):
        super().__init__("Previews", "previews")
        self.newer = 0  # how many steps with previews are newer than the one shown: 0 shows the newest
        self.pictures: tuple[Path | None, ...] = ()  # the files shown: the trigger's, the init words'

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("No previews yet.", id="preview-caption", markup=False)
            with Horizontal(id="preview-pictures"):
                yield Picture(id="preview-trigger")
                yield Picture(id="preview-init")

    def follow(self, run: RunDirectory) -> None:
        super().follow(run)
        self.newer, self.pictures = 0, ()

    def turn(self, offset: int) -> None:
        """Show the previews `offset` steps with previews earlier (positive) or later (negative)."""
        self.newer = max(0, self.newer + offset)
        if self.view is not None:
            self.draw(self.view)

    def draw(self, view: RunView) -> None:
        steps = sorted({preview.step for preview in view.previews}, reverse=True)
        caption = self.query_one("#preview-caption", Static)
        if not steps:
            caption.update("No previews yet: they come every preview.every steps, or now with v while the run goes.")
            return
        self.newer = min(self.newer, len(steps) - 1)
        step = steps[self.newer]
        at_step = [preview for preview in view.previews if preview.step == step]
        trigger = next((preview for preview in at_step if not preview.init), None)
        init = next((preview for preview in at_step if preview.init and trigger and preview.seed == trigger.seed), None)
        newer = "newest" if self.newer == 0 else f"{self.newer} newer step(s) with previews: ."
        caption.update(
            f"Step {step} ({newer}; earlier: ,), seed {trigger.seed if trigger else '-'}: "
            f"{trigger.prompt if trigger else ''}\nLeft: the trigger. Right: the init words in its place."
        )
        shown = (trigger.path if trigger else None, init.path if init else None)
        if shown != self.pictures:
            self.pictures = shown
            self.query_one("#preview-trigger", Picture).show(shown[0])
            self.query_one("#preview-init", Picture).show(shown[1])
