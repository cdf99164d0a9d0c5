"""Comparing checkpoints: XY(Z) grids planned from the project's [xy] settings, rendered in their own process.

Shared by `ti-tui xy` and the wizard's Compare step. Planning reads files but loads no model: every
problem with an axis, a step or a model file is found before a process starts.
"""

import json
import os
import sys
import time
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Literal

from ti_tui.axes import AXIS_KINDS, Axis, AxisError, parse_axis
from ti_tui.detached import process_alive, spawn_detached, starting_one_at_a_time, wait_for_its_lock
from ti_tui.errors import UserError
from ti_tui.fsutil import file_sha256
from ti_tui.infer.grid import ROLES, Cell, CellSettings, GridAxis, GridDirectory, GridPlan, cell_key
from ti_tui.project import Project
from ti_tui.runs import RunDirectory
from ti_tui.runs.events import FINAL_EVENT, RunWatcher
from ti_tui.sd.family import family_from_shapes, family_of_diffusers_folder, read_safetensors_header
from ti_tui.sd.source import classify_model_source
from ti_tui.usecases.checkpoints import find_checkpoint, lineage_checkpoints, run_of_choice
from ti_tui.usecases.generate import tokenizer_of_the_base

MAX_CELLS = 400
STARTUP_GRACE_SECONDS = 30
GridState = Literal["starting", "rendering", "finished", "stopped", "failed", "lost"]


@dataclass
class GridStatus:
    state: GridState
    done: int = 0
    total: int = 0
    message: str = ""  # the last thing the renderer said: the model it loads, why it failed
    images: list[Path] = field(default_factory=list)  # the labelled grids, once drawn

    @property
    def active(self) -> bool:
        return self.state in ("starting", "rendering")


def plan_grid(project: Project, x: str | None = None, y: str | None = None, z: str | None = None, run_name: str | None = None) -> GridPlan:
    """The cells of a grid: each axis spec given, else the project's [xy] one; "" leaves a role empty."""
    settings = project.settings
    xy = settings.xy
    axes: dict[str, Axis] = {}
    for role, spec in zip(ROLES, (xy.x if x is None else x, xy.y if y is None else y, xy.z if z is None else z), strict=True):
        try:
            axis = parse_axis(spec)
        except AxisError as error:
            raise UserError(f"the {role} axis: {error}") from None
        if axis is not None:
            axes[role] = axis
    names = [axis.name for axis in axes.values()]
    for name in set(names):
        if names.count(name) > 1:
            raise UserError(f"{name} is on two axes; give each axis a different kind of value")
    trigger = settings.token.trigger
    if not trigger:
        raise UserError("the project has no trigger word yet, so there is nothing to compare")

    run = run_of_choice(project, run_name)
    step_is_an_axis = "step" in names
    fixed = {
        "step": None if step_is_an_axis else find_checkpoint(run, settings.export.step if settings.export.run in ("", run.id) else 0),
        "cfg": xy.cfg_scale,
        "model": settings.model.base,
        "seed": xy.seed,
        "sampler": xy.sampler,
        "steps": xy.sampling_steps,
        "prompt": None,
        "strength": xy.strength,
    }
    values = {role: _resolve(project, run, axis, xy.prompt) for role, axis in axes.items()}
    count = 1
    for resolved in values.values():
        count *= len(resolved)
    if count > MAX_CELLS:
        raise UserError(f"the grid would have {count} cells; {MAX_CELLS} is the most, so narrow an axis")

    hashes: dict[str, str] = {}
    identities: dict[str, str] = {}
    cells = []
    model_settings = settings.model
    for (z_index, z_value), (y_index, y_value), (x_index, x_value) in product(
        *(enumerate(values.get(role, [None])) for role in ("z", "y", "x"))
    ):
        chosen = dict(fixed)
        for role, value in (("x", x_value), ("y", y_value), ("z", z_value)):
            if role in axes:
                chosen[axes[role].name] = value
        checkpoint = chosen["step"]
        prompt = xy.prompt if chosen["prompt"] is None else xy.prompt.replace(values_of(axes, "prompt")[0], chosen["prompt"])
        model = chosen["model"]
        cell_settings = CellSettings(
            model=_model_for_loading(project, model),
            model_label=_model_label(model),
            embedding=str(checkpoint.embedding),
            embedding_label=f"step {checkpoint.step}",
            word=trigger,
            prompt=prompt.replace("[name]", trigger),
            negative_prompt=xy.negative_prompt.replace("[name]", trigger),
            seed=chosen["seed"],
            cfg_scale=float(chosen["cfg"]),
            sampling_steps=chosen["steps"],
            sampler=chosen["sampler"],
            strength=float(chosen["strength"]),
            size=xy.size,
        )
        embedding = cell_settings.embedding
        if embedding not in hashes:
            hashes[embedding] = file_sha256(Path(embedding))
        if model not in identities:
            identities[model] = _model_identity(project, model)
        key = cell_key(cell_settings, identities[model], hashes[embedding], model_settings.precision, model_settings.device)
        cells.append(Cell(x_index or 0, y_index or 0, z_index or 0, cell_settings, key))
    grid_axes = {role: _grid_axis(role, axis, values[role]) for role, axis in axes.items()}
    tokenizer = tokenizer_of_the_base(project)
    return GridPlan(project.root, run.id, grid_axes, cells, tokenizer, model_settings.precision, model_settings.device)


def values_of(axes: dict[str, Axis], name: str) -> tuple:
    return next(axis.values for axis in axes.values() if axis.name == name)


def _resolve(project: Project, run: RunDirectory, axis: Axis, prompt: str) -> list:
    if axis.name == "step":
        resolved = []
        lineage = lineage_checkpoints(project, run)  # a continued run's steps go on from its parent's
        by_step = {checkpoint.step: checkpoint for checkpoint in lineage}
        for value in axis.values:
            if value == "all":
                resolved.extend(lineage or [find_checkpoint(run, None)])
            elif value == "suggested":
                resolved.extend(_suggested_and_neighbours(run, lineage))
            elif value in by_step:
                resolved.append(by_step[value])
            else:
                resolved.append(find_checkpoint(run, None if value == "last" else value))
        return resolved
    if axis.name == "model":
        return [_existing_model(project, value) for value in axis.values]
    if axis.name == "prompt":
        search = axis.values[0]
        if search not in prompt:
            raise UserError(f'the prompt axis "{axis.spec}" searches for "{search}", which the prompt "{prompt}" does not contain')
        return list(axis.values)
    return list(axis.values)


def _suggested_and_neighbours(run: RunDirectory, lineage: list) -> list:
    """The checkpoint suggested and the saved ones either side of it, to judge it by eye; the last when none is."""
    from ti_tui.runs.suggestion import suggestion_for

    checkpoints = lineage or [find_checkpoint(run, None)]
    suggestion = suggestion_for(run)
    steps = [checkpoint.step for checkpoint in checkpoints]
    at = steps.index(suggestion.step) if suggestion is not None and suggestion.step in steps else len(steps) - 1
    return checkpoints[max(0, at - 1) : at + 2]


def _existing_model(project: Project, text: str) -> str:
    if text.lower() == "base":
        return project.settings.model.base
    source = classify_model_source(text, project.root)
    if source.kind == "missing":
        raise UserError(f"the model {text} does not exist (looked for {source.path})")
    if source.kind == "folder":
        if not (source.path / "model_index.json").is_file():
            raise UserError(
                f"the model folder {source.path} is not a model: a model folder (diffusers layout) holds model_index.json "
                "beside its unet, vae, text_encoder, tokenizer and scheduler folders; name such a folder, or a .safetensors or .ckpt file"
            )
        family_of_diffusers_folder(source.path)  # its configs read now: a folder missing a part is refused before a process starts
    if source.kind == "file":
        if source.path.stat().st_size == 0:
            raise UserError(f"the model file {source.path} is empty: name a .safetensors or .ckpt model checkpoint")
        if source.path.suffix.lower() == ".safetensors":
            # Its header, a few kilobytes, tells a model from an embedding or a LoRA; a pickle waits for the renderer.
            family_from_shapes(read_safetensors_header(source.path)[0], os.fspath(source.path))
    return text


def _model_for_loading(project: Project, text: str) -> str:
    source = classify_model_source(text, project.root)
    return os.fspath(source.path) if source.path is not None else text


def _model_label(text: str) -> str:
    return text if text.startswith("builtin:") else Path(text.rstrip("/")).name.removesuffix(".safetensors").removesuffix(".ckpt")


def _model_identity(project: Project, text: str) -> str:
    """What changes when the model's weights change, without reading gigabytes: paths, sizes and times."""
    source = classify_model_source(text, project.root)
    if source.path is None:
        return text
    paths = [source.path] if source.path.is_file() else sorted(path for path in source.path.rglob("*") if path.is_file())
    stamps = [(os.path.realpath(path), path.stat().st_size, path.stat().st_mtime_ns) for path in paths]
    return json.dumps(stamps)


def _grid_axis(role: str, axis: Axis, values: list) -> GridAxis:
    title = AXIS_KINDS[axis.name].title
    return GridAxis(role, axis.name, title, tuple(f"{title}: {_shown(axis.name, value)}" for value in values), axis.spec)


def _shown(name: str, value) -> str:
    if name == "step":
        return str(value.step)
    if name == "model":
        return _model_label(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# Running a grid ---------------------------------------------------------------------------------


def grids_dir(project: Project) -> Path:
    return project.root / "grids"


def list_grids(project: Project) -> list[GridDirectory]:
    """The project's grids, oldest first."""
    folder = grids_dir(project)
    if not folder.is_dir():
        return []
    return [GridDirectory(path) for path in sorted(folder.iterdir()) if (path / "grid.json").is_file()]


def start_grid(project: Project, plan: GridPlan) -> tuple[GridDirectory, object]:
    """A new grid folder with the plan, and its renderer started detached; returns once the renderer holds its
    lock, or has ended.

    One grid at a time per project: starters at the same moment take turns (as runs' starters do), so
    they get one grid between them and the others are refused.
    """
    with starting_one_at_a_time(project.root):
        other = active_grid(project)
        if other is not None:
            raise UserError(f"grid {other.id} is still rendering{_progress(other)}; wait for it or stop it first")
        grid = _new_grid_folder(project)
        grid.write_plan(plan)
        command = [sys.executable, "-m", "ti_tui.infer.xy", os.fspath(grid.path)]
        process, process_started = spawn_detached(command, grid.log_file, grid.path)
        grid.record_launch(process.pid, process_started)
        wait_for_its_lock(grid, process, STARTUP_GRACE_SECONDS)
    return grid, process


def _new_grid_folder(project: Project) -> GridDirectory:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(100):
        grid = GridDirectory(grids_dir(project) / (stamp + (f"-{attempt}" if attempt else "")))
        try:
            grid.path.mkdir(parents=True)
            return grid
        except FileExistsError:
            continue
    raise UserError(f"cannot make a new grid folder in {grids_dir(project)}")


def active_grid(project: Project) -> GridDirectory | None:
    """The grid a renderer is at work on (or about to be), whichever grid it is; None when none is.

    A grid whose grid.json cannot be read is at work only while a renderer holds its lock; otherwise
    it is passed over, so that it does not stand in the way of every new grid.
    """
    for grid in reversed(list_grids(project)):
        try:
            if grid_status(grid).active:
                return grid
        except UserError:
            if grid.is_locked():
                return grid
    return None


def _progress(grid: GridDirectory) -> str:
    try:
        status = grid_status(grid)
    except UserError:
        return ""
    return f" ({status.done} of {status.total} cells)"


def grid_status(grid: GridDirectory) -> GridStatus:
    events = RunWatcher(grid.events_file).poll()
    return status_from_events(grid, events)


def status_from_events(grid: GridDirectory, events: list[dict]) -> GridStatus:
    total = len(grid.plan().cells)
    status = GridStatus("starting", 0, total)
    for event in events:
        kind = event.get("type")
        if kind == "started":
            status.state, status.done = "rendering", event.get("reused", 0)
        elif kind == "loading":
            status.message = f"loading {event.get('model')}"
        elif kind == "cell":
            status.done = event.get("done", status.done)
        elif kind == "grid":
            status.images.append(Path(event["path"]))
        elif kind == "error":
            status.message = event.get("message", "")
        elif kind == FINAL_EVENT:
            reason = event.get("reason")
            status.state = "finished" if reason == "completed" else "stopped" if reason == "stopped" else "failed"
            status.message = event.get("message", status.message)
    if status.active and not grid.is_locked() and not _starting(grid):
        status.state = "lost"
        status.message = f"the renderer ended without a word; its output is in {grid.log_file}"
    return status


def _starting(grid: GridDirectory) -> bool:
    launch = grid.launch()
    fresh = time.time() - launch.get("started", 0) < STARTUP_GRACE_SECONDS
    return fresh and process_alive(launch.get("pid"), launch.get("process_started"))


def stop_grid(grid: GridDirectory) -> None:
    status = grid_status(grid)
    if not status.active:
        raise UserError(f"grid {grid.id} is not rendering: it {status.state}")
    grid.ask_to_stop()


def stop_active_grid(project: Project) -> GridDirectory:
    """Ask the renderer at work on the project, on whichever of its grids, to stop after the cell it is rendering."""
    grid = active_grid(project)
    if grid is None:
        raise UserError(f"no grid is rendering in {project.name}, so there is nothing to stop")
    grid.ask_to_stop()
    return grid


def with_model_added(project: Project, model: Path) -> dict[str, str]:
    """The [xy] change that puts `model` on the grid: onto the model axis, else onto the first free one beside the base."""
    source = classify_model_source(os.fspath(model), project.root)
    if source.kind not in ("file", "folder"):
        raise UserError(f"{model} is not a model file or folder")
    text = os.fspath(source.path)
    quoted = f'"{text}"' if "," in text or '"' in text else text
    xy = project.settings.xy
    specs = {"z": xy.z, "y": xy.y, "x": xy.x}
    for role, spec in specs.items():
        axis = parse_axis(spec)
        if axis is not None and axis.name == "model":
            if text in axis.values:
                raise UserError(f"{text} is already on the {role} axis")
            return {f"xy.{role}": f"{spec.rstrip()},{quoted}"}
    for role, spec in specs.items():
        if not spec.strip():
            return {f"xy.{role}": f"model=base,{quoted}"}
    raise UserError("all three axes are in use; empty one (such as z) to compare models")
