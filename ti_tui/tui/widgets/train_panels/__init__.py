"""The Train step's panels, one widget each: each keeps what it shows and its selection, and draws the latest
look at the run while it is in sight. The screen routes the looks, the messages and the keys to them."""

from ti_tui.tui.widgets.train_panels.checkpoints import CheckpointsPanel
from ti_tui.tui.widgets.train_panels.curves import LossPanel, RatePanel, VectorsPanel
from ti_tui.tui.widgets.train_panels.log import LogPanel
from ti_tui.tui.widgets.train_panels.panel import RunPanel
from ti_tui.tui.widgets.train_panels.plan import PlanPanel
from ti_tui.tui.widgets.train_panels.previews import PreviewsPanel
from ti_tui.tui.widgets.train_panels.run_view import CURVE_POINTS, RunView, look_at
from ti_tui.tui.widgets.train_panels.runs import RunRow, RunsPanel, run_row

__all__ = [
    "CURVE_POINTS",
    "CheckpointsPanel",
    "LogPanel",
    "LossPanel",
    "PlanPanel",
    "PreviewsPanel",
    "RatePanel",
    "RunPanel",
    "RunRow",
    "RunView",
    "RunsPanel",
    "VectorsPanel",
    "look_at",
    "run_row",
]
