"""One module per screen: the start screen, and a screen for each step of the journey."""

from ti_tui.usecases.journey import Step


def step_screen(step: Step, focus: str | None = None):
    """A new screen for `step`; `focus` names a setting's field to put the cursor in (Settings only)."""
    from ti_tui.tui.screens.captions import CaptionsScreen
    from ti_tui.tui.screens.coming import ComingScreen
    from ti_tui.tui.screens.images import ImagesScreen
    from ti_tui.tui.screens.settings import SettingsScreen
    from ti_tui.tui.screens.token import TokenScreen
    from ti_tui.tui.screens.train import TrainScreen

    if step == "settings":
        return SettingsScreen(focus)
    screens = {"images": ImagesScreen, "captions": CaptionsScreen, "token": TokenScreen, "train": TrainScreen}
    return screens[step]() if step in screens else ComingScreen(step)
