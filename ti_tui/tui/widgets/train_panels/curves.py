"""The panels of curves over the run's steps: the losses, the learning rate, the vectors' lengths."""

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ti_tui.runs import RunDirectory
from ti_tui.tui.widgets.curve_plot import Curve, CurvePlot
from ti_tui.tui.widgets.train_panels.panel import RunPanel
from ti_tui.tui.widgets.train_panels.run_view import RunView


class LossPanel(RunPanel):
    """The loss, raw and smoothed, and the fixed-noise validation loss; another run's validation loss laid over them."""

    def __init__(self):
        super().__init__("Loss", "loss")
        self.overlay: Curve | None = None
        self.overlaid_run: RunDirectory | None = None

    def compose(self) -> ComposeResult:
        yield CurvePlot("loss", id="loss-plot")

    def draw(self, view: RunView) -> None:
        overlay = [self.overlay] if self.overlay is not None else []
        self.query_one(CurvePlot).show(view.curves["loss"] + overlay, view.step_range)

    def lay_over(self, run: RunDirectory | None, curve: Curve | None) -> None:
        """`run`'s validation loss drawn over this run's curves; None takes it off."""
        self.overlaid_run, self.overlay = run, curve
        self.redraw()


class RatePanel(RunPanel):
    def __init__(self):
        super().__init__("Rate", "rate")

    def compose(self) -> ComposeResult:
        yield CurvePlot("learning rate", id="rate-plot")

    def draw(self, view: RunView) -> None:
        self.query_one(CurvePlot).show(view.curves["rate"], view.step_range, floor=0.0)


class VectorsPanel(RunPanel):
    """The longest vector's length against a typical token's, and the verdict in words: a rising length is over-training."""

    def __init__(self):
        super().__init__("Vectors", "vectors")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="vector-verdict", markup=False)
            yield CurvePlot("length", id="vector-plot")

    def draw(self, view: RunView) -> None:
        self.query_one("#vector-verdict", Static).update(view.vector_verdict)
        self.query_one(CurvePlot).show(view.curves["vectors"], view.step_range, floor=0.0)
