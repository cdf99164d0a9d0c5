"""For the wizard's tests: stand-ins for its slow helpers (so that screen tests never import torch), and waiting."""

import asyncio
import shutil
import time
import unicodedata
from pathlib import Path

from conftest import SAMPLE_PROJECT
from textual import events
from textual.widgets import DataTable, Static
from textual.worker import WorkerCancelled, WorkerState

from ti_tui.dataset.captioner import CaptionProgress
from ti_tui.dataset.captions import write_caption_file
from ti_tui.sd.device import DeviceProbe
from ti_tui.sd.work import ModelWork
from ti_tui.tui.services import Services
from ti_tui.usecases.recent import Memory
from ti_tui.usecases.token_check import TokenQuestion, TokenReport

ROUNDS = 50  # of waiting for workers, or for the layout: more than any screen takes to come to rest
CPU = DeviceProbe("cpu", "CPU, 2 cores", "float32", 16 * 2**30, 8 * 2**30, 100.0)
TINY_WORK = ModelWork(0.235, 0.474, 2.118, 1.155, 2.789)  # builtin:tiny's arithmetic at 128 px, as counted


class FakeTokenChecker:
    """Splits words into pieces of three letters, as a tokenizer splits made-up words into a few."""

    def __init__(self, project_root: Path):
        self.asked: list[TokenQuestion] = []

    def ask(self, question: TokenQuestion) -> TokenReport:
        self.asked.append(question)

        def pieces(text: str) -> list[str]:
            return [text[index : index + 3] for index in range(0, len(text), 3)] if text else []

        return TokenReport(pieces(question.trigger), [], [], pieces(question.init_text), 1, "1 vector(s) for 10 images.")

    def close(self) -> None:
        pass


def fake_captioner(model: str, images: list[Path], overwrite: bool = False, on_start=None):
    for number, image in enumerate(images, start=1):
        write_caption_file(image, "a drawing in bright colours")
        yield CaptionProgress(number, len(images), image.name, "a drawing in bright colours")


def fake_services(data_dir: Path, **changes) -> Services:
    return Services(
        token_checker=FakeTokenChecker,
        probe_device=lambda device, precision: CPU,
        count_model_work=lambda unet, vae, resolution: TINY_WORK,
        caption=fake_captioner,
        memory=Memory(data_dir),
        sample_project=SAMPLE_PROJECT,
        **changes,
    )


def write_checkpoints(run, steps=(2, 4)) -> None:
    """Checkpoints at `steps` in `run`, as a trainer saves them, of made-up vectors for builtin:tiny (width 768)."""
    import torch

    from ti_tui.embedding.files import Embedding, write_embedding

    trigger = run.facts().settings.token.trigger
    run.checkpoints_dir.mkdir(exist_ok=True)
    generator = torch.Generator().manual_seed(0)
    for step in steps:
        vectors = torch.randn(2, 768, generator=generator) * 0.4
        write_embedding(Embedding(vectors, trigger=trigger, step=step), run.checkpoint_paths(trigger, step).embedding, "safetensors")


def render_a_2x2_grid(project):
    """A run with checkpoints at steps 2 and 4, and its grid over those steps and CFG 3 and 7; returns the run.

    Each cell's picture is painted here, a plain pattern of its own, before the renderer runs: the renderer finds
    them all in its cache and only composes the grid. A model's pixels differ by a few levels from one CPU to
    another, which a snapshot of the pictures would catch as a change."""
    from PIL import Image

    from ti_tui.infer.grid import GridDirectory
    from ti_tui.infer.xy import render_grid
    from ti_tui.runs.events import EventWriter
    from ti_tui.sd.tiny import IMAGE_SIZE
    from ti_tui.usecases.compare import plan_grid
    from ti_tui.usecases.training import create_run

    run = create_run(project, steps=4)
    write_checkpoints(run)
    grid = GridDirectory(project.root / "grids" / "20260101-000000")
    grid.path.mkdir(parents=True)
    plan = plan_grid(project, x="step=all", y="cfg=3,7")
    grid.write_plan(plan)
    grid.cells_dir.mkdir()
    for cell in plan.cells:
        picture = Image.linear_gradient("L").resize((IMAGE_SIZE, IMAGE_SIZE)).rotate(90 * (2 * cell.y + cell.x))
        Image.merge("RGB", (picture, Image.new("L", picture.size, 80 + 60 * cell.x), Image.new("L", picture.size, 80 + 60 * cell.y))).save(
            grid.cell_file(cell)
        )
    render_grid(grid, EventWriter(grid.events_file))
    return run


def copy_of_sample(folder: Path) -> Path:
    shutil.copytree(SAMPLE_PROJECT, folder, ignore=shutil.ignore_patterns("runs", "prepared", "exports", "grids", "generated"))
    return folder


async def settle(app, pilot) -> None:
    """Until the screen is still: every worker finished and what it posted handled, then the layout worked out
    from what the widgets hold. It waits on those signals, never on the clock, so it holds on a busy machine
    (a pilot's pause alone tells idle by the process's CPU time, which a busy machine starves)."""
    for _ in range(ROUNDS):
        await pilot.pause()  # every widget has handled what was posted to it so far
        if not any(worker.state in (WorkerState.PENDING, WorkerState.RUNNING) for worker in app.workers):
            break
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            pass  # replaced by a newer look at the files, which the next round waits for
    else:
        raise AssertionError(f"the workers never finished: {list(app.workers)}")
    await settle_layout(app, pilot)


async def settle_layout(app, pilot) -> None:
    """Until a layout of the whole screen, from what every widget holds now, changes nothing, and nothing
    waits to be called after the next refresh (a scroll to the field being edited, say). A widget whose text
    changed asks for a layout by a message of its own, which a busy machine can leave unhandled when a
    screenshot is taken."""
    for _ in range(ROUNDS):
        before = layout_of(app.screen)
        app.screen.refresh(layout=True)
        await pilot.pause()
        if layout_of(app.screen) == before and not measuring(app.screen) and not app.screen._callbacks:
            return
    raise AssertionError("the layout never settled")


def measuring(screen) -> bool:
    """Whether a table has rows or cells it has not measured yet: a DataTable measures them when it is next
    idle, and until then draws its row labels zero columns wide."""
    return any(table._require_update_dimensions or table._updated_cells for table in screen.query(DataTable))


def layout_of(screen) -> list:
    return [(widget, widget.region, widget.virtual_size) for widget in screen.walk_children(with_self=True)]


async def open_apply(app, pilot):
    """The Apply step, once it has looked for the checkpoint to export."""
    from ti_tui.tui.screens.apply import ApplyScreen

    await settle(app, pilot)
    app.open_step("apply")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, ApplyScreen)
    await until(pilot, lambda: screen.has_checkpoint is not None, "the checkpoint looked for")
    return screen


async def open_compare(app, pilot, finished: bool = False):
    """The Compare step once it shows its newest grid (and, with `finished`, once the grid is rendered)."""
    await settle(app, pilot)
    app.open_step("compare")

    def shown() -> bool:
        view = getattr(app.screen, "view", None)
        return view is not None and (view.status.state == "finished" or not finished)

    await until(pilot, shown, "the grid")
    await settle(app, pilot)
    return app.screen


async def until(pilot, condition, what: str, timeout: float = 300) -> None:
    """Until `condition()` holds: something the screen shows, from a worker that goes on (a run followed,
    a grid rendered). The time limit is a safety net for a broken test, not a measure."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never came: {what}")
        await pilot.pause()


async def until_screen(app, pilot, screen_type, what: str):
    await until(pilot, lambda: isinstance(app.screen, screen_type) and app.screen.is_mounted, what)
    return app.screen


async def until_seen(screen, condition, what: str, timeout: float = 300):
    """Until a screen that posts each look at its run or grid on `screen.changed` has drawn a `view` for which
    `condition(view)` holds. The time limit is a safety net for a broken test, not a measure."""
    arrived = asyncio.Event()
    screen.changed.subscribe(screen, lambda view: arrived.set() if condition(view) else None)
    if screen.view is not None and condition(screen.view):
        return screen.view
    try:
        await asyncio.wait_for(arrived.wait(), timeout)
    except TimeoutError:
        shown = screen.view.status if screen.view else "nothing"
        raise AssertionError(f"never came: {what} (the screen shows: {shown})") from None
    return screen.view


def record_notices(app) -> list[str]:
    """What the wizard says in notices from now on, in order: recorded at `app.notify`, where every screen's
    and widget's notices go."""
    said = []
    notify = app.notify

    def recording(message, *arguments, **keywords):
        said.append(str(message))
        return notify(message, *arguments, **keywords)

    app.notify = recording
    return said


async def until_notice(pilot, said: list[str], words: str) -> str:
    await until(pilot, lambda: any(words in notice for notice in said), f"a notice saying {words!r}")
    return [notice for notice in said if words in notice][-1]


def screen_text(app) -> str:
    """Everything the screen shows in its text widgets, as the user reads it."""
    shown = (widget.render() for widget in app.screen.query(Static) if widget.display)
    return "\n".join(getattr(rendered, "plain", str(rendered)) for rendered in shown)


def footer_cut(app) -> list[str]:
    """The footer's keys, in their words, that run past the screen's right edge and so are cut or unseen."""
    footer = app.screen.query_one("Footer")
    return [key.description for key in footer.query("FooterKey") if key.virtual_region.right > footer.size.width]


def shown(screen, selector: str) -> str:
    """A line's text, or the lines of a part made of several."""
    widget = screen.query_one(selector)
    lines = [widget] if isinstance(widget, Static) else list(widget.query(Static))
    return "\n".join(line.render().plain for line in lines)


def key_of(character: str) -> events.Key:
    """The key event a terminal's keystroke of `character` becomes."""
    name = character if character.isalnum() else unicodedata.name(character).lower().replace("-", "_").replace(" ", "_")
    return events.Key(name, character)


NAMED_KEYS = {"enter", "backspace", "ctrl+u"}


def type_ahead(app, *strokes: str) -> None:
    """Keys as a terminal delivers them to a wizard on a busy machine: all read in before the first is handled.
    A stroke is a key name (NAMED_KEYS) or text to type."""
    for stroke in strokes:
        if stroke in NAMED_KEYS:
            app.post_message(events.Key(stroke, None))
        else:
            for character in stroke:
                app.post_message(key_of(character))
