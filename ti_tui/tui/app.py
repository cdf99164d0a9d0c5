"""The wizard's Textual app, built by `create_app` so that tests can hand it fakes."""

from textual.app import App

from ti_tui.project import Project
from ti_tui.sd.fetch import fetch_missing
from ti_tui.tui.screens.project import CheckImages, Fetch, ProjectScreen, Summarize
from ti_tui.usecases.images import check_project_images
from ti_tui.usecases.summary import summarize_project


class TiTuiApp(App):
    TITLE = "ti-tui"

    def __init__(self, project: Project, summarize: Summarize, fetch: Fetch, check_images: CheckImages):
        super().__init__()
        self.project = project
        self.summarize = summarize
        self.fetch = fetch
        self.check_images = check_images

    def on_mount(self) -> None:
        self.push_screen(ProjectScreen(self.project, self.summarize, self.fetch, self.check_images))


def create_app(
    project: Project,
    *,
    summarize: Summarize = summarize_project,
    fetch: Fetch = fetch_missing,
    check_images: CheckImages = check_project_images,
) -> TiTuiApp:
    """The wizard for `project`; tests pass fakes for the work that reads disks or the network."""
    return TiTuiApp(project, summarize, fetch, check_images)
