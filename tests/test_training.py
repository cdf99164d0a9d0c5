"""The trainer on builtin:tiny: it learns, touches nothing else, and guards against bad steps and full disks."""

import random

import pytest
import torch
from conftest import events_of
from PIL import Image
from safetensors.torch import load_file

from ti_tui.dataset.training_set import load_square_image
from ti_tui.errors import UserError
from ti_tui.prompts import TagOptions, build_prompt, caption_text, load_templates
from ti_tui.runs import RunWatcher, run_status
from ti_tui.runs.directory import ParentCheckpoint
from ti_tui.sd.loading import load_model
from ti_tui.settings import ModelSettings
from ti_tui.train.data import DataOrder
from ti_tui.train.engine import Trainer
from ti_tui.train.faults import Faults
from ti_tui.usecases.training import create_run


@pytest.mark.slow
def test_training_lowers_the_fixed_noise_validation_loss_and_leaves_every_other_token_alone(trainable_project, tmp_path):
    project = trainable_project(**{"training.validation_every": 10})
    run = create_run(project, steps=30)
    trainer = Trainer(run)
    assert trainer.run() == "completed"

    validations = events_of(run, "validation")
    assert [event["step"] for event in validations] == [0, 10, 20, 30]
    assert validations[-1]["loss"] < validations[0]["loss"] - 0.005

    fresh = load_model(ModelSettings(base="builtin:tiny"), tmp_path)
    assert torch.equal(trainer.frozen.model.text_encoder.get_input_embeddings().weight, fresh.text_encoder.get_input_embeddings().weight)
    steps = events_of(run, "step")
    assert [event["step"] for event in steps] == list(range(1, 31))
    assert all(len(event["norms"]) == 2 and event["steps_per_s"] > 0 for event in steps)
    assert events_of(run, "finished")[0]["reason"] == "completed"


def test_a_forced_nan_is_rolled_back_and_training_goes_on_at_half_the_rate(trainable_project):
    run = create_run(trainable_project(**{"schedule.preset": "constant", "schedule.learning_rate": "0.004"}), steps=6)
    assert Trainer(run, Faults("nan_at=3")).run() == "completed"
    warnings = events_of(run, "warning")
    assert len(warnings) == 1 and "the loss at step 3 was not a number" in warnings[0]["message"]
    rates = [event["lr"] for event in events_of(run, "step")]
    assert rates == [0.004, 0.004, 0.002, 0.002, 0.002, 0.002]
    assert all(torch.isfinite(torch.tensor(event["norms"])).all() for event in events_of(run, "step"))


def test_training_stops_with_a_reason_when_every_retry_diverges(trainable_project, monkeypatch):
    run = create_run(trainable_project(), steps=5)
    trainer = Trainer(run)
    monkeypatch.setattr(Trainer, "compute_loss", lambda self, indices: self.state.vectors.sum() * float("nan"))
    assert trainer.run() == "failed"
    final = events_of(run, "finished")[0]
    assert final["reason"] == "failed" and "training diverged" in final["message"]
    assert run_status(run).state == "failed"


def test_a_full_disk_ends_the_run_with_what_to_do_and_keeps_the_last_checkpoint(trainable_project):
    run = create_run(trainable_project(**{"training.save_every": 2}), steps=6)
    assert Trainer(run, Faults("disk_full_at=4")).run() == "failed"
    final = events_of(run, "finished")[0]
    assert "the disk is full" in final["message"] and "then resume the run" in final["message"]
    assert final["fix"] == {"action": "resume", "subject": run.id}
    assert [checkpoint.step for checkpoint in run.checkpoints()] == [2]
    status = run_status(run)
    assert status.state == "failed" and status.last_checkpoint.step == 2


def test_a_damaged_image_is_named_before_a_run_starts(trainable_project):
    project = trainable_project(**{"training.validation_every": 0})
    (project.images_dir / "03-night.jpg").write_bytes(b"not really a jpeg")
    cut_short = (project.images_dir / "08-snow.jpg").read_bytes()
    (project.images_dir / "08-snow.jpg").write_bytes(cut_short[: len(cut_short) // 2])
    with pytest.raises(UserError) as refused:
        create_run(project, steps=2)
    assert "03-night.jpg is not an image Pillow can read" in str(refused.value)
    assert "08-snow.jpg is cut short" in str(refused.value)
    assert not project.runs_dir.exists() or not any(project.runs_dir.iterdir())


def test_a_run_refuses_to_go_on_when_its_images_changed(trainable_project):
    project = trainable_project()
    run = create_run(project, steps=2)
    (project.images_dir / "03-night.jpg").write_bytes((project.images_dir / "04-room.jpg").read_bytes())
    assert Trainer(run).run() == "failed"
    final = events_of(run, "finished")[0]
    assert "03-night.jpg has changed since run" in final["message"] and "start a new run from its last checkpoint" in final["message"]
    assert final["fix"] == {"action": "train", "subject": ""}  # no checkpoint yet to start from


@pytest.mark.slow
def test_continuing_from_a_checkpoint_starts_from_its_vectors_and_records_the_parent(trainable_project):
    project = trainable_project(**{"training.save_every": 4})
    first = create_run(project, steps=4)
    Trainer(first).run()
    checkpoint = first.checkpoints()[-1]
    second = create_run(project, steps=2, start_from=checkpoint.embedding)
    assert second.facts().parent == ParentCheckpoint(first.id, 4, checkpoint.embedding)
    trainer = Trainer(second)
    trainer.run()
    first_norms = events_of(first, "step")[-1]["norms"]
    assert events_of(second, "step")[0]["norms"] == pytest.approx(first_norms, abs=0.05)


def test_a_run_on_a_project_with_problems_is_refused_with_them(trainable_project):
    project = trainable_project(**{"token.trigger": ""})
    with pytest.raises(UserError, match="The project cannot be trained yet:\n  No trigger word is set"):
        create_run(project)


def test_flipped_copies_double_the_training_images(trainable_project):
    run = create_run(trainable_project(**{"dataset.flip": True}), steps=1)
    Trainer(run).run()
    assert events_of(run, "config")[0]["training_images"] == 20


def test_prompts_fill_the_template_and_mix_the_caption_tags():
    generator = random.Random(3)
    caption = "red scarf, on a beach, waving, sunny"
    assert build_prompt("a photo of [name], [filewords]", "zorbot", caption, TagOptions(), generator) == (
        "a photo of zorbot, red scarf, on a beach, waving, sunny"
    )
    assert build_prompt("a photo of [name], [filewords]", "zorbot", "", TagOptions(), generator) == "a photo of zorbot"
    shuffled = {caption_text(caption, TagOptions(shuffle=True, keep=1), random.Random(seed)) for seed in range(20)}
    assert len(shuffled) > 1 and all(text.startswith("red scarf, ") for text in shuffled)
    dropped = caption_text(caption, TagOptions(dropout=0.5), random.Random(1))
    assert 0 < len(dropped.split(", ")) < 4
    # A caption-only template still names the trigger, or the step would teach nothing.
    assert build_prompt("[filewords]", "zorbot", "on a beach", TagOptions(), generator) == "zorbot, on a beach"
    assert build_prompt("[filewords]", "zorbot", "Zorbot on a beach", TagOptions(), generator) == "Zorbot on a beach"


def test_shipped_templates_and_a_custom_file(tmp_path):
    for name in ("photo", "photo_caption", "art_style", "art_style_caption", "caption"):
        lines = load_templates(name, tmp_path)
        assert lines and all("[name]" in line or "[filewords]" in line for line in lines)
    (tmp_path / "mine.txt").write_text("# my templates\n\n[name] in a hat\n")
    assert load_templates("mine.txt", tmp_path) == ["[name] in a hat"]
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(UserError, match="has no template lines"):
        load_templates("empty.txt", tmp_path)


def test_the_data_order_is_a_fresh_shuffle_each_epoch_and_resumes_where_it_was():
    order = DataOrder(5, seed=1)
    first_epoch, second_epoch = order.take(5), order.take(5)
    assert sorted(first_epoch) == sorted(second_epoch) == [0, 1, 2, 3, 4]
    assert first_epoch != second_epoch
    order.take(2)
    saved = order.state()
    expected = order.take(4)
    again = DataOrder(5, seed=1)
    again.restore(saved)
    assert again.take(4) == expected


def test_images_are_squared_upright_and_laid_on_the_background(tmp_path):
    from PIL import Image

    picture = Image.new("RGBA", (300, 200), (255, 0, 0, 0))
    picture.save(tmp_path / "clear.png")
    square = load_square_image(tmp_path / "clear.png", 64, "#00ff00")
    assert square.size == (64, 64) and square.getpixel((10, 10)) == (0, 255, 0)


def test_a_half_written_event_line_waits_for_its_end(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"seq": 1, "type": "step"}\n{"seq": 2, "ty')
    tail = RunWatcher(path)
    assert [event["seq"] for event in tail.poll()] == [1]
    with open(path, "a") as handle:
        handle.write('pe": "step"}\n')
    assert [event["seq"] for event in tail.poll()] == [2]
    assert tail.poll() == []


@pytest.mark.slow
def test_fp16_weights_train_with_a_scaled_loss_like_fp32(trainable_project):
    def trained(precision):
        run = create_run(trainable_project(precision, **{"model.precision": precision, "training.save_every": 3}), steps=3)
        assert Trainer(run).run() == "completed"
        return [event["loss"] for event in events_of(run, "step")], load_file(run.checkpoints()[-1].embedding)["emb_params"]

    half_losses, half_vectors = trained("fp16")
    full_losses, full_vectors = trained("fp32")
    assert half_losses == pytest.approx(full_losses, abs=0.01)
    assert (half_vectors - full_vectors).abs().mean() < 1e-4
    assert torch.isfinite(half_vectors).all()


@pytest.mark.slow
def test_min_snr_weighting_and_gradient_clipping_change_the_steps(trainable_project):
    def steps(name, **changes):
        run = create_run(trainable_project(name, **changes), steps=4)
        Trainer(run).run()
        return events_of(run, "step")

    plain = steps("plain")
    weighted = steps("weighted", **{"training.min_snr_gamma": 0.05})
    clipped = steps("clipped", **{"training.clip_grad_norm": 1e-12})
    # Low-noise timesteps count for less under min-SNR: the same draws give smaller losses.
    assert all(weighted_step["loss"] <= plain_step["loss"] + 1e-9 for weighted_step, plain_step in zip(weighted, plain))
    assert [step["loss"] for step in weighted] != pytest.approx([step["loss"] for step in plain])
    # Clipping below Adam's epsilon leaves the gradient too small to move the vectors much.
    assert clipped[-1]["norms"] != pytest.approx(plain[-1]["norms"], abs=1e-6)


def test_save_now_and_preview_now_are_done_between_steps(trainable_project, monkeypatch):
    project = trainable_project(**{"preview.prompts": ["a photo of [name]"], "preview.seeds": [3], "preview.sampling_steps": 2})
    run = create_run(project, steps=4)
    original = Trainer.report_step

    def ask_at_step_two(self, *arguments):
        original(self, *arguments)
        if self.state.step == 2:
            run.request("save-now")
            run.request("preview-now")

    monkeypatch.setattr(Trainer, "report_step", ask_at_step_two)
    Trainer(run).run()
    assert [checkpoint.step for checkpoint in run.checkpoints()] == [2, 4]
    assert sorted(path.name for path in run.previews_dir.iterdir()) == ["step-2-p1-s3-init.png", "step-2-p1-s3.png"]
    assert run.pending_requests() == set()
    parameters = Image.open(run.previews_dir / "step-2-p1-s3.png").text["parameters"]
    assert parameters.startswith("a photo of zorbot\nSteps: 2, Sampler: PLMS, CFG scale: 7, Seed: 3, Size: 128x128, Model hash: ")
    assert parameters.endswith('Model: "builtin:tiny", Embedding step: 2')  # quoted for its colon, as the web UI quotes it


def test_a_signal_to_stop_saves_first_though_a_file_stands_where_the_control_folder_belongs(trainable_project, monkeypatch):
    """A file in place of control/ once made SIGTERM fail the run ("control/stop: Not a directory"), unsaved."""
    run = create_run(trainable_project(**{"training.save_every": 100}), steps=6)
    run.control_dir.write_text("")
    original = Trainer.report_step

    def signalled_at_step_three(self, *arguments):
        original(self, *arguments)
        if self.state.step == 3:
            self.request_stop("stopped by signal SIGTERM")

    monkeypatch.setattr(Trainer, "report_step", signalled_at_step_three)
    assert Trainer(run).run() == "stopped"
    assert [checkpoint.step for checkpoint in run.checkpoints()] == [3]
    assert run.events()[-1]["message"] == "stopped by signal SIGTERM at step 3"


def test_progress_on_a_terminal_is_one_line_rewritten():
    import io

    from ti_tui.commands.progress import ProgressPrinter

    terminal = io.StringIO()
    printer = ProgressPrinter(terminal, interactive=True)
    for step in (1, 2):
        printer.show(
            {"type": "step", "step": step, "total": 4, "loss": 0.5, "loss_smoothed": 0.5, "lr": 0.005, "steps_per_s": 2.0, "eta_s": 1.0}
        )
    printer.show({"type": "checkpoint", "step": 2, "path": "zorbot-2.safetensors"})
    text = terminal.getvalue()
    assert text.count("\r") == 2 and "[############............] step 2/4" in text
    assert text.endswith("\nstep 2: saved zorbot-2.safetensors\n")


def test_a_full_disk_before_any_checkpoint_says_there_is_none(trainable_project):
    run = create_run(trainable_project(**{"training.save_every": 2}), steps=4)
    assert Trainer(run, Faults("disk_full_at=2")).run() == "failed"
    assert "no checkpoint had been saved yet" in events_of(run, "finished")[0]["message"]


def test_a_long_caption_never_pushes_the_trigger_out_of_the_prompt(trainable_project):
    from ti_tui.sd.placeholder import PromptEncoder

    model = load_model(ModelSettings(base="builtin:tiny", device="cpu"), trainable_project().root)
    encoder = PromptEncoder(model.tokenizer, model.text_encoder)
    entry = encoder.add("zorbot", torch.zeros(2, 768))
    long_caption = ", ".join(f"tag{number}" for number in range(60))
    ids = encoder.token_ids(f"a painting of {long_caption} in the style of zorbot")
    assert len(ids) == 77
    assert ids[-1 - ids[::-1].index(entry.placeholders[-1]) - 1] == entry.placeholders[0]  # both vectors, together

    project = trainable_project("styled", **{"training.template": "art_style_caption"})
    for caption in project.images_dir.glob("*.txt"):
        caption.write_text(long_caption)
    run = create_run(project, steps=2)
    assert Trainer(run).run() == "completed"


@pytest.mark.slow
def test_velocity_prediction_trains_against_the_velocity(trainable_project):
    def first_loss(name, prediction):
        run = create_run(trainable_project(name, **{"model.prediction": prediction}), steps=1)
        trainer = Trainer(run)
        trainer.run()
        return events_of(run, "step")[0]["loss"], trainer.frozen.noise_scheduler.config.prediction_type

    noise_loss, noise_kind = first_loss("noise", "epsilon")
    velocity_loss, velocity_kind = first_loss("velocity", "v_prediction")
    assert (noise_kind, velocity_kind) == ("epsilon", "v_prediction")
    assert velocity_loss != pytest.approx(noise_loss)


def test_odd_lines_in_the_event_log_are_skipped(trainable_project):
    run = create_run(trainable_project(), steps=1)
    run.events_file.write_text('{"note": 1}\n[1, 2]\n{"v": 1, "seq": 7, "type": "step", "step": 1}\n{"v": 1, "se')
    assert run_status(run).step == 1
    assert Trainer(run).run() == "completed"
    kinds = [event["type"] for event in run.events()]
    assert kinds[0] == "step" and kinds[1] == "started"  # the cut line did not swallow the next event
    assert run.events()[1]["seq"] == 8


@pytest.mark.slow
def test_a_run_continued_from_a_checkpoint_numbers_its_steps_on_from_it(trainable_project):
    project = trainable_project(**{"training.save_every": 2, "training.validation_every": 0})
    parent = create_run(project, steps=2)
    assert Trainer(parent).run() == "completed"
    child = create_run(project, steps=3, start_from=parent.checkpoints()[-1].embedding)
    assert (child.facts().first_step, child.facts().last_step) == (2, 5)
    assert Trainer(child).run() == "completed"
    assert [event["step"] for event in events_of(child, "step")] == [3, 4, 5]
    assert [checkpoint.step for checkpoint in child.checkpoints()] == [4, 5]
    config = events_of(child, "config")[0]
    assert (config["start_step"], config["steps"]) == (2, 5)
    assert config["typical_norm"] > 0
    assert run_status(child).describe().startswith("finished at step 5 of 5: trained 3 steps")


def test_two_front_ends_starting_a_run_at_the_same_moment_get_one_run(trainable_project, monkeypatch):
    import os
    import threading
    import time

    import psutil

    from ti_tui.runs.directory import Launch
    from ti_tui.usecases import training

    project = trainable_project()

    def launched_and_alive(run):  # this test's own process stands in for a trainer that has not taken its lock yet
        time.sleep(0.2)
        run.record_launch(Launch(os.getpid(), time.time(), psutil.Process().create_time(), ["a trainer"]))

    monkeypatch.setattr(training, "start_trainer", launched_and_alive)
    outcomes = []

    def press_start() -> None:
        try:
            outcomes.append(training.start_new_run(project)[0])
        except UserError as error:
            outcomes.append(str(error))

    presses = [threading.Thread(target=press_start) for _ in range(2)]
    for press in presses:
        press.start()
    for press in presses:
        press.join()
    assert len(training.list_runs(project)) == 1
    refusals = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert len(refusals) == 1 and "is starting" in refusals[0] and "two runs at once" in refusals[0]
