"""The trainer as its own process: detached start, exact resume after kill -9, stop, signals, lost runs."""

import os
import pty
import signal
import subprocess
import sys

import pytest
import torch
from conftest import run_ti_tui, wait_for
from safetensors.torch import load_file

from ti_tui.runs import RunDirectory, run_status
from ti_tui.usecases.training import create_run, start_trainer

pytestmark = pytest.mark.slow  # every test here trains


def only_run(project) -> RunDirectory:
    (folder,) = project.runs_dir.iterdir()
    return RunDirectory(folder)


def test_the_sample_project_trains_30_steps_with_checkpoints_previews_and_validation(trainable_project, tmp_path):
    project = trainable_project(
        **{
            "preview.every": 10,
            "preview.prompts": ["a photo of [name]"],
            "preview.seeds": [1],
            "preview.sampling_steps": 4,
            "training.save_every": 10,
            "training.validation_every": 10,
        }
    )
    result = run_ti_tui("train", str(project.root), "--steps", "30")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Run completed: trained 30 steps" in result.stdout
    assert result.stdout.index("Memory needed: about ") < result.stdout.index("step 1/30"), "the estimate comes first"

    run = only_run(project)
    kinds = [event["type"] for event in run.events()]
    assert kinds.count("step") == 30 and kinds.count("validation") == 4 and kinds[-1] == "finished"
    assert [checkpoint.step for checkpoint in run.checkpoints()] == [10, 20, 30]
    assert len(list(run.previews_dir.glob("step-30-*.png"))) == 2  # the trigger, and the init words to compare

    from diffusers import StableDiffusionPipeline

    from ti_tui.sd.tiny import builtin_tiny_dir

    pipeline = StableDiffusionPipeline.from_pretrained(builtin_tiny_dir(), local_files_only=True)
    pipeline.load_textual_inversion(str(run.checkpoints()[-1].embedding), token="zorbot")
    assert "zorbot_1" in pipeline.maybe_convert_prompt("a photo of zorbot", pipeline.tokenizer)


EVERY_RANDOM_CHOICE = {
    "dataset.flip": True,
    "training.latent_sampling": "random",
    "training.shuffle_tags": True,
    "training.tag_dropout": 0.3,
    "training.batch_size": 2,
    "training.gradient_accumulation": 2,
}


# Without validation nothing encodes the images ahead of the steps: each is encoded when first drawn.
LATENTS_ON_FIRST_USE = {"training.latent_sampling": "once", "dataset.flip": True, "training.validation_every": 0}


# Each in fp32 and bf16: "auto" chooses as on a CPU with native bf16 and as on one without.
@pytest.mark.parametrize(
    ("changes", "cpu_bf16"),
    [
        pytest.param(changes, cpu, id=f"{name}, {cpu} bf16")
        for name, changes in (
            ("defaults", {}),
            ("every random choice", EVERY_RANDOM_CHOICE),
            ("latents on first use", LATENTS_ON_FIRST_USE),
        )
        for cpu in ("native", "emulated")
    ],
    indirect=["cpu_bf16"],
)
def test_twenty_steps_straight_equal_ten_then_kill_9_then_resume(trainable_project, changes, cpu_bf16):
    straight = trainable_project("straight", **{"training.save_every": 10, **changes})
    assert run_ti_tui("train", str(straight.root), "--steps", "20").returncode == 0
    assert [event["dtype"] for event in only_run(straight).events() if event["type"] == "config"] == [cpu_bf16]

    interrupted = trainable_project("interrupted", **{"training.save_every": 10, **changes})
    killed = subprocess.run(
        [sys.executable, "-m", "ti_tui", "train", str(interrupted.root), "--steps", "20"],
        env={**os.environ, "TI_TUI_FAULTS": "kill_at=13"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 1
    assert "The trainer is gone: lost at step 13 of 20" in killed.stdout
    assert "trainer.log" in killed.stdout  # where to look
    run = only_run(interrupted)
    status = run_status(run)
    assert status.state == "lost" and status.last_checkpoint.step == 10
    assert "resume from the checkpoint at step 10" in run_ti_tui("runs", str(interrupted.root)).stdout

    resumed = run_ti_tui("train", str(interrupted.root), "--resume", "last")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Resuming from the checkpoint at step 10" in resumed.stdout

    def final_vectors(project):
        return load_file(only_run(project).checkpoints()[-1].embedding)["emb_params"]

    assert (final_vectors(straight) - final_vectors(interrupted)).abs().max().item() <= 1e-6


def test_a_stopped_run_resumes_to_its_end_and_shows_only_its_new_progress(trainable_project):
    project = trainable_project(**{"training.save_every": 5})
    assert run_ti_tui("train", str(project.root), "--steps", "30", "--detach").returncode == 0
    run = only_run(project)
    wait_for(lambda: run_status(run).step >= 2, what="two steps")
    run.request("pause")
    wait_for(lambda: run_status(run).state == "paused", what="the pause")
    assert run_ti_tui("stop", str(project.root)).returncode == 0
    wait_for(lambda: run_status(run).state == "stopped", what="the stop")
    assert run.pending_requests() == set()  # neither the stop nor the pause is left behind

    refused = run_ti_tui("train", str(project.root), "--resume", "last", "--steps", "50")
    assert refused.returncode == 2 and "--resume carries on a run as it was set up" in refused.stderr
    resumed = run_ti_tui("train", str(project.root), "--resume", "last")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Run stopped" not in resumed.stdout and "Run completed: trained 30 steps" in resumed.stdout
    assert run_status(run).state == "finished"


def test_a_second_run_is_refused_while_one_is_training(trainable_project):
    project = trainable_project()
    assert run_ti_tui("train", str(project.root), "--steps", "2000", "--detach").returncode == 0
    run = only_run(project)
    wait_for(lambda: run_status(run).state == "running", what="the first run")
    second = run_ti_tui("train", str(project.root), "--steps", "5")
    assert second.returncode == 2
    assert f"run {run.id} is running" in second.stderr and "ti-tui stop" in second.stderr
    run.request("stop")
    wait_for(lambda: run_status(run).state == "stopped", what="the stop")


def test_a_run_stopped_through_control_saves_first_and_says_it_was_stopped(trainable_project):
    project = trainable_project()
    assert run_ti_tui("train", str(project.root), "--steps", "2000", "--detach").returncode == 0
    run = only_run(project)
    wait_for(lambda: run_status(run).step >= 3, what="three steps")
    assert run_status(run).state == "running"
    stopped = run_ti_tui("stop", str(project.root))
    assert stopped.returncode == 0 and "Asked run" in stopped.stdout
    final = wait_for(lambda: [event for event in run.events() if event["type"] == "finished"], what="the final event")[0]
    assert final["reason"] == "stopped" and "stopped on request" in final["message"]
    assert run.checkpoints()[-1].step == final["step"] and run.checkpoints()[-1].resumable
    assert run_status(run).state == "stopped"


def test_a_stop_asked_during_a_preview_pass_does_not_wait_for_the_rest_of_it(trainable_project):
    seeds = list(range(1, 61))  # 60 seeds x (trigger + init words): a long pass, as previews are on a CPU
    project = trainable_project(**{"preview.every": 3, "preview.prompts": ["a photo of [name]"], "preview.seeds": seeds})
    assert run_ti_tui("train", str(project.root), "--steps", "2000", "--detach").returncode == 0
    run = only_run(project)
    wait_for(lambda: any(event["type"] == "preview" for event in run.events()), what="the first preview")
    assert run_ti_tui("stop", str(project.root)).returncode == 0
    final = wait_for(lambda: [event for event in run.events() if event["type"] == "finished"], what="the final event")[0]
    assert final["reason"] == "stopped" and final["step"] == 3
    previews = [event for event in run.events() if event["type"] == "preview"]
    assert len(previews) < len(seeds), "the pass went on after the stop"


def test_sigterm_to_the_trainer_saves_a_checkpoint_and_ends_with_a_final_event(trainable_project):
    project = trainable_project()
    run = create_run(project, steps=2000)
    process = start_trainer(run)
    wait_for(lambda: run_status(run).step >= 2, what="two steps")
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=60) == 1
    final = [event for event in run.events() if event["type"] == "finished"][0]
    assert final["reason"] == "stopped" and "SIGTERM" in final["message"]
    assert run.checkpoints()[-1].step == final["step"]


def test_pausing_and_going_on_through_control(trainable_project):
    project = trainable_project()
    run = create_run(project, steps=2000)
    process = start_trainer(run)
    wait_for(lambda: run_status(run).step >= 1, what="a step")
    run.request("pause")
    wait_for(lambda: run_status(run).state == "paused", what="the pause")
    paused_at = run_status(run).step
    run.request("save-now")  # s while paused: saved at once, not once the run goes on
    wait_for(lambda: paused_at in [checkpoint.step for checkpoint in run.checkpoints()], what="the checkpoint asked for while paused")
    assert run_status(run).state == "paused" and run_status(run).step == paused_at
    run.withdraw("pause")
    wait_for(lambda: run_status(run).step > paused_at, what="training to go on")
    run.request("stop")
    assert process.wait(timeout=60) == 1


def test_the_trainer_outlives_the_process_that_started_it_and_its_terminal(trainable_project):
    project = trainable_project()
    run = create_run(project, steps=25)
    starter = (
        "import signal, time\n"
        "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"  # as a shell's child has it, even under a nohup that started the tests
        "from ti_tui.usecases.training import start_trainer\n"
        "from ti_tui.runs import RunDirectory\n"
        f"start_trainer(RunDirectory({str(run.path)!r}))\n"
        "print('started', flush=True)\n"
        "time.sleep(600)\n"  # ended by the hang-up, however long a busy machine takes to start the trainer
    )
    child, terminal = pty.fork()
    if child == 0:
        os.execv(sys.executable, [sys.executable, "-c", starter])
    wait_for(lambda: run.facts().launches, what="the launch")
    wait_for(lambda: run_status(run).state == "running", what="the trainer to start")
    os.close(terminal)  # the terminal goes away, as when an SSH link drops
    _, wait_status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(wait_status) and os.WTERMSIG(wait_status) == signal.SIGHUP
    final = wait_for(lambda: [event for event in run.events() if event["type"] == "finished"], what="the run's end")[0]
    assert final["reason"] == "completed" and final["step"] == 25


def test_resuming_a_finished_run_points_to_continuing_it(trainable_project):
    project = trainable_project(**{"training.save_every": 2})
    assert run_ti_tui("train", str(project.root), "--steps", "2").returncode == 0
    result = run_ti_tui("train", str(project.root), "--resume", "last")
    assert result.returncode == 2
    assert "finished all its steps; to train on, start a new run from its last checkpoint" in result.stderr
    assert "--from" in result.stderr


def test_two_processes_train_data_parallel_on_the_cpu(trainable_project):
    project = trainable_project(**{"training.processes": 2, "training.save_every": 3})
    result = run_ti_tui("train", str(project.root), "--steps", "3", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr + only_run(project).log_file.read_text()
    assert "x 2 processes" in result.stdout
    run = only_run(project)
    assert [event["type"] for event in run.events()].count("started") == 1  # one voice for the run
    assert torch.isfinite(load_file(run.checkpoints()[-1].embedding)["emb_params"]).all()
