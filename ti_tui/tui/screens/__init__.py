"""One module per screen: the start screen, and a screen for each step of the journey."""

import importlib

from ti_tui.usecases.journey import Step

# Each step's screen, by module and class: a screen's module is imported when the step is first opened.
STEP_SCREENS: dict[Step, tuple[str, str]] = {
    "images": ("images", "ImagesScreen"),
    "captions": ("captions", "CaptionsScreen"),
    "token": ("token", "TokenScreen"),
    "settings": ("settings", "SettingsScreen"),
    "train": ("train", "TrainScreen"),
    "compare": ("compare", "CompareScreen"),
    "apply": ("apply", "ApplyScreen"),
}

FIELDS_FOCUSED_ON_ARRIVAL = ("token", "settings")  # the steps whose screens take the field to focus


def step_screen(step: Step, focus: str | None = None):
    """A new screen for `step`; `focus` names a setting's field to put the cursor in (Token and Settings)."""
    module, name = STEP_SCREENS[step]
    screen_class = getattr(importlib.import_module(f"ti_tui.tui.screens.{module}"), name)
    return screen_class(focus) if step in FIELDS_FOCUSED_ON_ARRIVAL else screen_class()
