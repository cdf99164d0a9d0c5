"""The steps of the journey and how far a project has come on each, told from its files alone.

Images, Captions, Token, Settings, Train, Compare, Apply: each is done, needs attention, or not yet
begun, with a line that says why; a step that cannot work yet names the step to do first. Nothing
here is remembered between calls, so every front end, and every wizard open on the project, sees
the same.
"""

from dataclasses import dataclass
from typing import Literal

from ti_tui.dataset.captions import caption_warnings, captions_of
from ti_tui.dataset.checks import MIN_IMAGES
from ti_tui.dataset.files import list_image_files
from ti_tui.errors import UserError
from ti_tui.intervals import run_intervals, shortfalls
from ti_tui.project import Project
from ti_tui.usecases.summary import ProjectSummary, summarize_project

Step = Literal["images", "captions", "token", "settings", "train", "compare", "apply"]
STEPS: tuple[Step, ...] = ("images", "captions", "token", "settings", "train", "compare", "apply")
STEP_TITLES: dict[Step, str] = {
    "images": "Images",
    "captions": "Captions",
    "token": "Token",
    "settings": "Settings",
    "train": "Train",
    "compare": "Compare",
    "apply": "Apply",
}
Progress = Literal["done", "attention", "not-yet"]
# The step where the user mends each kind of problem the project's checks find (Finding.check).
FIXED_AT: dict[str, Step] = {
    "images": "images",
    "count": "images",
    "prepared": "images",
    "unreadable": "images",
    "caption": "captions",
    "trigger": "token",
    "model": "settings",
    "tokenizer": "settings",
    "device": "settings",
    "setting": "settings",
    "cache": "settings",
}


@dataclass(frozen=True)
class StepState:
    step: Step
    progress: Progress
    line: str  # where the project stands on this step, in a few words
    first: Step | None = None  # the step to do before this one can work
    run_at_work: bool = False  # the Train step only: a run is training, so this state changes when it ends


def step_states(project: Project, summary: ProjectSummary | None = None) -> dict[Step, StepState]:
    """Every step's state; pass a fresh summary to save working it out again."""
    summary = summary or summarize_project(project)
    states = [
        _images(project, summary),
        _captions(project),
        _token(project, summary),
        _settings(project, summary),
        _train(project, summary),
    ]
    states += [_compare(project), _apply(project)]
    return {state.step: state for state in states}


def _images(project: Project, summary: ProjectSummary) -> StepState:
    count = summary.image_count
    if count == 0:
        return StepState("images", "not-yet", "no images yet")
    blocking = [problem for problem in summary.errors if problem.check in ("images", "count", "prepared", "unreadable")]
    if blocking:
        return StepState("images", "attention", blocking[0].what.rstrip("."))
    prepared = len(list_image_files(project.prepared_dir))
    if not prepared:
        return StepState("images", "attention", f"{count} images, not prepared yet")
    return StepState("images", "done", f"{count} images, prepared")


def _captions(project: Project) -> StepState:
    prepared = list_image_files(project.prepared_dir)
    if not prepared:
        return StepState("captions", "not-yet", "the images are not prepared yet", first="images")
    settings = project.settings
    captions = captions_of(prepared, project.prepared_dir, settings.training.captions_from_file_names)
    missing = sum(1 for caption in captions.values() if not caption.text)
    warnings = caption_warnings(captions, settings.token.trigger, settings.token.init_text, settings.training.template)
    if missing == len(prepared):
        return StepState("captions", "not-yet", "no captions yet")
    if missing:
        return StepState("captions", "attention", f"{missing} of {len(prepared)} images have no caption")
    if warnings:
        return StepState("captions", "attention", f"{len(warnings)} caption warning(s)")
    return StepState("captions", "done", f"{len(prepared)} captions")


def _token(project: Project, summary: ProjectSummary) -> StepState:
    token = project.settings.token
    if not token.trigger:
        return StepState("token", "not-yet", "no trigger word yet")
    doubts = [problem for problem in summary.problems if problem.check == "trigger"]
    if doubts:  # a word the tokenizer knows already, say: it drags its old meaning along
        return StepState("token", "attention", doubts[0].what.rstrip("."))
    vectors = f"{token.vectors} vector(s)" if token.vectors else "vectors suggested"
    return StepState("token", "done", f"{token.trigger}, {vectors}")


def _settings(project: Project, summary: ProjectSummary) -> StepState:
    blocking = [problem for problem in summary.errors if problem.check in ("model", "tokenizer")]
    if blocking:
        return StepState("settings", "attention", blocking[0].what.rstrip("."))
    steps = project.settings.training.steps
    missed = shortfalls(run_intervals(project.settings, steps), 0, steps)
    if missed:
        return StepState("settings", "attention", f"a run would have {missed[0]}")
    return StepState("settings", "done", summary.model_text)


def _train(project: Project, summary: ProjectSummary) -> StepState:
    from ti_tui.runs import run_status
    from ti_tui.usecases.training import list_runs

    runs = list_runs(project)
    if not runs:
        if summary.errors or summary.image_count < MIN_IMAGES:
            return StepState("train", "not-yet", "the project cannot be trained yet", first="images")
        return StepState("train", "not-yet", "no runs yet")
    try:
        status = run_status(runs[-1])
    except UserError as error:
        return StepState("train", "attention", str(error))
    if status.active:
        line = f"run {status.state}, step {status.step} of {status.total_steps}"
        return StepState("train", "attention", line, run_at_work=True)
    if status.state == "finished":
        return StepState("train", "done", f"trained {status.step} steps")
    return StepState("train", "attention", f"the last run {status.state} at step {status.step}")


def _compare(project: Project) -> StepState:
    from ti_tui.usecases.compare import list_grids
    from ti_tui.usecases.training import list_runs

    if not any(run.checkpoints() for run in list_runs(project)):
        return StepState("compare", "not-yet", "no checkpoints yet", first="train")
    export = project.settings.export
    if export.step:
        return StepState("compare", "done", f"step {export.step} chosen")
    grids = len(list_grids(project))
    if grids:
        return StepState("compare", "attention", f"{grids} grid(s), no checkpoint chosen yet")
    return StepState("compare", "not-yet", "no grids yet")


def _apply(project: Project) -> StepState:
    from ti_tui.usecases.export import plan_export
    from ti_tui.usecases.training import list_runs

    if not any(run.checkpoints() for run in list_runs(project)):
        return StepState("apply", "not-yet", "nothing to export yet", first="train")
    try:
        plan = plan_export(project)
    except UserError as error:
        return StepState("apply", "attention", str(error))
    if plan.paths and set(plan.paths) == set(plan.existing):
        return StepState("apply", "done", f"exported {', '.join(path.name for path in plan.paths)}")
    return StepState("apply", "not-yet", "not exported yet")


def has_active_run(project: Project) -> bool:
    """A trainer is at work on the project: the wizard opens on Train."""
    from ti_tui.usecases.training import active_run

    return active_run(project) is not None
