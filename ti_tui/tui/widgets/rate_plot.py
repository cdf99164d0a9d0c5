"""The learning rate over a run's steps, drawn with braille dots so that it reads in any terminal."""

from textual.reactive import reactive
from textual_plot import HiResMode, PlotWidget

POINTS = 120  # more than a terminal is wide in dots at 80 columns: the curve looks whole


class RatePlot(PlotWidget, can_focus=False):
    """Keys stay with the steps and the fields: this plot only shows."""

    DEFAULT_CSS = """
    RatePlot {
        height: 12;  /* the margins below, the axes, and 6 rows of curve between them */
    }
    """

    margin_top = reactive(1)  # no title above the curve: a row for the top tick's label is enough

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.points: list[tuple[int, float]] = []

    def show(self, schedule, first_step: int = 0) -> None:
        """Plot `schedule` (a LearningRateSchedule) at POINTS steps spread over the run, numbered on from
        `first_step` when the run goes on from a checkpoint there."""
        total = schedule.total_steps
        steps = sorted({max(1, round(1 + index * (total - 1) / (POINTS - 1))) for index in range(POINTS)})
        self.points = [(first_step + step, schedule.rate_at(step)) for step in steps]
        self.clear()
        self.plot([step for step, _ in self.points], [rate for _, rate in self.points], hires_mode=HiResMode.BRAILLE)
        self.set_xlimits(first_step + 1, first_step + max(2, total))
        self.set_ylimits(0, max(rate for _, rate in self.points) * 1.1 or 1.0)
        self.set_xlabel("step")
        self.set_ylabel("rate")
