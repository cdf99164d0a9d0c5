"""Curves over a run's steps (losses, learning rate, vector lengths), drawn with braille dots.

The points come already thinned to a few hundred a curve (RunHistory.Series.points), so a redraw
costs the same at step 50 and at step 50,000.
"""

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static
from textual_plot import HiResMode, PlotWidget


@dataclass(frozen=True)
class Curve:
    label: str
    steps: list[float]
    values: list[float]
    colour: str  # a theme variable's name: "primary", "accent", "warning", ...
    dotted: bool = False  # drawn as dots, not joined: a few points far apart, such as validations


class CurvePlot(PlotWidget, can_focus=False):
    """The key of the curves goes above the plot, between the axis' name and the data, on as many lines as it
    needs: textual-plot's own legend is drawn inside the data, and over the axes' numbers where the plot is small."""

    DEFAULT_CSS = """
    CurvePlot {
        height: 1fr;
        min-height: 6;
    }
    CurvePlot > #curve-key {
        layer: legend;
        position: absolute;
        height: auto;
    }
    """

    def __init__(self, ylabel: str, **kwargs):
        super().__init__(**kwargs)
        self.ylabel = ylabel
        self.curves: list[Curve] = []

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield Static(id="curve-key")

    def show(self, curves: list[Curve], steps: tuple[float, float], floor: float | None = None) -> None:
        """Draw `curves` over the steps `steps` (first, last); `floor` fixes the bottom of the y axis."""
        self.curves = [curve for curve in curves if curve.steps]
        self.clear()
        for curve in self.curves:
            style = self.colour_of(curve)
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
        self.show_legend(is_visible=False)
        self.draw_key()

    def colour_of(self, curve: Curve) -> str:
        colours = self.app.theme_variables  # as the stylesheet last worked them out; get_css_variables builds them anew
        return colours.get(curve.colour, colours.get("foreground", "white"))

    def on_resize(self) -> None:
        self.draw_key()

    def draw_key(self) -> None:
        """One entry a curve (its mark in its colour, its name), never split, as many to a line as fit."""
        key = self.query_one("#curve-key", Static)
        width = max(1, self.size.width - self.margin_left)
        entries = [
            Content.styled(" • " if curve.dotted or len(curve.steps) < 2 else "───", self.colour_of(curve)) + Content(f" {curve.label}")
            for curve in self.curves
        ]
        lines: list[Content] = []
        for entry in entries if len(entries) > 1 else []:  # one curve is named by the axis
            if lines and lines[-1].cell_length + 2 + entry.cell_length <= width:
                lines[-1] = lines[-1] + Content("  ") + entry
            else:
                lines.append(entry)
        key.update(Content("\n").join(lines))
        key.display = bool(lines)
        key.styles.offset = (self.margin_left, 1)  # under the axis' name, above the data
        key.styles.width = width
        self.margin_top = 1 + max(1, len(lines))
