"""The Images step: every image with what the checks say of it, its picture and its prepared crop;
add images, take one out of training, prepare them all."""

import threading
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, ProgressBar, Static

from ti_tui.dataset.files import display_name, list_image_files
from ti_tui.dataset.prepare import prepared_copies
from ti_tui.errors import UserError
from ti_tui.findings import Finding
from ti_tui.tui.screens.step import StepScreen
from ti_tui.tui.widgets.picture import Picture
from ti_tui.tui.widgets.row_table import RowTable

GUIDANCE = (
    "10-50 varied photos (places, light, clothes, angles), each 512 px or more on its short side. Take out (x) any "
    "the checks call blurry, tiny, near-copies or of someone else, then prepare (p): square crops centred on the "
    "subject. Next: Captions."
)


@dataclass(frozen=True)
class ImageRow:
    path: Path
    name: str  # inside the images folder
    size: str
    used: bool  # not left out by dataset.exclude
    prepared: Path | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def checks(self) -> str:
        """Short enough for the table at 80 columns: ✗ where a finding is an error, ! where the worst is a warning;
        the findings themselves are in words beside the table."""
        if not self.used:
            return "left out"
        if not self.findings:
            return "ok"
        mark = "✗" if any(finding.severity == "error" for finding in self.findings) else "!"
        return f"{mark} {self.findings[0].check}" + (f" +{len(self.findings) - 1}" if len(self.findings) > 1 else "")


class ImagesScreen(StepScreen):
    STEP = "images"
    GUIDANCE = GUIDANCE
    CSS_PATH = "images.tcss"
    AUTO_FOCUS = "#images"
    BINDINGS = [
        Binding("a", "add", "Add images", id="images.add"),
        Binding("x", "take_out", "Take out", tooltip="Take the image out of training, or put it back", id="images.take-out"),
        Binding("p", "prepare", "Prepare", id="images.prepare"),
        Binding("c", "stop_preparing", "Stop preparing", id="images.stop-preparing"),
    ]
    preparing = reactive(False, bindings=True)  # p, a and x wait; c stops

    @dataclass
    class Looked(Message):
        rows: list[ImageRow]
        verdict: str

    @dataclass
    class Preparing(Message):
        done: int
        total: int
        name: str

    @dataclass
    class Prepared(Message):
        text: str
        severity: str = "information"

    @dataclass
    class Added(Message):
        text: str
        severity: str = "information"

    def __init__(self):
        super().__init__()
        self.rows: list[ImageRow] = []
        self.stop_preparing = threading.Event()

    def compose_body(self) -> ComposeResult:
        yield Static("Looking at the images...", id="verdict", markup=False)
        yield ProgressBar(id="progress", show_eta=False)
        with Horizontal(id="images-and-pictures"):
            yield RowTable(id="images")
            with Vertical(id="pictures"):
                # First: with no rows left, Textual still gives each picture one, which falls off the bottom here.
                with FindingsPane(id="findings-pane"):
                    yield Static("", id="image-findings", markup=False)
                yield Picture("the original", id="original")
                yield Picture("prepared for training", id="prepared")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#images", DataTable)
        table.add_columns("Image", "Prepared", "Checks")  # the size is beside it, with the findings
        self.query_one("#progress", ProgressBar).display = False
        self.call_after_refresh(self.look)

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "stop_preparing":
            return self.preparing
        if action in ("prepare", "add", "take_out"):
            return None if self.preparing else True
        return True

    # Looking at the images ---------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, exclusive=True, group="look")
    def look(self) -> None:
        project, services = self.app.project, self.app.services
        try:
            report = services.check_images(project)
            every = list_image_files(project.images_dir, project.settings.dataset.recursive)
        except UserError as error:
            self.post_message(self.Looked([], str(error)))
            return
        left_out = set(project.settings.dataset.exclude)
        copies = prepared_copies(project.prepared_dir)
        sizes = {facts.path: f"{facts.width}x{facts.height}" for facts in report.facts}
        rows = []
        for path in every:
            name = display_name(path, project.images_dir)
            findings = [finding for finding in report.findings if name in finding.subjects]
            prepared = copies.get(path)
            rows.append(
                ImageRow(
                    path, name, sizes.get(path, "?"), name not in left_out, prepared if prepared and prepared.is_file() else None, findings
                )
            )
        self.post_message(self.Looked(rows, _verdict(rows, report)))

    @on(Looked)
    def show_images(self, message: Looked) -> None:
        self.rows = message.rows
        self.query_one("#verdict", Static).update(message.verdict)
        table = self.query_one("#images", DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in self.rows:
            # File names are the user's text: Text keeps a name such as "[x].jpg" from being read as markup.
            table.add_row(Text(row.name), "yes" if row.prepared else "no", Text(row.checks), key=row.name)
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))
            self.show_selected(min(cursor, len(self.rows) - 1))

    @on(DataTable.RowHighlighted, "#images")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_selected(event.cursor_row)

    def show_selected(self, index: int) -> None:
        if not 0 <= index < len(self.rows):
            return
        row = self.rows[index]
        self.query_one("#original", Picture).show(row.path)
        self.query_one("#prepared", Picture).show(row.prepared)
        lines = [str(finding) for finding in row.findings] or ["No problems found."]
        if not row.used:
            lines.insert(0, "Left out of training (x puts it back); the file stays where it is.")
        self.query_one("#image-findings", Static).update(f"{row.name}, {row.size}\n" + "\n".join(lines))
        self.query_one("#findings-pane", FindingsPane).scroll_home(animate=False)

    def selected(self) -> ImageRow | None:
        index = self.query_one("#images", DataTable).cursor_row
        return self.rows[index] if 0 <= index < len(self.rows) else None

    # Adding, taking out ------------------------------------------------------------------------

    def action_add(self) -> None:
        from ti_tui.tui.screens.dialogs import AskPath

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.add(path)

        self.app.push_screen(
            AskPath("Add the images in this folder, or this one image (they are copied in):", files=True, title="Add images"), chosen
        )

    @work(thread=True, exit_on_error=False, exclusive=True, group="add")
    def add(self, source: Path) -> None:
        project = self.app.project
        try:
            report = self.app.services.import_images([source], project.images_dir)
        except UserError as error:
            self.post_message(self.Added(str(error), "error"))
            return
        said = [f"Added {len(report.imported)} image(s) to {project.images_dir}."]
        said += [f"Already there: {name}." for name in report.already_there[:3]]
        said += [f"Left out: {sentence}" for sentence in report.refused[:3]]
        self.post_message(self.Added(" ".join(said), "warning" if report.refused else "information"))

    @on(Added)
    def added(self, message: Added) -> None:
        self.notify(message.text, severity=message.severity, markup=False, timeout=8)
        self.app.refresh_state()
        self.look()

    def action_take_out(self) -> None:
        row = self.selected()
        if row is None:
            return
        left_out = [name for name in self.app.project.settings.dataset.exclude if name != row.name]
        if row.used:
            left_out.append(row.name)
        problems = self.app.save_settings({"dataset.exclude": sorted(left_out)})
        if problems is None:
            return  # the app has said why
        if problems:
            self.notify(str(problems[0]), severity="error", markup=False)
            return
        where = "left out of" if row.used else "back in"
        self.notify(f"{row.name} is {where} the training set; prepare again (p) to bring prepared/ up to date.", markup=False)
        self.look()

    # Preparing ---------------------------------------------------------------------------------

    def action_prepare(self) -> None:
        self.preparing = True
        self.stop_preparing.clear()
        progress = self.query_one("#progress", ProgressBar)
        progress.update(total=None, progress=0)
        progress.display = True
        self.prepare()

    def action_stop_preparing(self) -> None:
        self.stop_preparing.set()

    @work(thread=True, exit_on_error=False, exclusive=True, group="prepare")
    def prepare(self) -> None:
        def progress(done: int, total: int, name: str) -> bool:
            self.post_message(self.Preparing(done, total, name))
            return not self.stop_preparing.is_set()

        try:
            report = self.app.services.prepare(self.app.project, progress)
        except UserError as error:
            self.post_message(self.Prepared(str(error), "error"))
            return
        said = f"Prepared {len(report.prepared)} image(s); {len(report.unchanged)} were up to date."
        if report.cancelled:
            said = "Stopped. " + said + " The rest are as they were."
        if report.kept_edits:
            said += f" Kept {len(report.kept_edits)} you edited by hand."
        if report.retired:
            said += f" Moved {len(report.retired)} whose original is gone (or left out) to prepared/removed/."
        if report.problems:
            said += " Could not prepare: " + "; ".join(report.problems[:3])
        self.post_message(self.Prepared(said, "warning" if report.problems else "information"))

    @on(Preparing)
    def show_progress(self, message: Preparing) -> None:
        self.query_one("#progress", ProgressBar).update(total=message.total, progress=message.done)
        self.query_one("#verdict", Static).update(f"Preparing {message.name} ({message.done + 1} of {message.total}); c stops.")

    def on_worker_state_changed(self, event) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "prepare" and event.state.name == "ERROR":
            self.post_message(self.Prepared("Preparing stopped on an error; what was prepared is kept.", "error"))

    def on_unmount(self) -> None:
        self.stop_preparing.set()  # leaving the step stops the work between two images

    @on(Prepared)
    def prepared(self, message: Prepared) -> None:
        self.preparing = False
        self.query_one("#progress", ProgressBar).display = False
        self.notify(message.text, severity=message.severity, markup=False, timeout=8)
        self.app.refresh_state()
        self.look()


class FindingsPane(VerticalScroll):
    """What the checks say of the image, whole: it takes the pictures' rows when it needs them, and scrolls, with
    the keyboard too, when even that is not enough."""

    def allow_focus(self) -> bool:
        return self.max_scroll_y > 0  # a Tab stop only when there is more to read


def _verdict(rows: list[ImageRow], report) -> str:
    """The set as a whole: enough images? varied enough? prepared?"""
    if not rows:
        return "No images yet: a adds a folder of photos or one photo (10-50 varied ones work best)."
    used = [row for row in rows if row.used]
    left_out = f" ({len(rows) - len(used)} left out)" if len(used) < len(rows) else ""
    lines = [f"{len(used)} image(s) for training{left_out}."]
    lines += [str(finding) for finding in report.findings if not finding.subjects] or ["Enough of them, and varied enough."]
    unreadable = [row.name for row in used if any(finding.check == "unreadable" for finding in row.findings)]
    if unreadable:
        them = "it" if len(unreadable) == 1 else "them"
        lines.append(f"{len(unreadable)} cannot be read ({', '.join(unreadable[:3])}): take {them} out (x) or delete {them}.")
    unprepared = sum(1 for row in used if row.prepared is None and row.name not in unreadable)
    if used:
        prepared = "The others are prepared." if unreadable else "All prepared."
        lines.append(prepared if not unprepared else f"{unprepared} not prepared yet: press p.")
    return " ".join(lines)
