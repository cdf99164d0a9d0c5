"""The wizard's Textual app, built by `create_app` so that tests can hand it fakes."""

from textual.app import App

from ti_tui.project import Project
from ti_tui.project.summary import summarize_project
from ti_tui.tui.screens.project import ProjectScreen, Summarize


class TiTuiApp(App):
    TITLE = "ti-tui"

    def __init__(self, project: Project, summarize: Summarize):
        super().__init__()
        self.project = project
        self.summarize = summarize

    def on_mount(self) -> None:
        self.push_screen(ProjectScreen(self.project, self.summarize))


def create_app(project: Project, *, summarize: Summarize = summarize_project) -> TiTuiApp:
    return TiTuiApp(project, summarize)
