"""An XY(Z) grid: what each cell is, where the grid lives on disk, and the labelled picture made from the cells.

    grids/
      cells/<key>.png        every cell ever rendered, named by a digest of all that makes its pixels
                             (model, embedding file, prompt, seed, ...): a grid run again, or another
                             grid sharing cells with it, reuses them
      <grid-id>/
        grid.json            the plan: axes, cells and their keys (written by the starter)
        launch.json          the renderer's process, for liveness before it takes its lock
        events.jsonl         started, loading, cell, grid, error, finished: the renderer's progress
        renderer.log         the renderer's own output
        renderer.lock        held (flock) by the renderer for its whole life
        control/stop         a request to stop between cells
        grid.png             the labelled grid (grid-z1.png, grid-z2.png, ... with a Z axis)

Nothing here imports torch: the wizard draws grids and reads plans without it.
"""

import hashlib
import io
import json
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ti_tui.detached import WorkFolder
from ti_tui.errors import UserError
from ti_tui.fsutil import atomic_write_bytes, atomic_write_text
from ti_tui.infer.render import RENDERING_VERSION, RenderRequest, settings_line

GRID_VERSION = 1
ROLES = ("x", "y", "z")
SMALLEST_SHOWN_CELL = 128  # cells of smaller models are enlarged (by whole pixels) so that labels fit
LABEL_FONT_SIZE = 14
LABEL_PADDING = 6


@dataclass(frozen=True)
class CellSettings:
    """Everything that decides a cell's pixels, besides the files' contents."""

    model: str  # the model as load_model takes it: builtin:tiny, or an absolute path
    model_label: str
    embedding: str  # absolute path of the embedding file
    embedding_label: str  # "step 500", or the file's name
    word: str  # the trigger, as the prompt names it
    prompt: str  # with the trigger in place of [name]
    negative_prompt: str
    seed: int
    cfg_scale: float
    sampling_steps: int
    sampler: str
    strength: float
    size: int  # 0 = the model's own

    def request(self, size: int) -> RenderRequest:
        side = self.size or size
        return RenderRequest(self.prompt, self.seed, self.sampling_steps, self.cfg_scale, side, side, self.negative_prompt, self.sampler)


@dataclass(frozen=True)
class Cell:
    x: int
    y: int
    z: int
    settings: CellSettings
    key: str  # digest of the settings and of the model's and embedding's identities


@dataclass(frozen=True)
class GridAxis:
    role: str  # x, y or z
    name: str  # step, cfg, model, ...
    title: str
    labels: tuple[str, ...]  # one per value, as drawn: "Step: 500"
    spec: str


@dataclass
class GridPlan:
    project: Path
    run: str  # the run whose checkpoints the grid shows ("" when it shows a file)
    axes: dict[str, GridAxis]  # only the roles in use
    cells: list[Cell]
    tokenizer: str
    precision: str
    device: str

    def count(self, role: str) -> int:
        axis = self.axes.get(role)
        return len(axis.labels) if axis else 1

    def cells_of_z(self, z: int) -> list[Cell]:
        return [cell for cell in self.cells if cell.z == z]

    def to_json(self) -> str:
        data = {
            "v": GRID_VERSION,
            "project": str(self.project),
            "run": self.run,
            "axes": {role: asdict(axis) for role, axis in self.axes.items()},
            "cells": [{"x": cell.x, "y": cell.y, "z": cell.z, "key": cell.key, "settings": asdict(cell.settings)} for cell in self.cells],
            "tokenizer": self.tokenizer,
            "precision": self.precision,
            "device": self.device,
        }
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "GridPlan":
        data = json.loads(text)
        axes = {role: GridAxis(**{**axis, "labels": tuple(axis["labels"])}) for role, axis in data["axes"].items()}
        cells = [Cell(cell["x"], cell["y"], cell["z"], CellSettings(**cell["settings"]), _key(cell["key"])) for cell in data["cells"]]
        return cls(Path(data["project"]), data["run"], axes, cells, data["tokenizer"], data["precision"], data["device"])


def _key(text) -> str:
    """A cell's key names its file in grids/cells/: a hand-edited grid.json must not lead a write elsewhere."""
    if not isinstance(text, str) or not re.fullmatch(r"[0-9a-f]{24}", text):
        raise ValueError(f"{text!r} is not a cell key (24 hexadecimal digits)")
    return text


def cell_key(settings: CellSettings, model_identity: str, embedding_sha256: str, precision: str, device: str) -> str:
    facts = {
        **asdict(settings),
        "model": model_identity,
        "embedding": embedding_sha256,
        "precision": precision,
        "device": device,
        "rendering": RENDERING_VERSION,
    }
    facts.pop("model_label")
    facts.pop("embedding_label")
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:24]


class GridDirectory(WorkFolder):
    lock_name = "renderer.lock"

    @property
    def plan_file(self) -> Path:
        return self.path / "grid.json"

    @property
    def launch_file(self) -> Path:
        return self.path / "launch.json"

    @property
    def events_file(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def log_file(self) -> Path:
        return self.path / "renderer.log"

    @property
    def stop_file(self) -> Path:
        return self.path / "control" / "stop"

    @property
    def cells_dir(self) -> Path:
        return self.path.parent / "cells"

    def plan(self) -> GridPlan:
        try:
            return GridPlan.from_json(self.plan_file.read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise UserError(f"{self.plan_file} cannot be read ({type(error).__name__}: {error}); render the grid again") from None

    def write_plan(self, plan: GridPlan) -> None:
        atomic_write_text(self.plan_file, plan.to_json())

    def cell_file(self, cell: Cell) -> Path:
        return self.cells_dir / f"{cell.key}.png"

    def image_file(self, plan: GridPlan, z: int) -> Path:
        return self.path / ("grid.png" if plan.count("z") == 1 else f"grid-z{z + 1}.png")

    def record_launch(self, pid: int, process_started: float | None) -> None:
        atomic_write_text(self.launch_file, json.dumps({"pid": pid, "started": time.time(), "process_started": process_started}))

    def launch(self) -> dict:
        try:
            return json.loads(self.launch_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def ask_to_stop(self) -> None:
        self.stop_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.stop_file, f"{time.time()}\n")

    def stop_asked(self) -> bool:
        return self.stop_file.exists()


# Drawing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridLayout:
    """Where each part of one grid picture goes, in pixels."""

    cell: int  # the side of a cell as drawn
    left: int  # width of the row labels
    top: int  # height of the column labels
    banner: int  # height of the Z label above everything
    columns: int
    rows: int

    @property
    def size(self) -> tuple[int, int]:
        return self.left + self.columns * self.cell, self.banner + self.top + self.rows * self.cell

    def cell_box(self, x: int, y: int) -> tuple[int, int, int, int]:
        left, top = self.left + x * self.cell, self.banner + self.top + y * self.cell
        return left, top, left + self.cell, top + self.cell

    def column_label_box(self, x: int) -> tuple[int, int, int, int]:
        left = self.left + x * self.cell
        return left, self.banner, left + self.cell, self.banner + self.top

    def row_label_box(self, y: int) -> tuple[int, int, int, int]:
        top = self.banner + self.top + y * self.cell
        return 0, top, self.left, top + self.cell

    def banner_box(self) -> tuple[int, int, int, int]:
        return 0, 0, self.size[0], self.banner


def label_font(size: int = LABEL_FONT_SIZE):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def text_width(text: str, size: int = LABEL_FONT_SIZE) -> int:
    left, _, right, _ = label_font(size).getbbox(text)
    return math.ceil(right - left)


def label_image(text: str, width: int, height: int):
    """`text` centred on white in a `width` x `height` box; a smaller font when it would not fit."""
    from PIL import Image, ImageDraw

    size = LABEL_FONT_SIZE
    while size > 8 and text_width(text, size) > width - 2:
        size -= 1
    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).text((width / 2, height / 2), text, fill="black", font=label_font(size), anchor="mm")
    return image


def grid_layout(plan: GridPlan, cell_size: int) -> GridLayout:
    cell = cell_size * max(1, math.ceil(SMALLEST_SHOWN_CELL / cell_size))
    line = LABEL_FONT_SIZE + 2 * LABEL_PADDING
    rows = plan.axes.get("y")
    left = max((text_width(label) for label in rows.labels), default=0) + 2 * LABEL_PADDING if rows else 0
    return GridLayout(
        cell=cell,
        left=min(left, 2 * cell),
        top=line if "x" in plan.axes else 0,
        banner=line if "z" in plan.axes else 0,
        columns=plan.count("x"),
        rows=plan.count("y"),
    )


def compose_grid(plan: GridPlan, z: int, cell_images: dict[tuple[int, int], object]):
    """The labelled picture of the cells at `z`: column labels on top, row labels on the left, Z above."""
    from PIL import Image

    first = next(iter(cell_images.values()))
    layout = grid_layout(plan, first.width)
    picture = Image.new("RGB", layout.size, "white")
    for (x, y), image in cell_images.items():
        picture.paste(image.convert("RGB").resize((layout.cell, layout.cell), Image.Resampling.NEAREST), layout.cell_box(x, y)[:2])
    for role, box_of in (("x", layout.column_label_box), ("y", layout.row_label_box)):
        axis = plan.axes.get(role)
        for index, label in enumerate(axis.labels if axis else ()):
            box = box_of(index)
            picture.paste(label_image(label, box[2] - box[0], box[3] - box[1]), box[:2])
    if "z" in plan.axes:
        box = layout.banner_box()
        picture.paste(label_image(plan.axes["z"].labels[z], box[2], box[3]), box[:2])
    return picture


def grid_png_bytes(picture, parameters: str, plan: GridPlan, z: int) -> bytes:
    """The grid as PNG bytes, with the first cell's parameters and the axes in its text chunks."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", f"{parameters}, {settings_line(xyz_plot_fields(plan))}" if parameters else parameters)
    axes = {role: {"axis": axis.name, "values": list(axis.labels)} for role, axis in plan.axes.items()}
    if "z" in axes:
        axes["z"]["shown"] = plan.axes["z"].labels[z]
    info.add_text("ti-tui grid", json.dumps(axes))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


# What the web UI's XYZ plot calls each axis in the parameters of its grids; it has no axis of an embedding's steps.
XYZ_PLOT_TYPES = {
    "step": "Embedding step",
    "cfg": "CFG Scale",
    "model": "Checkpoint name",
    "seed": "Seed",
    "sampler": "Sampler",
    "steps": "Steps",
    "prompt": "Prompt S/R",
    "strength": "Embedding strength",
}


def xyz_plot_fields(plan: GridPlan) -> dict[str, str]:
    """The fields the web UI's XYZ plot adds to a grid's parameters, so that its PNG Info shows the axes as typed."""
    fields = {"Script": "X/Y/Z plot"}
    for role, axis in plan.axes.items():
        fields[f"{role.upper()} Type"] = XYZ_PLOT_TYPES[axis.name]
        fields[f"{role.upper()} Values"] = axis.spec.partition("=")[2].strip()
    return fields


def write_grid_png(path: Path, picture, parameters: str, plan: GridPlan, z: int) -> None:
    atomic_write_bytes(path, grid_png_bytes(picture, parameters, plan, z))
