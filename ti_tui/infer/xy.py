"""The grid renderer: `python -m ti_tui.infer.xy GRID_DIR`, started detached like the trainer.

It renders the cells not already in grids/cells/, one model loaded at a time with the embedding
swapped per cell, writes an event per cell, stops between cells when asked, and finally draws the
labelled grid picture(s).
"""

import sys
import traceback
from itertools import groupby
from pathlib import Path

from ti_tui.detached import LifeLock
from ti_tui.errors import UserError
from ti_tui.infer.grid import Cell, GridDirectory, GridPlan, compose_grid, write_grid_png
from ti_tui.runs.events import FINAL_EVENT, EventWriter
from ti_tui.settings import ModelSettings


def render_grid(grid: GridDirectory, events: EventWriter) -> None:
    plan = grid.plan()
    grid.cells_dir.mkdir(parents=True, exist_ok=True)
    total = len(plan.cells)
    waiting = [cell for cell in plan.cells if not _cached(grid.cell_file(cell))]
    done = total - len(waiting)
    events.write("started", total=total, reused=done)
    # One model load per model, and the embedding swapped only when the checkpoint or strength changes.
    waiting.sort(key=lambda cell: (cell.settings.model, cell.settings.embedding, cell.settings.strength))
    for model, cells in groupby(waiting, key=lambda cell: cell.settings.model):
        cells = list(cells)
        if grid.stop_asked():
            break
        events.write("loading", model=cells[0].settings.model_label)
        generator = _load(plan, model)
        for cell in cells:
            if grid.stop_asked():
                break
            _render_cell(generator, grid, cell)
            done += 1
            events.write("cell", done=done, total=total, x=cell.x, y=cell.y, z=cell.z, path=str(grid.cell_file(cell)))
        del generator
    if grid.stop_asked():
        events.write(FINAL_EVENT, reason="stopped", message=f"stopped after {done} of {total} cells", done=done)
        return
    for z in range(plan.count("z")):
        path = _draw(grid, plan, z)
        events.write("grid", path=str(path), z=z)
    events.write(FINAL_EVENT, reason="completed", message=f"{total} cells", done=done)


def _cached(path: Path) -> bool:
    """Whether a cell's picture is in the cache: a file of its own that reads to its end.

    Anything else at its name is cleared away or rendered over: a file cut short or written over, a pipe,
    or a symbolic link, which the write would follow to wherever it points. A folder there is named, as
    the one thing in the cache that is not the cache's to delete.
    """
    from PIL import Image

    if path.is_dir() and not path.is_symlink():
        raise UserError(
            f"{path} is a folder, where the grid keeps a cell's picture: move it elsewhere (or delete it), then render the grid again"
        )
    if path.is_symlink() or (path.exists() and not path.is_file()):  # a link, or a pipe that reading would wait on
        path.unlink()
        return False
    try:
        with Image.open(path) as image:
            image.load()
    except Exception:  # missing, or damaged: Pillow says so in many ways (OSError, SyntaxError, ValueError, struct.error, ...)
        return False
    return True


def _load(plan: GridPlan, model: str):
    from ti_tui.infer.generator import Generator

    settings = ModelSettings(base=model, tokenizer=plan.tokenizer, precision=plan.precision, device=plan.device)
    return Generator.load(settings, plan.project)


def _render_cell(generator, grid: GridDirectory, cell: Cell) -> None:
    settings = cell.settings
    in_use = generator.embedding
    if in_use is None or str(in_use.path) != settings.embedding or in_use.strength != settings.strength:
        generator.use_embedding(Path(settings.embedding), settings.word, settings.strength)
    request = settings.request(generator.size)
    image = generator.render(request)
    generator.save(image, grid.cell_file(cell), request, {"Grid": grid.id})


def _draw(grid: GridDirectory, plan: GridPlan, z: int) -> Path:
    from PIL import Image

    images, parameters = {}, ""
    for cell in plan.cells_of_z(z):
        with Image.open(grid.cell_file(cell)) as image:
            images[(cell.x, cell.y)] = image.copy()
            parameters = parameters or image.text.get("parameters", "")
    path = grid.image_file(plan, z)
    write_grid_png(path, compose_grid(plan, z, images), parameters, plan, z)
    return path


def main(arguments: list[str]) -> int:
    grid = GridDirectory(Path(arguments[0]).resolve())
    lock = LifeLock(grid.lock_file, f"another renderer is already at work on {grid.path}")
    events = EventWriter(grid.events_file)
    try:
        render_grid(grid, events)
        return 0
    except UserError as error:
        events.write("error", message=str(error))
        events.write(FINAL_EVENT, reason="failed", message=str(error))
        return 2
    except Exception as error:
        traceback.print_exc()
        message = f"the grid failed: {type(error).__name__}: {error} (details in {grid.log_file})"
        events.write("error", message=message)
        events.write(FINAL_EVENT, reason="failed", message=message)
        return 1
    finally:
        events.close()
        lock.release()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
