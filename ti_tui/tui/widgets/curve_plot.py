"""Curves over a run's steps (losses, learning rate, vector lengths), drawn with braille dots.

The points come already thinned to a few hundred a curve (RunHistory.Series.points), so a redraw
costs the same at step 50 and at step 50,000.
"""

from dataclasses import dataclass

from textual_plot import HiResMode, LegendLocation, PlotWidget


@dataclass(frozen=True)
class Curve:
    label: str
    steps: list[float]
    values: list[float]
    colour: str  # a theme variable's name: "primary", "accent", "warning", ...
    dotted: bool = False  # drawn as dots, not joined: a few points far apart, such as validations


class CurvePlot(PlotWidget, can_focus=False):
    DEFAULT_CSS = """
    CurvePlot {
        height: 1fr;
        min-height: 6;
    }
    """

    def __init__(self, ylabel: str, **kwargs):
        super().__init__(**kwargs)
        self.ylabel = ylabel
        self.curves: list[Curve] = []

    def show(self, curves: list[Curve], steps: tuple[float, float], floor: float | None = None) -> None:
        """Draw `curves` over the steps `steps` (first, last); `floor` fixes the bottom of the y axis."""
        self.curves = [curve for curve in curves if curve.steps]
        self.clear()
        colours = self.app.get_css_variables()
        for curve in self.curves:
            style = colours.get(curve.colour, colours.get("foreground", "white"))
            if curve.dotted or len(curve.steps) < 2:
                self.scatter(curve.steps, curve.values, marker="•", marker_style=style, label=curve.label)
            else:
                self.plot(curve.steps, curve.values, line_style=style, hires_mode=HiResMode.BRAILLE, label=curve.label)
        first, last = steps
        self.set_xlimits(first, max(last, first + 1))
        values = [value for curve in self.curves for value in curve.values]
        if values:
            low, high = min(values), max(values)
            margin = (high - low) * 0.1 or abs(high) * 0.1 or 1.0
            self.set_ylimits(low - margin if floor is None else floor, high + margin)
        self.set_xlabel("step")
        self.set_ylabel(self.ylabel)
        self.show_legend(LegendLocation.TOPRIGHT, is_visible=len(self.curves) > 1)
