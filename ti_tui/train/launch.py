"""Starting runs, resuming them, and starting the trainer so that it outlives whoever started it.

Shared by `ti-tui train` and the wizard. The trainer runs as `python -m ti_tui.train RUN_DIR` in a
session of its own, with no terminal and its output going to trainer.log: closing the TUI or
losing the SSH link does not reach it.
"""

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from ti_tui.dataset.reading import ImageProblem, check_readable
from ti_tui.dataset.training_set import training_items
from ti_tui.errors import UserError
from ti_tui.fsutil import file_sha256
from ti_tui.project import Project
from ti_tui.project.summary import summarize_project
from ti_tui.sd.tokens import suggest_vector_count
from ti_tui.train.run import RunDirectory, run_status


def create_run(project: Project, steps: int | None = None, start_from: Path | None = None) -> RunDirectory:
    """A new run of `project`: its settings and images frozen in run.json, ready to launch."""
    settings = project.settings
    items = training_items(project.images_dir, project.prepared_dir, settings.dataset.recursive)
    # The trainer reads an image only when it first draws it, maybe hours in: damage is found now.
    problems = [problem.text for problem in summarize_project(project).errors] + _unreadable_images(items)
    if problems:
        raise UserError("The project cannot be trained yet:\n  " + "\n  ".join(problems))
    for other in list_runs(project):
        status = run_status(other)
        if status.state in ("starting", "running", "paused"):
            raise UserError(
                f"run {other.id} is {status.state} ({status.describe()}); two runs at once would share the GPU "
                f"and the project. Wait for it, or stop it first: ti-tui stop {shlex.quote(str(project.root))} {other.id}"
            )
    vectors = settings.token.vectors or suggest_vector_count(len(items), settings.dataset.kind)[0]
    facts = {
        "v": 1,
        "created": time.time(),
        "project": os.fspath(project.root),
        "settings": settings.to_toml_data(),
        "steps": steps or settings.training.steps,
        "vectors": vectors,
        "images": [
            {"image": os.fspath(item.image), "caption": item.caption, "sha256": file_sha256(item.image)} for item in items
        ],
        "initial_embedding": None,
        "parent": None,
        "launches": [],
    }
    if start_from is not None:
        start_from = Path(start_from).expanduser().resolve()
        if not start_from.is_file():
            raise UserError(f"--from {start_from}: no such checkpoint file")
        facts["initial_embedding"] = os.fspath(start_from)
        facts["parent"] = _parent_of(start_from)
    run = RunDirectory(_new_run_folder(project, settings.token.trigger))
    run.write(facts)
    return run


def _unreadable_images(items) -> list[str]:
    sentences = []
    for item in items:
        try:
            check_readable(item.image)
        except ImageProblem as problem:
            sentences.append(f"{problem} Replace or remove it.")
    return sentences


def _new_run_folder(project: Project, trigger: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(100):
        folder = project.runs_dir / (f"{stamp}-{trigger}" + (f"-{attempt}" if attempt else ""))
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise UserError(f"cannot make a new run folder in {project.runs_dir}")


def _parent_of(checkpoint: Path) -> dict | None:
    """The run a checkpoint came from, when it lies in one: `runs/<id>/checkpoints/<name>-<step>.safetensors`."""
    parent = RunDirectory(checkpoint.parent.parent)
    if checkpoint.parent.name != "checkpoints" or not parent.run_file.is_file():
        return None
    step = next((known.step for known in parent.checkpoints() if known.embedding == checkpoint), None)
    return {"run": parent.id, "step": step, "checkpoint": os.fspath(checkpoint)}



def find_run(project: Project, name: str) -> RunDirectory:
    """A run by its id, by its folder, or "last" for the newest one."""
    if name == "last":
        runs = list_runs(project)
        if not runs:
            raise UserError(f"{project.name} has no runs yet; start one with: ti-tui train {project.root}")
        return runs[-1]
    for candidate in (project.runs_dir / name, Path(name).expanduser()):
        if (candidate / "run.json").is_file():
            return RunDirectory(candidate.resolve())
    raise UserError(f"no run {name!r} in {project.runs_dir}; `ti-tui runs {project.root}` lists them")


def list_runs(project: Project) -> list[RunDirectory]:
    if not project.runs_dir.is_dir():
        return []
    return [RunDirectory(path) for path in sorted(project.runs_dir.iterdir()) if (path / "run.json").is_file()]


def prepare_resume(run: RunDirectory) -> None:
    """Refuse to resume a run that is alive or complete; a complete one is continued as a new run."""
    status = run_status(run)
    if status.state in ("starting", "running", "paused"):
        raise UserError(f"run {run.id} is {status.state}; it needs no resuming")
    if status.state == "finished":
        raise UserError(
            f"run {run.id} finished all its steps; to train on, start a new run from its last checkpoint: "
            f"ti-tui train PROJECT --from {status.last_checkpoint.embedding if status.last_checkpoint else 'CHECKPOINT'}"
        )


def start_trainer(run: RunDirectory) -> subprocess.Popen:
    """Launch the trainer detached: a new session, no terminal, output to trainer.log.

    As many processes as the run was set up with (training.processes when it was created).
    """
    import psutil

    processes = run.read()["settings"]["training"]["processes"]
    module = ["-m", "ti_tui.train", os.fspath(run.path)]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *module]
    else:
        command = [sys.executable, *module]
    with open(run.log_file, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=run.path,
        )
    try:
        process_started = psutil.Process(process.pid).create_time()
    except psutil.Error:
        process_started = None  # already gone; its events or the log say why
    facts = run.read()
    facts["launches"].append(
        {"pid": process.pid, "pgid": process.pid, "started": time.time(), "process_started": process_started, "command": command}
    )
    run.write(facts)
    return process
