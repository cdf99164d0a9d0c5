"""The project screen: what the project holds and what stands in the way of training."""

from collections.abc import Callable
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, Static

from ti_tui.dataset.checks import DatasetReport
from ti_tui.errors import UserError
from ti_tui.findings import Finding
from ti_tui.project import Project
from ti_tui.settings import ModelSettings
from ti_tui.tui.widgets.fact_list import FactList
from ti_tui.usecases.summary import ProjectSummary

Summarize = Callable[[Project], ProjectSummary]
Fetch = Callable[[ModelSettings, Path], list[str]]
CheckImages = Callable[[Project], DatasetReport]


class ProjectScreen(Screen):
    CSS_PATH = "project.tcss"
    BINDINGS = [
        Binding("r", "reload", "Reload project.toml"),
        Binding("f", "fetch", "Fetch missing files"),
        Binding("q", "app.quit", "Quit"),
    ]

    class SummaryReady(Message):
        def __init__(self, summary: ProjectSummary):
            super().__init__()
            self.summary = summary

    class SummaryFailed(Message):
        def __init__(self, reason: str):
            super().__init__()
            self.reason = reason

    class FetchFinished(Message):
        def __init__(self, report: str):
            super().__init__()
            self.report = report

    class ImagesChecked(Message):
        def __init__(self, lines: list[str]):
            super().__init__()
            self.lines = lines

    def __init__(self, project: Project, summarize: Summarize, fetch: Fetch, check_images: CheckImages):
        super().__init__()
        self.project = project
        self.summarize = summarize
        self.fetch = fetch
        self.check_images = check_images
        self.fetchable = False

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="body"):
            yield Static("", id="notices", markup=False)
            yield Static("", id="problems", markup=False)
            yield Label("Project", classes="section-title")
            yield FactList(_settings_facts(self.project), id="settings")
            yield Label("Found on disk", classes="section-title")
            yield FactList([("", "Checking the model, tokenizer and images...")], id="found")
            yield Label("Image checks", classes="section-title")
            yield Static("Looking at every image...", id="image-checks", markup=False)
            yield Static(
                "This screen shows the project. The step-by-step wizard (images, captions, token, schedule, "
                "training) is being built; until then, edit project.toml and press r, or run ti-tui doctor.",
                id="wizard-note",
                markup=False,
            )
        yield Footer()

    def on_mount(self) -> None:
        self.title = "ti-tui"
        self.sub_title = self.project.name
        self.check_project()
        self.look_at_images()

    @work(thread=True, exclusive=True, group="images")
    def look_at_images(self) -> None:
        try:
            report = self.check_images(self.project)
            lines = [f"{finding.severity}: {finding}" for finding in report.findings if finding.check != "count"]
            lines = lines or [f"No problems found in {len(report.facts)} image(s)."]
        except (UserError, OSError) as error:
            lines = [str(error)]
        self.post_message(self.ImagesChecked(lines))

    @on(ImagesChecked)
    def show_image_checks(self, message: ImagesChecked) -> None:
        self.query_one("#image-checks", Static).update("\n".join(message.lines))

    @work(thread=True, exclusive=True)
    def check_project(self, reload: bool = False) -> None:
        try:
            if reload:
                self.project.store.reload()
            self.post_message(self.SummaryReady(self.summarize(self.project)))
        except UserError as error:
            self.post_message(self.SummaryFailed(str(error)))
        except OSError as error:
            self.post_message(self.SummaryFailed(f"{error.filename or 'a file'}: {error.strerror or error}"))

    def action_reload(self) -> None:
        self.check_project(reload=True)
        self.look_at_images()

    def check_action(self, action: str, parameters: tuple) -> bool:
        # Offer the download only when there is something to download.
        return self.fetchable if action == "fetch" else True

    def action_fetch(self) -> None:
        self.notify("Fetching what the model needs; this can take a while.")
        self.fetch_missing_files()

    @work(thread=True, exclusive=True)
    def fetch_missing_files(self) -> None:
        try:
            fetched = self.fetch(self.project.settings.model, self.project.root)
            report = "\n".join(fetched) or "Nothing was missing."
        except UserError as error:
            report = str(error)
        self.post_message(self.FetchFinished(report))

    @on(FetchFinished)
    def show_fetch_result(self, message: FetchFinished) -> None:
        self.notify(message.report, markup=False)
        self.check_project()

    @on(SummaryReady)
    def show_summary(self, message: SummaryReady) -> None:
        summary = message.summary
        self.query_one("#settings", FactList).show(_settings_facts(self.project))
        self.query_one("#found", FactList).show(_found_facts(summary))
        notices = self.query_one("#notices", Static)
        notices.update("\n".join(summary.notices))
        notices.display = bool(summary.notices)
        self._show_problems([_in_words(problem) for problem in summary.problems])
        self.fetchable = summary.fetchable
        self.refresh_bindings()

    @on(SummaryFailed)
    def show_failure(self, message: SummaryFailed) -> None:
        self._show_problems([message.reason])

    def _show_problems(self, lines: list[str]) -> None:
        problems = self.query_one("#problems", Static)
        problems.update("\n".join(lines))
        problems.display = bool(lines)


def _in_words(finding: Finding) -> str:
    """A finding with the key that fixes it, where this screen has one."""
    text = f"{finding.severity}: {finding}"
    if finding.fix is not None and finding.fix.action == "fetch":
        text += " Press f to fetch it."
    elif finding.fix is not None and finding.fix.action in ("edit-setting", "reload"):
        text += " Edit project.toml, then press r."
    return text


def _settings_facts(project: Project) -> list[tuple[str, str]]:
    settings = project.settings
    token = settings.token
    vectors = f"{token.vectors} vector(s)" if token.vectors else "vectors suggested from the images"
    training = settings.training
    schedule = settings.schedule
    previews = f"previews every {settings.preview.every}" if settings.preview.every else "no previews"
    return [
        ("Folder", str(project.root)),
        ("Model", settings.model.base),
        ("Trigger", f"{token.trigger or '(not set)'}, starting from {token.init_text!r}, {vectors}"),
        ("Kind", settings.dataset.kind),
        ("Training", f"{training.steps} steps, batch {training.batch_size}, seed {training.seed}"),
        ("Learning rate", f"{schedule.learning_rate} ({schedule.preset})"),
        ("Saving", f"checkpoint every {training.save_every} steps, {previews}"),
        ("Export", f"{', '.join(settings.export.formats)} into {_short(project.exports_dir, project.root)}"),
    ]


def _found_facts(summary: ProjectSummary) -> list[tuple[str, str]]:
    return [
        ("Model", summary.model.detail),
        ("Tokenizer", summary.tokenizer.detail),
        ("Images", f"{summary.image_count} in {_short(summary.images_dir, summary.root)}"),
        ("Captions", f"{summary.captioned_count} of {summary.image_count} images have one"),
    ]


def _short(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) + "/"
    except ValueError:
        return str(path)
