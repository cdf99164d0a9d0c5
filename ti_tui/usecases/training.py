"""Starting, resuming, finding and stopping runs, and starting the trainer so that it outlives its starter.

Shared by `ti-tui train` and the wizard. The trainer runs as `python -m ti_tui.train RUN_DIR` in a
session of its own, with no terminal and its output going to trainer.log: closing the wizard or
losing the SSH link does not reach it.
"""

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from ti_tui.dataset.files import list_image_files
from ti_tui.dataset.training_set import training_captions, training_items, unreadable_images
from ti_tui.detached import spawn_detached, starting_one_at_a_time, wait_for_its_lock
from ti_tui.errors import FindingsError, UserError
from ti_tui.findings import Fix
from ti_tui.fsutil import file_sha256
from ti_tui.paths import resolved, user_path
from ti_tui.project import Project, value_problem
from ti_tui.prompts import TagOptions, build_prompt, load_templates
from ti_tui.runs import RunDirectory, RunFacts, RunImage, run_status
from ti_tui.runs.directory import Launch, ParentCheckpoint
from ti_tui.runs.status import STARTUP_GRACE_SECONDS, run_is_active
from ti_tui.sd.tokens import suggest_vector_count
from ti_tui.torch_files import run_with_torch
from ti_tui.usecases.images import originals
from ti_tui.usecases.summary import summarize_project


def create_run(project: Project, steps: int | None = None, start_from: Path | None = None) -> RunDirectory:
    """A new run of `project`: its settings and images frozen in run.json, ready to launch.

    `steps` replaces training.steps for this run; `start_from` is a checkpoint whose vectors the
    run starts from instead of the init text's, and whose count of vectors the run takes.
    """
    settings = project.settings
    if steps is not None:
        problem = value_problem("training.steps", steps)
        if problem:
            raise UserError(f"a run of {steps} steps cannot be made: {problem.what.split(': ', 1)[1]}")
    if start_from is not None:
        start_from = checkpoint_to_start_from(start_from)
    items = training_items(originals(project), project.prepared_dir, project.settings.training.captions_from_file_names)
    # The trainer reads an image only when it first draws it, maybe hours in: damage is found now.
    problems = summarize_project(project).errors + unreadable_images(items, project.prepared_dir)
    if problems:
        raise FindingsError("The project cannot be trained yet:", problems)
    check_runs_folder(project)
    refuse_while_training(project)
    if start_from is not None:
        vectors = _vectors_to_start_from(project, start_from)
    else:
        vectors = settings.token.vectors or suggest_vector_count(len(items), settings.dataset.kind)[0]
    parent = _parent_of(start_from) if start_from is not None else None
    facts = RunFacts(
        project=project.root,
        settings=settings,
        steps=steps or settings.training.steps,
        vectors=vectors,
        images=[RunImage(item.image, item.caption, file_sha256(item.image)) for item in items],
        initial_embedding=start_from,
        parent=parent,
        first_step=parent.step if parent is not None and parent.step is not None else 0,
    )
    run = RunDirectory(_new_run_folder(project, settings.token.trigger))
    run.write_facts(facts)
    return run


def notes_before_a_run(project: Project) -> list[str]:
    """What a run would train on that a user may not expect, in words: images not prepared, images without a
    caption. Neither stops a run; both change what it learns."""
    images = originals(project)
    if not images:
        return []
    notes = []
    if not list_image_files(project.prepared_dir):
        notes.append(
            f"The images are not prepared: the run trains on the {len(images)} originals, each cropped square at its "
            "centre. Preparing them first (p on Images) crops each around its subject."
        )
    captions = training_captions(images, project.prepared_dir, project.settings.training.captions_from_file_names)
    named = [caption for caption in captions.values() if caption.from_file_name and caption.text]
    if named:
        notes.append(
            f"{len(named)} of {len(captions)} images have no caption file and are captioned by their file names, "
            f'such as "{named[0].text}". Captions (step 2) shows them; training.captions_from_file_names turns that off.'
        )
    uncaptioned = [caption for caption in captions.values() if not caption.text]
    if uncaptioned:
        template = load_templates(project.settings.training.template, project.root)[0]
        example = build_prompt(template, project.settings.token.trigger, "", TagOptions(), random.Random(0))
        notes.append(
            f"{len(uncaptioned)} of {len(captions)} images have no caption: their prompts are the template alone, such as "
            f'"{example}". Captions (step 2) writes them.'
        )
    return notes


def checkpoint_to_start_from(checkpoint: Path) -> Path:
    """A checkpoint file for a new run to start from, made absolute; refused when it is not there (any more).

    Checked when it is chosen and again when the run is made: a file deleted in between must not
    quietly become a run from the init text.
    """
    path = resolved(checkpoint)
    if path.exists() and not path.is_file():
        raise UserError(
            f"{path} is {'a folder' if path.is_dir() else 'not a plain file'}, not a checkpoint; name an embedding file to start from"
        )
    if not path.is_file():
        raise UserError(
            f"the checkpoint {path} to start from is gone (moved or deleted, or never there); "
            "choose another checkpoint, or start from the init text"
        )
    return path


def start_new_run(project: Project, steps: int | None = None, start_from: Path | None = None) -> tuple[RunDirectory, subprocess.Popen]:
    """A new run created and its trainer started as one act: two front ends asking at the same moment get
    one run between them, and the other is refused."""
    with starting_one_at_a_time(project.root):
        run = create_run(project, steps, start_from)
        return run, start_trainer(run)


def resume_run(project: Project, run: RunDirectory) -> subprocess.Popen:
    """Start the trainer again on a run that ended early; it carries on exactly from its last checkpoint.

    Refused while another run is at work, as a new run is."""
    with starting_one_at_a_time(project.root):
        prepare_resume(run)
        refuse_while_training(project)
        return start_trainer(run)


def refuse_while_training(project: Project) -> None:
    """Two runs at once would share the GPU and the project: say which one is at work.

    A run whose run.json cannot be read is at work only while a trainer holds its lock; otherwise it
    is passed over, so that it does not stand in the way of every new run.
    """
    for other in list_runs(project):
        if not run_is_active(other):
            continue
        try:
            status = run_status(other)
        except UserError:
            doing = "running, though its run.json cannot be read"
        else:
            if not status.active:
                continue
            doing = f"{status.state} ({status.describe()})"
        raise UserError(
            f"run {other.id} is {doing}; two runs at once would share the GPU and the project. Wait for it, or stop it first",
            Fix("stop", other.id),
        )


def active_run(project: Project) -> RunDirectory | None:
    """The run a trainer is at work on (or about to be), whichever run it is; None when none is."""
    return next((run for run in reversed(list_runs(project)) if run_is_active(run)), None)


def stop_active_run(project: Project) -> RunDirectory:
    """Ask the trainer at work on the project, on whichever of its runs, to save a checkpoint and stop."""
    run = active_run(project)
    if run is None:
        runs = list_runs(project)
        if not runs:
            raise UserError(f"no run of {project.name} is running; it has no runs yet")
        try:
            newest = run_status(runs[-1]).describe()
        except UserError as error:
            newest = f"damaged: {error}"
        raise UserError(f"no run of {project.name} is running; the newest, {runs[-1].id}, is {newest}")
    stop_run(run)
    return run


def _vectors_to_start_from(project: Project, checkpoint: Path) -> int:
    """How many vectors the file a run is to start from holds, once it is known to suit the project.

    Checked before a run folder is made: the trainer would find out only after loading the model,
    leaving a failed run behind, and vectors that are not numbers would not fail at all, only
    diverge step after step. The files' tensors are read where torch is (see `run_with_torch`).
    """
    return run_with_torch(vectors_in_file_to_start_from, os.fspath(checkpoint), project.settings.model.base, os.fspath(project.root))


def vectors_in_file_to_start_from(checkpoint: str, model: str, base_dir: str) -> int:
    """`_vectors_to_start_from` for the model `model` (as model.base is written, relative to `base_dir`),
    whose width is read from its token table alone."""
    from ti_tui.embedding.files import check_fits, read_embedding
    from ti_tui.embedding.inspect import PROMPT_TOKENS
    from ti_tui.sd.loading import read_token_table

    checkpoint = Path(checkpoint)
    embedding_file = read_embedding(checkpoint)
    if not embedding_file.embedding.is_finite:
        raise UserError(
            f"{checkpoint} holds vectors that are not numbers (NaN or infinite), as a run that diverged leaves them; "
            "training from them can only diverge. Start from an earlier checkpoint, or from the init text",
            Fix("train"),
        )
    token_table = read_token_table(model, Path(base_dir))
    check_fits(embedding_file, token_table.family.label, token_table.weight.shape[1])
    vectors = embedding_file.embedding.vector_count
    if vectors > PROMPT_TOKENS:
        # The trainer would train the first ones and leave the rest as they are, saying nothing.
        raise UserError(
            f"{checkpoint} holds {vectors} vectors, more than the {PROMPT_TOKENS} a run can train (one prompt holds "
            f"{PROMPT_TOKENS} tokens, and every vector takes one); start from a file of at most {PROMPT_TOKENS} vectors, or from the init text",
            Fix("train"),
        )
    return vectors


def check_runs_folder(project: Project) -> None:
    """A file where the project keeps its runs is named, with what to do, before anything is listed or made there."""
    if project.runs_dir.exists() and not project.runs_dir.is_dir():
        raise UserError(
            f"{project.runs_dir} is a file, where {project.name} keeps its runs (a folder): move the file elsewhere (or delete it), then try again"
        )


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


def first_step_after(checkpoint: Path | None) -> int:
    """The step a run that goes on from `checkpoint` numbers its steps on from: the checkpoint's, when it lies in a run."""
    parent = _parent_of(checkpoint) if checkpoint is not None and checkpoint.is_file() else None
    return parent.step if parent is not None and parent.step is not None else 0


def _parent_of(checkpoint: Path) -> ParentCheckpoint | None:
    """The run a checkpoint came from, when it lies in one: `runs/<id>/checkpoints/<name>-<step>.safetensors`."""
    parent = RunDirectory(checkpoint.parent.parent)
    if checkpoint.parent.name != "checkpoints" or not parent.run_file.is_file():
        return None
    step = next((known.step for known in parent.checkpoints() if known.embedding == checkpoint), None)
    return ParentCheckpoint(parent.id, step, checkpoint)


def find_run(project: Project, name: str) -> RunDirectory:
    """A run of the project by its id, by its folder, or "last" for the newest one.

    Only a folder in the project's runs folder: a run of another project is started, stopped and
    listed by that project, and what is said about it here (how to stop it) would not find it.
    """
    if name == "last":
        runs = list_runs(project)
        if not runs:
            raise UserError(f"{project.name} has no runs yet", Fix("train"))
        return runs[-1]
    for candidate in (project.runs_dir / name, user_path(name, Path.cwd())):
        try:
            found = (candidate / "run.json").exists()
        except OSError as error:  # a name too long for a file: it names no run
            raise UserError(f"no run {name!r} in {project.runs_dir}: {error.strerror}", Fix("list-runs")) from None
        if found:
            folder = resolved(candidate)
            if folder.parent != resolved(project.runs_dir):
                raise UserError(
                    f"{folder} is not a run of {project.name}, whose runs are in {project.runs_dir}; "
                    f"work on it from the project whose runs folder holds it, {folder.parent}",
                    Fix("list-runs"),
                )
            return RunDirectory(folder)
    raise UserError(f"no run {name!r} in {project.runs_dir}", Fix("list-runs"))


def list_runs(project: Project) -> list[RunDirectory]:
    """The project's runs, oldest first."""
    return runs_in(project.runs_dir)


def runs_in(folder: Path) -> list[RunDirectory]:
    """The runs in a project's runs folder, oldest first; each run's own run.json says what it is, so
    they can be listed even while project.toml cannot be read. A run.json that is not a file is there
    all the same: the run is listed, as damaged."""
    if not folder.is_dir():
        return []
    return [RunDirectory(path) for path in sorted(folder.iterdir()) if (path / "run.json").exists()]


def prepare_resume(run: RunDirectory) -> None:
    """Refuse to resume a run that is alive or complete; a complete one is continued as a new run.

    Complete is also a run stopped or failed after the checkpoint of its last step: resuming it
    would train no step.
    """
    status = run_status(run)
    if status.active:
        raise UserError(f"run {run.id} is {status.state}; it needs no resuming")
    checkpoints = run.checkpoints()
    last = checkpoints[-1] if checkpoints else None
    if status.state == "finished" or (last is not None and last.step >= status.total_steps):
        raise UserError(
            f"run {run.id} finished all its steps; to train on, start a new run from its last checkpoint",
            Fix("continue-from", os.fspath(last.embedding)) if last else None,
        )


def stop_run(run: RunDirectory) -> None:
    """Ask a run's trainer to save a checkpoint and stop after the current step.

    A trainer that holds the run's lock is asked even when run.json cannot be read.
    """
    if not run.is_locked():
        status = run_status(run)
        if not status.active:
            raise UserError(f"run {run.id} is not running: {status.describe()}")
    run.ask_to_stop()


def start_trainer(run: RunDirectory) -> subprocess.Popen:
    """Launch the trainer detached: a new session, no terminal, output to trainer.log; returns once it
    holds the run's lock, or has ended.

    As many processes as the run was set up with (training.processes when it was created).
    """
    processes = run.facts().settings.training.processes
    module = ["-m", "ti_tui.train", os.fspath(run.path)]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *module]
    else:
        command = [sys.executable, *module]
    process, process_started = spawn_detached(command, run.log_file, run.path)
    run.record_launch(Launch(process.pid, time.time(), process_started, command))
    wait_for_its_lock(run, process, STARTUP_GRACE_SECONDS)
    return process
