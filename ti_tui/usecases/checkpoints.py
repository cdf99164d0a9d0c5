"""Which checkpoint the user means: the one chosen in Compare (kept in project.toml), a step, or the last."""

from collections.abc import Iterator
from dataclasses import replace

from ti_tui.errors import UserError
from ti_tui.findings import Fix
from ti_tui.project import Project
from ti_tui.runs import RunDirectory
from ti_tui.runs.directory import Checkpoint, RunFacts
from ti_tui.runs.history import CheckpointRow
from ti_tui.runs.status import read_history
from ti_tui.usecases.training import find_run, list_runs


def run_of_choice(project: Project, run_name: str | None = None) -> RunDirectory:
    """The run named, else the one export.run names, else the newest run that has a checkpoint."""
    name = run_name or project.settings.export.run
    if name:
        return find_run(project, name)
    runs = list_runs(project)
    if not runs:
        raise UserError(f"{project.name} has no runs yet, so there is no checkpoint to use", Fix("train"))
    with_checkpoints = [run for run in runs if run.checkpoints()]
    return (with_checkpoints or runs)[-1]


def find_checkpoint(run: RunDirectory, step: int | None) -> Checkpoint:
    """The checkpoint at `step` (None or 0: the last) of `run`; a missing one is named with those there are."""
    checkpoints = run.checkpoints()
    if not checkpoints:
        raise UserError(f"run {run.id} has saved no checkpoint yet")
    if not step:
        return checkpoints[-1]
    for checkpoint in checkpoints:
        if checkpoint.step == step:
            return checkpoint
    steps = ", ".join(str(checkpoint.step) for checkpoint in checkpoints)
    raise UserError(f"run {run.id} has no checkpoint at step {step}; it has {steps}")


def chosen_checkpoint(project: Project, step: int | None = None, run_name: str | None = None) -> tuple[RunDirectory, Checkpoint]:
    """The checkpoint to export or generate with: the step given, else the one chosen in Compare, else the last."""
    run = run_of_choice(project, run_name)
    settings = project.settings.export
    if step is None and run_name is None and settings.run in ("", run.id):
        step = settings.step
    return run, find_checkpoint(run, step)


def choose_checkpoint(project: Project, run: RunDirectory, step: int) -> None:
    """Remember the checkpoint the user picked, for Apply and `ti-tui export`."""
    find_checkpoint(run, step)
    project.update({"export.run": run.id, "export.step": step})


def lineage_checkpoints(project: Project, run: RunDirectory) -> list[Checkpoint]:
    """The run's checkpoints after those of the runs it goes on from, up to the step each went on from: one
    numbering over a run continued with c (its steps count on from its parent's checkpoint). A parent that
    is gone, or whose run.json cannot be read, ends the line."""
    earlier: list[Checkpoint] = []
    for parent, parent_facts, reached in _parents(project, run):
        earlier = [checkpoint for checkpoint in parent.checkpoints(parent_facts) if checkpoint.step <= reached] + earlier
    return earlier + run.checkpoints()


def earlier_checkpoint_rows(project: Project, run: RunDirectory) -> list[CheckpointRow]:
    """The checkpoints of the runs `run` goes on from, up to the step each went on from, newest first: each with
    the validation loss and the longest vector its own run recorded, and that run's name."""
    rows: list[CheckpointRow] = []
    for parent, _, reached in _parents(project, run):
        with read_history(parent) as history:
            rows += [replace(row, run=parent.id) for row in history.checkpoint_rows() if row.step <= reached]
    return rows


def _parents(project: Project, run: RunDirectory) -> Iterator[tuple[RunDirectory, RunFacts, int]]:
    """Each run `run` goes on from, nearest first, with its facts and the step the next one went on from."""
    seen = {run.id}
    facts = run.facts()
    while facts.parent is not None and facts.parent.run not in seen:
        seen.add(facts.parent.run)
        try:
            parent = find_run(project, facts.parent.run)
            parent_facts = parent.facts()
        except UserError:
            return
        yield parent, parent_facts, facts.parent.step if facts.parent.step is not None else facts.first_step
        facts = parent_facts
