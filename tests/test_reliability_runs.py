"""Runs as a hostile tester met them: starts that race, resumes that skip the one-run rule, a damaged
run.json, a run of another project, a deleted event log, absurd step counts and bad --from files.

Each test says in its docstring what it reproduces. A trainer is stood in for, where a test can, by
this process holding the run's lock (which is what says a trainer lives); the few that need a real
trainer are marked slow.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from conftest import run_ti_tui, wait_for

from ti_tui.cli import main
from ti_tui.detached import spawn_detached
from ti_tui.embedding.files import Embedding, write_embedding
from ti_tui.errors import UserError
from ti_tui.runs import RunDirectory, run_status
from ti_tui.runs.directory import Launch, TrainerLock
from ti_tui.usecases import training
from ti_tui.usecases.doctor import diagnose

EVERY_TEN_STEPS = {"training.save_every": 10, "training.validation_every": 10}


@pytest.fixture(autouse=True)
def no_process_left_behind(tmp_path):
    """Every process a test started that works on its folders (trainers, stand-ins) is ended after it."""
    yield
    for process in psutil.process_iter(["pid", "cmdline"]):
        if process.pid != os.getpid() and str(tmp_path) in " ".join(process.info["cmdline"] or []):
            try:
                process.kill()
            except psutil.Error:
                continue


def saved_checkpoints(run: RunDirectory, *steps: int) -> None:
    """Checkpoint files as the trainer leaves them at these steps; nothing here reads their contents."""
    for step in steps:
        checkpoint = run.checkpoint_paths("zorbot", step)
        for path in (checkpoint.embedding, checkpoint.state):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")


def cli(capsys, *arguments: str) -> tuple[int, str, str]:
    """`ti-tui ARGUMENTS` in this process: (exit code, output, errors)."""
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_folders(project) -> list[str]:
    return sorted(path.name for path in project.runs_dir.iterdir()) if project.runs_dir.is_dir() else []


# 1. One run at a time, also when starts race ---------------------------------------------------


@pytest.mark.slow  # starts a trainer or helper process
def test_a_start_returns_only_once_the_trainer_holds_its_lock(trainable_project, monkeypatch):
    """Reproduces the window in which two runs could start: a trainer launched but not yet holding its
    lock is alive only by its process number and start time, and a start-time read that moves (the
    wall clock does) or a slow import made the next starter take it for gone. The starter now holds
    the project until the trainer holds its lock, so the next one sees the lock."""
    project = trainable_project()
    slow_to_lock = (
        "import fcntl, sys, time; time.sleep(1.5); lock = open(sys.argv[1], 'a+b'); fcntl.flock(lock, fcntl.LOCK_EX); time.sleep(60)"
    )

    def stand_in_trainer(command, log_file, cwd):
        return spawn_detached([sys.executable, "-c", slow_to_lock, str(cwd / "trainer.lock")], log_file, cwd)

    monkeypatch.setattr(training, "spawn_detached", stand_in_trainer)
    run, _ = training.start_new_run(project, steps=20)
    assert run.is_locked()
    with pytest.raises(UserError, match=f"run {run.id} is running .*two runs at once"):
        training.start_new_run(project, steps=20)
    assert run_folders(project) == [run.id]


@pytest.mark.slow  # starts a trainer or helper process
def test_the_trainer_holds_its_lock_before_it_loads_torch(trainable_project, tmp_path):
    """Quitting the wizard just after `t` took some 20 s on a busy machine: the start waits for the
    trainer's lock, which it took only after importing torch. A stand-in torch that never finishes
    importing shows the lock held first."""
    project = trainable_project()
    run = training.create_run(project, steps=2)
    stand_in = tmp_path / "stand-in" / "torch"
    stand_in.mkdir(parents=True)
    importing = tmp_path / "torch-importing"
    (stand_in / "__init__.py").write_text(f"import pathlib, time\npathlib.Path({str(importing)!r}).touch()\ntime.sleep(600)\n")
    trainer = subprocess.Popen(
        [sys.executable, "-m", "ti_tui.train", str(run.path)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(stand_in.parent), *sys.path])},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: importing.exists() or trainer.poll() is not None, what="the trainer to import torch")
        assert trainer.poll() is None, "the trainer ended instead of importing the stand-in torch"
        assert run.is_locked()
    finally:
        trainer.kill()
        trainer.wait()


@pytest.mark.slow
def test_three_train_commands_at_once_start_exactly_one_trainer(trainable_project):
    """Reproduces `for i in 1 2 3; do ti-tui train P --steps 20 --detach & done`, which started two
    runs: three real processes at once, three times over, and each time one trainer."""
    for attempt in range(3):
        project = trainable_project(f"race-{attempt}", **EVERY_TEN_STEPS)
        starts = [
            subprocess.Popen(
                [sys.executable, "-m", "ti_tui", "train", str(project.root), "--steps", "20", "--detach"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        results = []
        for start in starts:
            output, errors = start.communicate(timeout=300)
            results.append((start.returncode, output, errors))
        (run_id,) = run_folders(project)
        run = RunDirectory(project.runs_dir / run_id)
        trainers = [
            process
            for process in psutil.process_iter(["cmdline"])
            if "ti_tui.train" in (process.info["cmdline"] or []) and str(project.runs_dir) in " ".join(process.info["cmdline"])
        ]
        assert len(trainers) == 1 and len(run.facts().launches) == 1
        assert sorted(code for code, _, _ in results) == [0, 2, 2], results
        refusals = [errors for code, _, errors in results if code == 2]
        assert all(f"run {run_id} is " in errors and "two runs at once" in errors for errors in refusals), refusals
        os.killpg(trainers[0].pid, signal.SIGKILL)


# 2. A resume is a start too -----------------------------------------------------------------------


@pytest.mark.slow  # starts a trainer or helper process
def test_resuming_a_stopped_run_is_refused_while_another_run_trains(trainable_project):
    """Reproduces `ti-tui train P --resume <stopped run B>` starting a second trainer while run A trains."""
    project = trainable_project()
    stopped = training.create_run(project, steps=20)
    saved_checkpoints(stopped, 10)
    at_work = training.create_run(project, steps=20)
    lock = TrainerLock(at_work)  # this process stands in for A's trainer
    try:
        result = run_ti_tui("train", str(project.root), "--resume", stopped.id)
    finally:
        lock.release()
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"run {at_work.id} is running" in result.stderr and f"ti-tui stop {project.root} {at_work.id}" in result.stderr
    assert stopped.facts().launches == []


# 4. A damaged run.json -------------------------------------------------------------------------


def test_a_damaged_run_json_is_listed_with_what_to_do_and_blocks_no_new_run(trainable_project, capsys):
    """Reproduces one cut-short run.json stopping `runs` at it (exit 2), `train` refusing every new run,
    and `doctor` finding no problem."""
    project = trainable_project()
    damaged = training.create_run(project, steps=5)
    damaged.run_file.write_text(damaged.run_file.read_text()[:300])
    sound = training.create_run(project, steps=5)

    code, listing, _ = cli(capsys, "runs", str(project.root))
    assert code == 0
    lines = dict(line.split("  ", 1) for line in listing.splitlines())
    assert lines[sound.id].startswith("lost at step 0 of 5")
    assert lines[damaged.id].startswith(f"damaged: {damaged.run_file} cannot be read (JSONDecodeError")
    assert f"Move the folder {damaged.path} out of {project.runs_dir}" in lines[damaged.id] and "or delete it" in lines[damaged.id]

    verdict = [finding for finding in diagnose(project.root).findings if finding.check == "run"]
    assert [(finding.severity, finding.subjects) for finding in verdict] == [("warning", (damaged.id,))]
    assert f"{damaged.run_file} cannot be read" in verdict[0].what

    newer = training.create_run(project, steps=5)
    assert newer.facts().steps == 5


def test_a_damaged_run_whose_trainer_holds_its_lock_is_still_at_work(trainable_project):
    """The other side of passing over a damaged run: while its lock is held, a trainer is at work on it,
    so a new run is refused, naming it, and it can still be asked to stop."""
    project = trainable_project()
    damaged = training.create_run(project, steps=5)
    damaged.run_file.write_text("{")
    lock = TrainerLock(damaged)
    try:
        with pytest.raises(UserError, match=f"run {damaged.id} is running, though its run.json cannot be read") as refused:
            training.create_run(project, steps=5)
        assert refused.value.fix.action == "stop"
        training.stop_run(damaged)
        assert damaged.pending_requests() == {"stop"}
    finally:
        lock.release()
    assert run_folders(project) == [damaged.id]


# 5. A run of another project --------------------------------------------------------------------


def test_a_run_of_another_project_is_not_resumed_from_this_one(trainable_project, capsys):
    """Reproduces `ti-tui train P --resume ../../other-project/runs/<id>` resuming the other project's
    run (whose printed stop hint then found no such run)."""
    project = trainable_project("project")
    other = trainable_project("other-project")
    theirs = training.create_run(other, steps=20)
    saved_checkpoints(theirs, 10)
    ours = training.create_run(project, steps=20)

    for name in (f"../../other-project/runs/{theirs.id}", str(theirs.path)):
        code, _, errors = cli(capsys, "train", str(project.root), "--resume", name)
        assert code == 2
        assert f"{theirs.path} is not a run of project, whose runs are in {project.runs_dir}" in errors
        assert f"from the project whose runs folder holds it, {other.runs_dir}" in errors
    assert theirs.facts().launches == []
    assert training.find_run(project, str(ours.path)) == ours  # its own runs, by folder, still found


# 6. A deleted event log --------------------------------------------------------------------------


def test_a_running_run_without_its_event_log_tells_its_step_from_its_checkpoints(trainable_project, capsys):
    """Reproduces events.jsonl deleted during a run: `runs` said "running, step 0 of 40" to the end."""
    project = trainable_project(**EVERY_TEN_STEPS)
    run = training.create_run(project, steps=40)
    saved_checkpoints(run, 10, 20)
    lock = TrainerLock(run)
    try:
        _, listing, _ = cli(capsys, "runs", str(project.root))
    finally:
        lock.release()
    assert (
        listing == f"{run.id}  running, step 20 of 40 (its event log {run.events_file} is missing, so the step is its last checkpoint's)\n"
    )


def test_a_run_whose_last_checkpoint_is_its_last_step_is_complete_and_continued_not_resumed(trainable_project, capsys):
    """Reproduces the end of that run: "lost at step 0 … resume from the checkpoint at step 40", and a
    resume that printed "Training steps 41-40" and "finished at step 0 of 40"."""
    project = trainable_project(**EVERY_TEN_STEPS)
    run = training.create_run(project, steps=40)
    run.record_launch(Launch(os.getpid(), time.time() - 3600, None, ["a trainer, long gone"]))
    saved_checkpoints(run, 10, 20, 30, 40)

    status = run_status(run)
    assert (status.state, status.step, status.active) == ("finished", 40, False)
    assert status.describe() == (
        "finished at step 40 of 40: the checkpoint of its last step is saved "
        f"(its event log {run.events_file} is missing, so the step is its last checkpoint's)"
    )
    code, _, errors = cli(capsys, "train", str(project.root), "--resume", "last")
    assert code == 2
    last = run.checkpoint_paths("zorbot", 40).embedding
    assert f"run {run.id} finished all its steps; to train on, start a new run from its last checkpoint" in errors
    assert f"--from {last}" in errors

    # Stopped, by its final event, just after the checkpoint of its last step: no step is left to resume.
    final = {"v": 1, "seq": 1, "t": time.time(), "type": "finished", "reason": "stopped", "message": "stopped on request", "step": 40}
    run.events_file.write_text(json.dumps(final) + "\n")
    assert run_status(run).state == "stopped"
    with pytest.raises(UserError, match="finished all its steps"):
        training.prepare_resume(run)
    assert len(run.facts().launches) == 1


@pytest.mark.slow
def test_deleting_the_event_log_of_a_real_run(trainable_project):
    """Reproduces the tester's steps with a real trainer: the log deleted after the first step, the run
    watched to its end, then resumed."""
    project = trainable_project(**EVERY_TEN_STEPS)
    assert run_ti_tui("train", str(project.root), "--steps", "20", "--detach").returncode == 0
    (run_id,) = run_folders(project)
    run = RunDirectory(project.runs_dir / run_id)
    deadline = time.monotonic() + 240
    while not any(event["type"] == "step" for event in run.events()):
        assert time.monotonic() < deadline, "no step in time"
        time.sleep(0.2)
    run.events_file.unlink()
    seen = set()
    while (status := run_status(run)).active:
        assert time.monotonic() < deadline, "the run did not end in time"
        seen.add(status.describe())
        time.sleep(0.2)
    assert any(said.startswith("running, step 10 of 20 (its event log") for said in seen), seen
    assert run_status(run).describe().startswith("finished at step 20 of 20: the checkpoint of its last step is saved")
    resumed = run_ti_tui("train", str(project.root), "--resume", "last")
    assert resumed.returncode == 2 and "finished all its steps" in resumed.stderr and "Training steps" not in resumed.stdout


# 8. Step counts past the setting's bound ----------------------------------------------------------


def test_a_step_count_past_the_bound_of_training_steps_is_refused_in_its_words(trainable_project, capsys):
    """Reproduces `--steps 100000000000000000000000` being accepted (an ETA of 7e22 s)."""
    project = trainable_project()
    code, _, errors = cli(capsys, "train", str(project.root), "--steps", "100000000000000000000000", "--detach")
    assert code == 2
    assert "a run of 100000000000000000000000 steps cannot be made: should be at most 1000000" in errors
    assert run_folders(project) == []


# 9. --from files, checked before a run folder is made ---------------------------------------------


def embedding_file(folder: Path, name: str, vectors) -> Path:
    path = folder / f"{name}.safetensors"
    write_embedding(Embedding(vectors, "zorbot"), path, "safetensors")
    return path


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("text", "is not an embedding file"),
        ("garbage", "is damaged"),
        ("not numbers", "holds vectors that are not numbers (NaN or infinite)"),
        ("too wide", "has vectors of width 1024 (SD 2.x), but this SD 1.x model needs width 768"),
        ("too many", "holds 200 vectors, more than the 75 a run can train"),
        ("pipe", "is not a plain file, not a checkpoint"),
    ],
)
def test_a_from_file_that_cannot_start_a_run_is_refused_before_a_run_folder_is_made(trainable_project, tmp_path, kind, expected):
    """Reproduces each failing --from file leaving a failed run behind, NaN vectors training on
    (halving the rate three times) to advise a lower learning rate, and a file of 200 vectors accepted
    ("200 vector(s)") while the trainer trained 75 of them."""
    project = trainable_project()
    if kind == "text":
        start_from = tmp_path / "notes.txt"
        start_from.write_text("not vectors")
    elif kind == "garbage":
        start_from = tmp_path / "cut.safetensors"
        start_from.write_bytes(os.urandom(64))
    elif kind == "not numbers":
        start_from = embedding_file(tmp_path, "diverged", torch.full((2, 768), float("nan")))
    elif kind == "too many":
        start_from = embedding_file(tmp_path, "long", torch.randn(200, 768) * 0.01)
    elif kind == "pipe":  # was "is gone (moved or deleted, or never there)"
        start_from = tmp_path / "pipe.safetensors"
        os.mkfifo(start_from)
    else:
        start_from = embedding_file(tmp_path, "sd2", torch.randn(2, 1024))
    with pytest.raises(UserError) as refused:
        training.create_run(project, steps=5, start_from=start_from)
    assert start_from.name in str(refused.value) and expected in str(refused.value)
    assert run_folders(project) == []


def test_nan_vectors_given_to_train_are_refused_with_what_to_do(trainable_project, tmp_path, capsys):
    """The same refusal as the command line words it: start from the init text instead."""
    project = trainable_project()
    start_from = embedding_file(tmp_path, "diverged", torch.full((2, 768), float("nan")))
    code, _, errors = cli(capsys, "train", str(project.root), "--from", str(start_from), "--detach")
    assert code == 2
    assert errors.startswith(f"ti-tui: {start_from} holds vectors that are not numbers")
    assert errors.rstrip().endswith(f"Start from an earlier checkpoint, or from the init text (run: ti-tui train {project.root})")
    assert run_folders(project) == []


def test_a_from_file_with_another_count_of_vectors_gives_the_run_its_count_and_says_so(trainable_project, tmp_path, capsys, monkeypatch):
    """Reproduces a run that said it trained token.vectors vectors while the trainer took the file's:
    the run takes the count of the vectors it starts from, and the command says which setting it passed over."""
    project = trainable_project()
    assert project.settings.token.vectors == 2
    start_from = embedding_file(tmp_path, "three", torch.randn(3, 768) * 0.01)
    monkeypatch.setattr(training, "start_trainer", lambda run: subprocess.Popen(["true"]))
    code, output, _ = cli(capsys, "train", str(project.root), "--from", str(start_from), "--detach")
    assert code == 0
    (run_id,) = run_folders(project)
    assert RunDirectory(project.runs_dir / run_id).facts().vectors == 3
    assert "3 vector(s)" in output
    assert (
        "The run trains the 3 vector(s) of three.safetensors; token.vectors = 2 counts only for runs that start from the init text"
        in output
    )


# 10. Third pass: steps, stops, stalls and odd files in a run's folder ------------------------------


def write_events(run: RunDirectory, *events: dict) -> None:
    """Events appended to the run's log as the trainer writes them, numbered on from those there."""
    sequence = len(run.events())
    with open(run.events_file, "a", encoding="utf-8") as log:
        for event in events:
            sequence += 1
            log.write(json.dumps({"v": 1, "seq": sequence, "t": time.time(), **event}) + "\n")


def step_events(first: int, last: int, total: int, **fields) -> list[dict]:
    return [
        {"type": "step", "step": step, "total": total, "loss": 0.1, "loss_smoothed": 0.1, "lr": 0.005, **fields}
        for step in range(first, last + 1)
    ]


def test_a_run_that_went_back_to_an_earlier_checkpoint_shows_the_step_its_trainer_is_at(trainable_project, capsys):
    """Reproduces "running, step 40 of 400" while the trainer, finding the resume states of steps 20-40
    damaged, had gone back to step 10 and was at step 17."""
    project = trainable_project()
    run = training.create_run(project, steps=400)
    saved_checkpoints(run, 10, 20, 30, 40)
    write_events(run, {"type": "started", "pid": 1}, *step_events(1, 45, total=400))
    write_events(run, {"type": "started", "pid": 2}, {"type": "resumed_from", "step": 10, "path": "zorbot-10.safetensors"})
    lock = TrainerLock(run)
    try:
        assert run_status(run).describe() == "running, step 10 of 400"
        write_events(run, *step_events(11, 17, total=400))
        _, listing, _ = cli(capsys, "runs", str(project.root))
    finally:
        lock.release()
    assert listing == f"{run.id}  running, step 17 of 400\n"


def test_stop_without_a_run_named_stops_the_run_at_work_not_the_newest(trainable_project, capsys):
    """Reproduces `ti-tui stop P` while an older, resumed run trained: it said the newest run "is not
    running: lost" and exited 1, and the trainer went on."""
    project = trainable_project()
    older = training.create_run(project, steps=20)
    newest = training.create_run(project, steps=20)
    lock = TrainerLock(older)  # this process stands in for the resumed trainer
    try:
        code, output, _ = cli(capsys, "stop", str(project.root))
    finally:
        lock.release()
    assert code == 0, output
    assert output == f"Asked run {older.id} to save a checkpoint and stop (it stops after the current step).\n"
    assert older.pending_requests() == {"stop"} and newest.pending_requests() == set()

    code, output, _ = cli(capsys, "stop", str(project.root))
    assert code == 1
    assert output.startswith(f"No run of project is running; the newest, {newest.id}, is lost at step 0 of 20")


def test_the_wizard_opens_on_train_while_an_older_resumed_run_trains(trainable_project):
    """The journey asked the newest run whether it trained, as `stop` did: a wizard opened while an
    older, resumed run trained would not open on Train to show it."""
    from ti_tui.usecases.journey import has_active_run

    project = trainable_project()
    older = training.create_run(project, steps=20)
    training.create_run(project, steps=20)
    assert not has_active_run(project)
    lock = TrainerLock(older)  # this process stands in for the resumed trainer
    try:
        assert has_active_run(project)
        assert training.active_run(project) == older
    finally:
        lock.release()


@pytest.mark.parametrize("kind", ["missing", "not UTF-8", "loop", "pipe"])
def test_a_template_that_cannot_be_read_is_refused_before_a_run_folder_is_made(trainable_project, capsys, kind):
    """Reproduces a template file that is missing, not UTF-8 or a symbolic-link loop being found by the
    trainer, after it started, leaving a failed run behind for each attempt; a named pipe there made
    `train` wait for ever, and `doctor` found nothing wrong."""
    project = trainable_project(**{"training.template": "prompts.txt"})
    template = project.root / "prompts.txt"
    if kind == "not UTF-8":
        template.write_bytes(b"a photo of [name]\xff\xfe\n")
    elif kind == "loop":
        template.symlink_to(template)
    elif kind == "pipe":
        os.mkfifo(template)
    said = f"training.template: {template} is not a plain file" if kind == "pipe" else f"training.template: {template} cannot be read"
    with pytest.raises(UserError) as refused:
        training.create_run(project, steps=5)
    assert said in str(refused.value)
    assert run_folders(project) == []
    code, output, _ = cli(capsys, "doctor", str(project.root))
    assert code == 1 and said in output


@pytest.mark.parametrize("odd", ["trainer.lock", "events.jsonl"])
def test_a_folder_where_an_old_run_keeps_a_file_is_listed_as_damaged_and_blocks_no_new_run(trainable_project, capsys, monkeypatch, odd):
    """Reproduces a folder in place of one old run's trainer.lock or events.jsonl making `runs` and
    `train` fail with "Is a directory"."""
    project = trainable_project()
    old = training.create_run(project, steps=5)
    (old.path / odd).mkdir()
    sound = training.create_run(project, steps=5)

    code, listing, errors = cli(capsys, "runs", str(project.root))
    assert code == 0, errors
    lines = dict(line.split("  ", 1) for line in listing.splitlines())
    assert lines[old.id].startswith(f"damaged: {old.path / odd} is a folder, where run {old.id} keeps ")
    assert lines[old.id].endswith(f"so no trainer can work on the run: move it out of {old.path} (or delete it)")
    assert lines[sound.id].startswith("lost at step 0 of 5")

    monkeypatch.setattr(training, "start_trainer", lambda run: subprocess.Popen(["true"]))
    code, _, errors = cli(capsys, "train", str(project.root), "--steps", "5", "--detach")
    assert code == 0, errors
    assert len(run_folders(project)) == 3


def test_a_file_in_place_of_the_runs_folder_is_named_by_train_and_runs(trainable_project, capsys):
    """Reproduces `runs/` being a file: `train` said "…/runs/<id>: Not a directory", `runs` "no runs yet"."""
    project = trainable_project()
    project.runs_dir.write_text("not a folder")
    said = (
        f"ti-tui: {project.runs_dir} is a file, where project keeps its runs (a folder): "
        "move the file elsewhere (or delete it), then try again\n"
    )
    for arguments in (["train", str(project.root), "--detach"], ["runs", str(project.root)]):
        code, _, errors = cli(capsys, *arguments)
        assert (code, errors) == (2, said), arguments
    assert project.runs_dir.read_text() == "not a folder"


@pytest.mark.slow  # starts a trainer or helper process
def test_a_stopped_trainer_is_shown_as_stalled_with_its_process_and_what_to_do(trainable_project, capsys):
    """Reproduces a SIGSTOPped trainer shown as "running, step 8 … 0m47s left" for ever."""
    project = trainable_project()
    run = training.create_run(project, steps=400)
    holds_the_lock = "import fcntl, sys, time; lock = open(sys.argv[1], 'a+b'); fcntl.flock(lock, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(600)"
    stand_in = subprocess.Popen([sys.executable, "-c", holds_the_lock, str(run.lock_file)], stdout=subprocess.PIPE, text=True)
    try:
        assert stand_in.stdout.readline() == "locked\n"
        write_events(run, {"type": "started", "pid": stand_in.pid}, *step_events(1, 8, total=400, steps_per_s=8.0, eta_s=47.0))
        os.kill(stand_in.pid, signal.SIGSTOP)
        wait_for(lambda: psutil.Process(stand_in.pid).status() == psutil.STATUS_STOPPED, what="the stand-in to stop")
        code, listing, _ = cli(capsys, "runs", str(project.root))
        status = run_status(run)
    finally:
        stand_in.kill()
        stand_in.wait()
    assert code == 0 and status.active
    pid = stand_in.pid
    assert listing == (
        f"{run.id}  stalled at step 8 of 400: its trainer (process {pid}) is stopped (by SIGSTOP, or Ctrl-Z where it was started), "
        f"so it trains no step; let it go on with: kill -CONT {pid}\n"
    )


def test_a_trainer_silent_for_far_longer_than_its_steps_take_is_shown_as_not_responding(trainable_project):
    """The other way a trainer stalls: alive, holding its lock, and writing nothing for two hours while
    its steps took half a second."""
    project = trainable_project()
    run = training.create_run(project, steps=400)
    write_events(run, {"type": "started", "pid": os.getpid()}, *step_events(1, 8, total=400, steps_per_s=2.0, eta_s=196.0))
    two_hours_ago = [dict(event, t=event["t"] - 7200) for event in run.events()]
    run.events_file.write_text("".join(json.dumps(event) + "\n" for event in two_hours_ago))
    lock = TrainerLock(run)
    try:
        status = run_status(run)
    finally:
        lock.release()
    assert (status.state, status.active) == ("stalled", True)
    pid = os.getpid()
    assert status.describe() == (
        f"stalled at step 8 of 400: its trainer (process {pid}) has written nothing for 2h00m, while a step takes 0.5 s, "
        f"so it is not responding; end it with: kill {pid} (then kill -9 {pid} if it stays), and resume the run"
    )


def test_a_stray_checkpoint_file_is_not_taken_for_the_runs_last(trainable_project, capsys):
    """Reproduces zorbot-99999999999999999999999.safetensors in checkpoints/ making the run "finished at
    step 99999…" and being what `export` picks; a file of another trigger is not the run's either."""
    from ti_tui.usecases.checkpoints import chosen_checkpoint

    project = trainable_project()
    run = training.create_run(project, steps=60)
    saved_checkpoints(run, 20, 40, 60)
    (run.checkpoints_dir / "zorbot-99999999999999999999999.safetensors").write_bytes(b"")
    (run.checkpoints_dir / "another-30.safetensors").write_bytes(b"")
    write_events(run, {"type": "finished", "reason": "completed", "message": "trained 60 steps", "step": 60})

    assert [checkpoint.step for checkpoint in run.checkpoints()] == [20, 40, 60]
    _, listing, _ = cli(capsys, "runs", str(project.root))
    assert listing == f"{run.id}  finished at step 60 of 60: trained 60 steps\n"
    assert chosen_checkpoint(project)[1].embedding == run.checkpoint_paths("zorbot", 60).embedding


def test_stop_names_a_file_in_place_of_the_control_folder(trainable_project, capsys):
    """Reproduces `control/` being a file: `stop` said "…/control: File exists"."""
    project = trainable_project()
    run = training.create_run(project, steps=20)
    run.control_dir.write_text("")
    lock = TrainerLock(run)
    try:
        code, output, _ = cli(capsys, "stop", str(project.root), run.id)
    finally:
        lock.release()
    assert code == 1
    assert output == (
        f"{run.control_dir} is a file, where run {run.id} takes requests (a folder), so its trainer cannot be asked to stop: "
        "move the file elsewhere (or delete it), then ask again\n"
    )


def test_a_folder_in_place_of_run_json_is_listed_as_damaged(trainable_project, capsys):
    """Reproduces `run.json` being a folder: the run vanished from `runs` ("no runs yet")."""
    project = trainable_project()
    run = training.create_run(project, steps=20)
    run.run_file.unlink()
    run.run_file.mkdir()
    code, listing, _ = cli(capsys, "runs", str(project.root))
    assert code == 0
    assert listing.startswith(
        f"{run.id}  damaged: {run.run_file} is a folder, where the file that says what the run is belongs; the run is damaged"
    )
    assert f"Move the folder {run.path} out of {project.runs_dir}" in listing


def test_a_symbolic_link_loop_given_to_train_from_or_runs_is_named(trainable_project, tmp_path, capsys):
    """Reproduces `train --from LOOP` and `runs LOOP` ending in "RuntimeError: Symlink loop from …"."""
    from ti_tui.paths import symlink_loop_message

    project = trainable_project()
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for arguments in (["train", str(project.root), "--from", str(loop), "--detach"], ["runs", str(loop)]):
        code, _, errors = cli(capsys, *arguments)
        assert (code, errors) == (2, f"ti-tui: {symlink_loop_message(loop)}\n"), arguments
    assert run_folders(project) == []
