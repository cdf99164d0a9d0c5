"""Compare and Apply: their screens come with the next versions; until then, what to do instead."""

from textual.app import ComposeResult
from textual.widgets import Static

from ti_tui.tui.screens.step import StepScreen
from ti_tui.usecases.journey import STEP_TITLES, Step

GUIDANCE = {
    "compare": "Compare renders the trigger at several checkpoints and CFG scales side by side, to pick the step "
    "that looks like your subject without copying the photos.",
    "apply": "Apply exports the chosen checkpoint where your UI reads embeddings, and tries it on other models built on the same base.",
}
INSTEAD = {
    "compare": "Until this screen is built, the previews the trainer writes into runs/<run>/previews/ show each checkpoint at fixed seeds.",
    "apply": "Until this screen is built, copy runs/<run>/checkpoints/<trigger>-<step>.safetensors into your UI's "
    "embeddings folder; every popular UI reads that file.",
}


class ComingScreen(StepScreen):
    def __init__(self, step: Step):
        self.STEP = step
        self.GUIDANCE = GUIDANCE[step]
        super().__init__()

    def compose_body(self) -> ComposeResult:
        yield Static(f"The {STEP_TITLES[self.STEP]} screen is coming in a later version.", id="coming", markup=False)
        yield Static(INSTEAD[self.STEP], id="instead", markup=False)
        yield Static("", id="where", markup=False)

    def show_state(self, state) -> None:
        super().show_state(state)
        step = state.steps.get(self.STEP)
        first = f" Do the {STEP_TITLES[step.first]} step first." if step and step.first else ""
        self.query_one("#where", Static).update(f"Now: {step.line}.{first}" if step else "")
