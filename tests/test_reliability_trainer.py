"""The trainer against a damaged run folder: resume states that no longer load, a file where one of
the run's folders belongs, a log that must say what happened, and checkpoints/ holding embeddings only."""

import io
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
import torch
from conftest import SAMPLE_PROJECT, events_of, run_ti_tui
from safetensors.torch import load_file

from ti_tui.project import Project
from ti_tui.runs import RunDirectory, run_status
from ti_tui.torch_files import load_plain_torch_file
from ti_tui.train.__main__ import main as trainer_main
from ti_tui.train.engine import Trainer
from ti_tui.usecases.training import create_run, start_trainer

# The tester's settings; the tests that train in this process save every 2 steps instead, without validation, to be quick.
EVERY_TEN_STEPS = {"training.save_every": 10, "training.validation_every": 10, "preview.every": 0}
EVERY_TWO_STEPS = {"training.save_every": 2, "training.validation_every": 0, "preview.every": 0}


def train(run: RunDirectory, stop_at: int) -> str:
    """Trains in this process, asking the trainer to stop after step `stop_at`, as `ti-tui stop` would."""
    with pytest.MonkeyPatch.context() as patch:
        report_step = Trainer.report_step

        def ask_to_stop_at(trainer, *arguments):
            report_step(trainer, *arguments)
            if trainer.state.step == stop_at:
                run.ask_to_stop()

        patch.setattr(Trainer, "report_step", ask_to_stop_at)
        return Trainer(run).run()


@pytest.fixture(scope="module")
def stopped_at_4(tmp_path_factory) -> RunDirectory:
    """A 6-step run of the sample project with a checkpoint every 2 steps, stopped after step 4."""
    root = tmp_path_factory.mktemp("reliability") / "project"
    shutil.copytree(SAMPLE_PROJECT, root, ignore=shutil.ignore_patterns("runs", "prepared", "exports", "grids", "generated"))
    project = Project.open(root)
    settings = project.settings.model_copy(deep=True)
    for dotted, value in EVERY_TWO_STEPS.items():
        section, key = dotted.split(".")
        setattr(getattr(settings, section), key, value)
    project.store.save(settings)
    run = create_run(project, steps=6)
    assert train(run, stop_at=4) == "stopped"
    return run


@pytest.fixture
def interrupted(stopped_at_4, request) -> RunDirectory:
    """A copy of the stopped run for one test to damage: another run folder of the same project."""
    copy = stopped_at_4.path.with_name(f"{stopped_at_4.id}-{request.node.name}")
    shutil.copytree(stopped_at_4.path, copy)
    return RunDirectory(copy)


def test_checkpoints_hold_embeddings_only_and_the_resume_states_have_a_folder_of_their_own(stopped_at_4):
    """Reproduces item 17: a .state.pt beside each embedding made a UI pointed at checkpoints/ print an error for each."""
    run = stopped_at_4
    assert sorted(path.name for path in run.checkpoints_dir.iterdir()) == ["zorbot-2.safetensors", "zorbot-4.safetensors"]
    assert sorted(path.name for path in run.resume_dir.iterdir()) == ["zorbot-2.state.pt", "zorbot-4.state.pt"]
    assert [(checkpoint.step, checkpoint.state.parent, checkpoint.resumable) for checkpoint in run.checkpoints()] == [
        (2, run.resume_dir, True),
        (4, run.resume_dir, True),
    ]
    assert run.checkpoint_paths("zorbot", 4) == run.checkpoints()[-1]
    assert run_status(run).last_checkpoint.step == 4


def test_a_run_saved_with_its_states_beside_the_embeddings_still_resumes(interrupted):
    """Lays the run out the old way (each .state.pt in checkpoints/, no resume/): it resumes from step 4,
    and the states it saves from then on go to resume/."""
    for state in interrupted.resume_dir.iterdir():
        state.rename(interrupted.checkpoints_dir / state.name)
    interrupted.resume_dir.rmdir()
    assert [checkpoint.state.parent for checkpoint in interrupted.checkpoints()] == [interrupted.checkpoints_dir] * 2
    assert run_status(interrupted).last_checkpoint.step == 4

    assert Trainer(interrupted).run() == "completed"
    assert [event["step"] for event in events_of(interrupted, "resumed_from")] == [4]
    assert [(checkpoint.step, checkpoint.state.parent.name) for checkpoint in interrupted.checkpoints()] == [
        (2, "checkpoints"),
        (4, "checkpoints"),
        (6, "resume"),
    ]


def overwrite_the_pickle(data: bytes) -> bytes:
    start = zipfile.ZipFile(io.BytesIO(data)).getinfo("archive/data.pkl").header_offset + 100
    return data[:start] + b"\xf6" * 64 + data[start + 64 :]


DAMAGES = {
    # What the tester saw: UnicodeDecodeError from the pickle, "a file: Invalid argument", EOFError.
    "its pickle overwritten": overwrite_the_pickle,
    "cut to 5000 bytes": lambda data: data[:5000],
    "emptied": lambda data: b"",
    # Bytes of a tensor: torch.load does not check them, and the run went on from wrong numbers.
    "its middle overwritten": lambda data: data[: len(data) // 2] + b"\xf6" * 64 + data[len(data) // 2 + 64 :],
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_resume_state_is_named_and_the_run_goes_back_to_the_checkpoint_before_it(stopped_at_4, interrupted, damage):
    """Reproduces item 3: with the newest resume state damaged, a resume failed naming no file (or, with
    damaged tensor bytes, went on from wrong numbers). Damages zorbot-4.state.pt of the run stopped at
    step 4: the resume names the file, goes back to step 2, and trains steps 3-4 again exactly as they were."""
    state = interrupted.checkpoints()[-1].state
    state.write_bytes(DAMAGES[damage](state.read_bytes()))

    assert train(interrupted, stop_at=4) == "stopped"
    (warning,) = events_of(interrupted, "warning")
    assert str(state) in warning["message"] and "Went back to step 2," in warning["message"]
    assert [event["step"] for event in events_of(interrupted, "resumed_from")] == [2]
    retrained = load_file(interrupted.checkpoints()[-1].embedding)["emb_params"]
    assert torch.equal(retrained, load_file(stopped_at_4.checkpoints()[-1].embedding)["emb_params"])
    assert load_plain_torch_file(state, "a resume state", checked=True)["step"] == 4  # saved again, whole


def test_a_run_whose_every_resume_state_is_damaged_fails_naming_each(interrupted):
    """Item 3, with nothing to go back to: both resume states emptied, the run ends failed, naming both
    files and what to do, and trains nothing."""
    for checkpoint in interrupted.checkpoints():
        checkpoint.state.write_bytes(b"")
    steps_before = len(events_of(interrupted, "step"))

    assert Trainer(interrupted).run() == "failed"
    final = events_of(interrupted, "finished")[-1]
    assert all(str(checkpoint.state) in final["message"] for checkpoint in interrupted.checkpoints())
    assert "Start a new run from its last checkpoint" in final["message"]
    assert final["fix"] == {"action": "continue-from", "subject": str(interrupted.checkpoints()[-1].embedding)}
    assert len(events_of(interrupted, "step")) == steps_before


@pytest.mark.parametrize("folder", ["checkpoints", "resume"])
def test_a_file_where_a_folder_of_the_run_belongs_is_named_before_the_model_loads(trainable_project, folder):
    """Reproduces item 7: with checkpoints/ a file, the run failed at its first save with only "…/checkpoints: File exists"."""
    run = create_run(trainable_project(**EVERY_TWO_STEPS), steps=6)
    (run.path / folder).write_text("in the way\n")

    assert Trainer(run).run() == "failed"
    final = events_of(run, "finished")[-1]
    assert final["message"] == (
        f"{run.path / folder} is a file, where run {run.id} keeps a folder: move the file elsewhere (or delete it), then resume the run"
    )
    assert final["fix"] == {"action": "resume", "subject": run.id}
    assert not events_of(run, "loading")


def test_a_run_whose_events_cannot_be_written_says_why_in_its_log(trainable_project, capsys):
    """Injects a folder in the place of events.jsonl: not one event can be written, so the trainer's
    log (its standard error) is where the reason goes, naming the file and what to do."""
    run = create_run(trainable_project(**EVERY_TWO_STEPS), steps=6)
    run.events_file.mkdir()

    assert Trainer(run).run() == "failed"
    assert f"error: {run.events_file}: Is a directory. Once that is put right, resume the run\n" in capsys.readouterr().err


def test_a_trainer_started_on_a_run_folder_that_is_gone_says_so_in_one_line(tmp_path, capsys):
    """A run folder deleted before its trainer took the run's lock: a sentence naming it, no traceback."""
    assert trainer_main([str(tmp_path / "gone")]) == 2
    assert capsys.readouterr().err == f"ti-tui trainer: {tmp_path / 'gone' / 'trainer.lock'}: No such file or directory\n"


@pytest.mark.slow
def test_the_trainer_process_writes_its_failures_to_trainer_log(trainable_project):
    """Reproduces item 7's empty trainer.log: a user error (checkpoints/ a file) now leaves its message
    there, and a bug (injected: set-up raises ZeroDivisionError) its traceback."""
    user_error = create_run(trainable_project("user-error", **EVERY_TEN_STEPS), steps=30)
    user_error.checkpoints_dir.write_text("in the way\n")
    assert start_trainer(user_error).wait(timeout=120) == 1
    log = user_error.log_file.read_text()
    assert f"error: {user_error.checkpoints_dir} is a file, where run {user_error.id} keeps a folder" in log
    assert "Traceback" not in log

    bug = create_run(trainable_project("bug", **EVERY_TEN_STEPS), steps=30)
    broken_trainer = (
        "import sys\n"
        "from ti_tui.train import __main__, engine\n"
        "def set_up(self):\n"
        "    1 / 0\n"
        "engine.Trainer.set_up = set_up\n"
        "sys.exit(__main__.main(sys.argv[1:]))\n"
    )
    with open(bug.log_file, "ab") as log_file:
        finished = subprocess.run([sys.executable, "-c", broken_trainer, str(bug.path)], stdout=log_file, stderr=subprocess.STDOUT)
    assert finished.returncode == 1
    log = bug.log_file.read_text()
    assert "Traceback (most recent call last)" in log and "in set_up" in log and "ZeroDivisionError: division by zero" in log
    assert events_of(bug, "finished")[-1]["message"] == "ZeroDivisionError: division by zero (the trainer's log has the details)"


@pytest.mark.slow
def test_after_kill_9_the_log_has_its_last_words_and_a_damaged_state_is_named_on_resume(trainable_project):
    """Items 3 and 7 as the tester met them, through real trainer processes: kill -9 after step 25 of 30
    (trainer.log, which the "lost" message points to, was empty), zorbot-20.state.pt cut to 5000 bytes,
    then `ti-tui train --resume last` (failed with "a file: Invalid argument")."""
    project = trainable_project(**EVERY_TEN_STEPS)
    killed = subprocess.run(
        [sys.executable, "-m", "ti_tui", "train", str(project.root), "--steps", "30"],
        env={**os.environ, "TI_TUI_FAULTS": "kill_at=25"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 1 and "The trainer is gone: lost at step 25 of 30" in killed.stdout
    (run_folder,) = project.runs_dir.iterdir()
    run = RunDirectory(run_folder)
    last_words = run.log_file.read_text().splitlines()[-1]
    assert last_words.endswith(f"step 20: saved {run.checkpoints_dir / 'zorbot-20.safetensors'}")

    state = run.checkpoints()[-1].state
    state.write_bytes(state.read_bytes()[:5000])
    resumed = run_ti_tui("train", str(project.root), "--resume", "last", timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"warning: {state} is not a PyTorch file, or it is damaged" in resumed.stdout
    assert "Went back to step 10, the newest checkpoint whose resume state loads" in resumed.stdout
    assert "Resuming from the checkpoint at step 10" in resumed.stdout
    assert "Run completed" in resumed.stdout
