"""train, runs, stop: running the trainer and keeping track of it."""

import argparse
from pathlib import Path

from ti_tui.commands import add_project_argument, finding_line, quoted
from ti_tui.errors import UserError


def add_commands(commands) -> None:
    train = commands.add_parser("train", help="train the project's embedding; the trainer runs on if this command ends")
    add_project_argument(train)
    train.add_argument("--steps", type=int, help="steps for this run (default: training.steps)")
    train.add_argument("--detach", action="store_true", help="start the trainer and return at once")
    train.add_argument("--resume", metavar="RUN", help="resume an interrupted run from its last checkpoint (RUN may be 'last')")
    train.add_argument("--from", dest="start_from", type=Path, metavar="CHECKPOINT", help="start a new run from these vectors")
    train.set_defaults(handler=train_project)

    runs = commands.add_parser("runs", help="list the project's training runs and what each is doing")
    add_project_argument(runs)
    runs.set_defaults(handler=list_project_runs)

    stop = commands.add_parser("stop", help="ask a running trainer to save a checkpoint and stop")
    add_project_argument(stop)
    stop.add_argument("run", nargs="?", help="the run id, or 'last' for the newest (default: the run at work)")
    stop.set_defaults(handler=stop_run)


def train_project(arguments: argparse.Namespace) -> int:
    from ti_tui.commands.progress import follow
    from ti_tui.intervals import describe_intervals, run_intervals, shortfalls
    from ti_tui.project import Project
    from ti_tui.runs import RunWatcher, run_status
    from ti_tui.schedule import LearningRateSchedule
    from ti_tui.usecases.summary import summarize_project
    from ti_tui.usecases.training import find_run, notes_before_a_run, resume_run, start_new_run

    project = Project.open(arguments.project)
    if arguments.resume:
        if arguments.steps is not None or arguments.start_from is not None:
            raise UserError("--resume carries on a run as it was set up; to change its steps, start a new run with --from")
        run = find_run(project, arguments.resume)
        watcher = RunWatcher(run.events_file)
        watcher.poll()  # what the run said before has been said
        process = resume_run(project, run)
        print(f"Resuming run {run.id}")
    else:
        for note in notes_before_a_run(project):
            print(f"Note: {note}")
        time_needed = _time_needed(project, arguments.steps)  # before the trainer starts, which would slow a probe
        run, process = start_new_run(project, steps=arguments.steps, start_from=arguments.start_from)
        watcher = RunWatcher(run.events_file)
        facts = run.facts()
        schedule = LearningRateSchedule.from_settings(facts.settings.schedule, facts.steps)
        carried_on = f" (steps {facts.first_step + 1}-{facts.last_step}, on from run {facts.parent.run})" if facts.first_step else ""
        print(f"Run {run.id}: {facts.steps} steps{carried_on}, {len(facts.images)} images, {facts.vectors} vector(s)")
        set_vectors = facts.settings.token.vectors
        if facts.initial_embedding is not None and set_vectors and set_vectors != facts.vectors:
            print(
                f"The run trains the {facts.vectors} vector(s) of {facts.initial_embedding.name}; "
                f"token.vectors = {set_vectors} counts only for runs that start from the init text"
            )
        print("Learning rate: " + "; ".join(schedule.describe(facts.first_step)))
        intervals = run_intervals(facts.settings, facts.steps)
        print(describe_intervals(intervals))
        if time_needed:
            print(time_needed)
        for missed in shortfalls(intervals, facts.first_step, facts.last_step):
            print(f"Warning: the run has {missed}")
        for finding in summarize_project(project).problems:
            if finding.check == "trigger":
                print(f"Warning: {finding_line(finding, project.root)}")
    if arguments.detach:
        print(f"The trainer runs in the background (process {process.pid}); its log is {run.log_file}")
        print(f"Check on it with `ti-tui runs {quoted(project.root)}`; stop it with `ti-tui stop {quoted(project.root)} {run.id}`")
        return 0
    try:
        final = follow(run, watcher, process, project=project.root)
    except KeyboardInterrupt:
        print(f"\nStopped watching; the trainer goes on. Stop it with: ti-tui stop {quoted(project.root)} {run.id}")
        return 130
    if final is None:  # no final event to tell: the run's folder does
        return 0 if run_status(run).state == "finished" else 1
    return 0 if final.get("reason") == "completed" else 1


def _time_needed(project, steps: int | None) -> str:
    """How long the run will take, as the Train step says it, from the device's speed kept a day."""
    from ti_tui.runs.timing import describe_time
    from ti_tui.sd.device import remembered_probe
    from ti_tui.usecases.forecast import forecast_run

    model = project.settings.model
    forecast = forecast_run(project, remembered_probe(model.device, model.precision), steps)
    if forecast.time is None:
        return f"Time: not estimated: {forecast.problem}" if forecast.problem else ""
    return f"Time: {describe_time(forecast.time)}, {forecast.time_source}"


def list_project_runs(arguments: argparse.Namespace) -> int:
    """Each run with what it is doing; a damaged one is listed as such, with what to do, among the others."""
    from ti_tui.paths import user_path
    from ti_tui.project import PROJECT_FILE_NAME, Project, ProjectFileError
    from ti_tui.usecases.training import check_runs_folder, list_runs, runs_in

    try:
        project = Project.open(arguments.project)
    except ProjectFileError:
        # The runs keep their own settings: list them, then say what is wrong with project.toml.
        root = user_path(str(arguments.project), Path.cwd())
        _print_runs(runs_in((root.parent if root.name == PROJECT_FILE_NAME else root) / "runs"))
        raise
    check_runs_folder(project)
    runs = list_runs(project)
    if not runs:
        print(f"{project.name} has no runs yet; start one with: ti-tui train {quoted(project.root)}")
    _print_runs(runs)
    return 0


def _print_runs(runs) -> None:
    from ti_tui.runs import run_status
    from ti_tui.runs.suggestion import suggestion_for

    for run in runs:
        suggestion = None
        try:
            doing = run_status(run).describe()
            suggestion = suggestion_for(run)
        except UserError as error:
            doing = f"damaged: {error}"
        print(f"{run.id}  {doing}")
        if suggestion is not None:
            print(f"  Suggested: {suggestion.words}")


def stop_run(arguments: argparse.Namespace) -> int:
    from ti_tui.project import Project
    from ti_tui.usecases import training

    project = Project.open(arguments.project)
    run = training.find_run(project, arguments.run) if arguments.run is not None else None
    try:
        if run is None:
            run = training.stop_active_run(project)
        else:
            training.stop_run(run)
    except UserError as error:
        text = str(error)
        print(text[:1].upper() + text[1:])
        return 1
    print(f"Asked run {run.id} to save a checkpoint and stop (it stops after the current step).")
    return 0
