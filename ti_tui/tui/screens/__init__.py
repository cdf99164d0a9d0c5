"""One module per screen: the start screen, and a screen for each step of the journey."""

from ti_tui.usecases.journey import Step


def step_screen(step: Step):
    """A new screen for `step`."""
    from ti_tui.tui.screens.captions import CaptionsScreen
    from ti_tui.tui.screens.coming import ComingScreen
    from ti_tui.tui.screens.images import ImagesScreen
    from ti_tui.tui.screens.settings import SettingsScreen
    from ti_tui.tui.screens.token import TokenScreen

    screens = {"images": ImagesScreen, "captions": CaptionsScreen, "token": TokenScreen, "settings": SettingsScreen}
    return screens[step]() if step in screens else ComingScreen(step)
