"""Inputs a hostile-but-fair tester tried: each gets one clear message, or the right result, never a traceback."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import SAMPLE_PROJECT, ti_tui_in_process
from pydantic import ValidationError

from ti_tui.dataset.importing import import_images
from ti_tui.dataset.prepare import prepare_dataset, stale_reasons
from ti_tui.dataset.training_set import training_items, unreadable_images
from ti_tui.errors import UserError
from ti_tui.findings import Fix
from ti_tui.paths import CACHE_DIR_ENVIRONMENT_VARIABLE, cache_dir
from ti_tui.project import Project
from ti_tui.settings import TokenSettings
from ti_tui.usecases.images import originals, prepare_project
from ti_tui.usecases.summary import summarize_project


def trigger_findings(project):
    return [finding for finding in summarize_project(project).problems if finding.check == "trigger"]


def copy_preserving_nothing(source, target):
    """`cp -r`: contents only, so every file gets a new modification time."""
    shutil.copytree(source, target, copy_function=shutil.copyfile)


# 10. A trigger too long to name files ------------------------------------------------------------


@pytest.mark.parametrize("trigger", ["z" * 300, "ロ" * 50], ids=["300-letters", "50-letters-150-bytes"])
def test_a_trigger_too_long_for_file_names_is_refused_with_the_reason(trigger):
    """A 300-character trigger passed validation and then failed at `train` with "File name too long";
    so did one of 50 Japanese letters, 150 bytes in UTF-8, which is what file systems count."""
    with pytest.raises(ValidationError) as caught:
        TokenSettings(trigger=trigger)
    message = caught.value.errors()[0]["msg"]
    assert "at most 64 characters and 128 bytes in UTF-8" in message
    assert f"{len(trigger)} characters, {len(trigger.encode())} bytes" in message
    assert "names the run's folder and every checkpoint file" in message
    assert TokenSettings(trigger="z" * 64).trigger == "z" * 64


def test_a_too_long_trigger_written_into_the_project_is_named_by_key(trainable_project):
    """The same trigger typed into the wizard or project.toml is refused there, naming token.trigger."""
    project = trainable_project()
    update = project.update({"token.trigger": "z" * 300})
    assert [problem.fix for problem in update.problems] == [Fix("edit-setting", "token.trigger")]
    assert "token.trigger" in str(update.problems[0]) and "at most 64 characters" in str(update.problems[0])


# 11. The trigger checked against the tokenizer ---------------------------------------------------


def test_a_trigger_the_model_already_knows_is_a_warning_with_better_names(trainable_project, tiny_model_dir):
    """ "robot", a word the tokenizer knows, trained without a word of warning and doctor said "No problems found"."""
    project = trainable_project(**{"token.trigger": "robot"})
    summary = summarize_project(project)
    [finding] = trigger_findings(project)
    assert finding.severity == "warning" and summary.errors == []
    assert "'robot' is already a single token the model knows" in finding.what
    assert finding.why.startswith("Made-up words that pass every check: ")
    assert finding.fix == Fix("edit-setting", "token.trigger")


def test_a_trigger_beyond_ascii_is_a_warning(trainable_project, tiny_model_dir):
    """ "ロボット" trained with no warning although most UIs and file systems handle such names badly."""
    project = trainable_project(**{"token.trigger": "ロボット"})
    findings = trigger_findings(project)
    assert {finding.severity for finding in findings} == {"warning"}
    assert any("has letters beyond plain ASCII" in finding.what for finding in findings)


def test_a_made_up_trigger_has_no_findings(trainable_project, tiny_model_dir):
    assert trigger_findings(trainable_project()) == []


def test_the_trigger_check_loads_no_model_library(trainable_project, tiny_model_dir):
    """The summary runs for every screen of the wizard: it reads the tokenizer's files without transformers or torch."""
    project = trainable_project(**{"token.trigger": "robot"})
    script = (
        "import sys\n"
        "from ti_tui.project import Project\n"
        "from ti_tui.usecases.summary import summarize_project\n"
        f"problems = summarize_project(Project.open({os.fspath(project.root)!r})).problems\n"
        "assert any(problem.check == 'trigger' for problem in problems), problems\n"
        "print([name for name in ('torch', 'transformers', 'diffusers') if name in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("files", [("vocab.json", "merges.txt"), ("tokenizer.json",)])
def test_the_tokenizer_read_from_its_files_splits_as_transformers_does(tiny_model_dir, tmp_path, files):
    """The summary's tokenizer, read without transformers, must judge a trigger as the Token step's does."""
    from ti_tui.sd.tokenizer import load_tokenizer
    from ti_tui.sd.tokens import read_tokenizer_files

    for name in files:
        shutil.copy(tiny_model_dir / "tokenizer" / name, tmp_path / name)
    ours, theirs = read_tokenizer_files(tmp_path), load_tokenizer(tiny_model_dir / "tokenizer")
    for text in ("robot", "Robot", "zorbot", "ロボット", "zörbot", "x-1.b_c", "a photo of wdnsdy", "it's"):
        assert ours.tokenize(text) == theirs.tokenize(text), text
    assert len(ours) == len(theirs) and ours.convert_tokens_to_ids("robot</w>") == theirs.convert_tokens_to_ids("robot</w>")
    assert read_tokenizer_files(tmp_path / "nowhere") is None


def test_the_token_step_refuses_a_trigger_too_many_bytes_long(tiny_model_dir):
    from ti_tui.sd.tokens import check_trigger, read_tokenizer_files

    [finding] = check_trigger("ロ" * 50, read_tokenizer_files(tiny_model_dir / "tokenizer"))
    assert finding.severity == "error" and finding.what.startswith("The trigger is 150 bytes long in UTF-8; keep it under 128")


def test_no_tokenizer_files_yet_means_no_trigger_findings(trainable_project, tmp_path, monkeypatch):
    """builtin:tiny before its first use has no tokenizer files: the trigger is then not judged, and nothing fails."""
    monkeypatch.setenv(CACHE_DIR_ENVIRONMENT_VARIABLE, os.fspath(tmp_path / "empty-cache"))
    assert trigger_findings(trainable_project(**{"token.trigger": "robot"})) == []


# 12. A damaged prepared image --------------------------------------------------------------------


def test_a_damaged_prepared_copy_is_named_with_its_original_and_made_again(trainable_project):
    """A cut-short prepared/01-hill.png: prepare kept it "as you edited it", and train named only 01-hill.png."""
    project = trainable_project()
    prepare_project(project)
    damaged = project.prepared_dir / "01-hill.png"
    damaged.write_bytes(damaged.read_bytes()[:2000])
    caption = (project.prepared_dir / "01-hill.txt").read_text()

    [finding] = unreadable_images(training_items(originals(project), project.prepared_dir, True), project.prepared_dir)
    assert finding.what.startswith(f"{damaged}, the prepared copy of {project.images_dir / '01-hill.jpg'}, is cut short")
    assert finding.fix == Fix("prepare") and "Prepare the images again" in finding.why

    report = prepare_project(project)
    assert report.remade == ["01-hill.png"] and report.prepared == ["01-hill.png"] and report.kept_edits == []
    assert unreadable_images(training_items(originals(project), project.prepared_dir, True), project.prepared_dir) == []
    assert (project.prepared_dir / "01-hill.txt").read_text() == caption


def test_a_damaged_original_is_to_be_replaced(trainable_project):
    project = trainable_project()
    original = project.images_dir / "03-night.jpg"
    original.write_bytes(original.read_bytes()[:2000])
    [finding] = unreadable_images(training_items(originals(project), project.prepared_dir, True), project.prepared_dir)
    assert finding.what.startswith("03-night.jpg is cut short")
    assert finding.why == "Take it out of training (dataset.exclude), delete it, or replace it with a good copy."


# 13. Files where folders belong ------------------------------------------------------------------


@pytest.mark.parametrize("below", ["", "cache"])
def test_a_cache_variable_naming_a_file_is_named_with_what_to_do(trainable_project, tmp_path, monkeypatch, below):
    """TI_TUI_CACHE_DIR naming a file (or a folder inside one): doctor found nothing, train said "…/models: Not a directory"."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_DIR_ENVIRONMENT_VARIABLE, os.fspath(blocker / below))
    with pytest.raises(UserError) as caught:
        cache_dir()
    assert f"TI_TUI_CACHE_DIR is set to {blocker / below}, but {blocker} is a file, not a folder" in str(caught.value)

    summary = summarize_project(trainable_project())
    assert [problem.check for problem in summary.errors] == ["cache"]
    assert "set TI_TUI_CACHE_DIR to a folder" in summary.errors[0].what


def test_an_images_path_that_is_a_file_is_named(trainable_project, tmp_path):
    """`images` made a file: import said only "File exists", prepare that the folder was unplugged."""
    project = trainable_project()
    shutil.rmtree(project.images_dir)
    project.images_dir.write_text("")
    with pytest.raises(UserError) as caught:
        import_images([tmp_path], project.images_dir)
    assert f"{project.images_dir} is a file, not a folder" in str(caught.value)
    assert caught.value.fix == Fix("edit-setting", "dataset.images")
    with pytest.raises(UserError, match="is a file, not a folder: move the file away, or set dataset.images"):
        prepare_project(project)


# 14. An embedding of whole numbers ---------------------------------------------------------------


def test_an_integer_embedding_is_blamed_on_its_type_not_its_shape(tmp_path):
    """`inspect` on an int32 [2, 768] tensor said its shape was wrong."""
    import torch
    from safetensors.torch import save_file

    from ti_tui.embedding.files import read_embedding

    path = tmp_path / "whole.safetensors"
    save_file({"emb_params": torch.zeros((2, 768), dtype=torch.int32)}, path)
    with pytest.raises(UserError) as caught:
        read_embedding(path)
    assert f"{path} holds a [2, 768] tensor of int32, which is not a float type" in str(caught.value)


# 15. A copied or moved project -------------------------------------------------------------------


def test_a_copied_project_is_still_prepared(trainable_project, tmp_path):
    """rsync or scp -r to a GPU box: the manifest's full paths and file times made prepared/ "out of date",
    each image twice (new, and gone), and train refused until prepare ran again."""
    project = trainable_project()
    prepare_project(project)
    manifest = json.loads((project.prepared_dir / "manifest.json").read_text())
    assert manifest["images"]["01-hill.png"]["original"] == "images/01-hill.jpg"

    copy_preserving_nothing(project.root, project.root.parent / "elsewhere")
    copy = Project.open(project.root.parent / "elsewhere")
    assert stale_reasons(originals(copy), copy.prepared_dir) == []
    assert summarize_project(copy).errors == []
    report = prepare_project(copy)
    assert report.prepared == [] and report.retired == [] and len(report.unchanged) == 10

    (copy.images_dir / "02-beach.jpg").write_bytes((copy.images_dir / "03-night.jpg").read_bytes())
    assert stale_reasons(originals(copy), copy.prepared_dir) == ["02-beach.jpg changed"]


def test_a_version_1_manifest_still_reads_after_the_project_moved(trainable_project):
    """Manifests already written hold full paths: a moved project finds its originals at the same place inside it."""
    project = trainable_project()
    prepare_project(project)
    manifest_path = project.prepared_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["images"].values():
        entry["original"] = os.fspath(project.root / entry["original"])
    manifest_path.write_text(json.dumps({**manifest, "version": 1}))

    moved = project.root.parent / "moved"
    project.root.rename(moved)
    moved_project = Project.open(moved)
    assert stale_reasons(originals(moved_project), moved_project.prepared_dir) == []
    report = prepare_project(moved_project)
    assert report.prepared == [] and report.retired == [] and len(report.unchanged) == 10
    assert json.loads((moved / "prepared" / "manifest.json").read_text())["version"] == 2


def test_originals_outside_the_project_keep_their_full_paths(tmp_path):
    images = tmp_path / "photos"
    shutil.copytree(SAMPLE_PROJECT / "images", images)
    prepared = tmp_path / "project" / "prepared"
    pictures = sorted(images.glob("*.jpg"))[:5]
    prepare_dataset(pictures, images, prepared, 64, "style", "#ffffff")
    manifest = json.loads((prepared / "manifest.json").read_text())["images"]
    assert manifest["01-hill.png"]["original"] == os.fspath(pictures[0])
    assert stale_reasons(pictures, prepared) == []


# 16. Images in sub-folders -----------------------------------------------------------------------


def test_import_says_how_many_images_lie_in_subfolders(trainable_project, tmp_path):
    """`import` without --recursive reported "Imported 0" when the images were in sub-folders, saying nothing of them."""
    project = trainable_project()
    source = tmp_path / "holiday"
    for day, name in (("day1", "01-hill.jpg"), ("day2", "02-beach.jpg")):
        (source / day).mkdir(parents=True)
        shutil.copy(project.images_dir / name, source / day / name)
    assert import_images([source], project.images_dir).in_subfolders == 2
    result = ti_tui_in_process("import", os.fspath(project.root), os.fspath(source))
    assert result.returncode == 0, result.stderr
    assert "Imported 0 image(s)" in result.stdout
    assert "2 image(s) in folders inside those you named were not looked at; add --recursive to import them too" in result.stdout
    assert import_images([source], project.images_dir, recursive=True).in_subfolders == 0


def test_a_raw_pickle_embedding_is_refused_without_a_library_warning_first(tmp_path, capfd):
    """16: a .pt written by pickle itself (not torch.save) made torch print a UserWarning before our message."""
    import pickle

    from ti_tui.embedding.files import read_embedding

    path = tmp_path / "raw.pt"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    with pytest.raises(UserError, match="raw.pt"):
        read_embedding(path)
    assert capfd.readouterr().err == ""


@pytest.mark.slow
def test_train_says_what_is_wrong_with_the_trigger_before_it_trains(trainable_project, tiny_model_dir):
    """11: "robot" trained with no word said; `train` now prints the trigger's warnings with its plan."""
    project = trainable_project(**{"token.trigger": "robot", "training.save_every": 1, "training.validation_every": 0})
    result = ti_tui_in_process("train", str(project.root), "--steps", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stdout.splitlines() if line.startswith("Warning: ")]
    assert warnings and "robot" in warnings[0]
    assert result.stdout.index("Warning: ") < result.stdout.index("step 1/1")


def test_runs_are_listed_while_project_toml_has_an_error(trainable_project):
    """16: `runs` listed nothing while project.toml had an error; the runs keep their own settings."""
    from ti_tui.usecases.training import create_run

    project = trainable_project()
    run = create_run(project, steps=4)
    project.store.path.write_text(project.store.path.read_text() + "\ngarbage = = =\n")
    result = ti_tui_in_process("runs", str(project.root))
    assert result.returncode == 2
    assert result.stdout.startswith(run.id) and "not valid TOML" in result.stderr


def test_names_in_run_and_grid_files_never_lead_a_write_outside_the_project(trainable_project, tmp_path):
    """Paths from run files, control files and grid plans: a hand-edited one is refused, nothing is written elsewhere."""
    import json

    from ti_tui.infer.grid import GridDirectory
    from ti_tui.runs import RunDirectory
    from ti_tui.usecases.training import create_run

    project = trainable_project()
    run = create_run(project, steps=4)
    facts = json.loads(run.run_file.read_text())
    facts["settings"]["token"]["trigger"] = "../../outside"
    run.run_file.write_text(json.dumps(facts))
    with pytest.raises(UserError, match="run.json cannot be read"):
        RunDirectory(run.path).facts()
    with pytest.raises(ValueError, match="unknown control request"):
        run.request("../../outside")

    grid = GridDirectory(project.root / "grids" / "hand-edited")
    grid.path.mkdir(parents=True)
    grid.plan_file.write_text(json.dumps({"v": 1, "project": str(project.root), "run": run.id, "axes": {}, "tokenizer": "", "precision": "auto",
        "device": "auto", "cells": [{"x": 0, "y": 0, "z": 0, "key": "../../../outside", "settings": {}}]}))  # fmt: skip
    with pytest.raises(UserError, match="grid.json cannot be read"):
        grid.plan()
    from ti_tui.infer.xy import main

    assert main([str(grid.path)]) == 2
    assert not list(tmp_path.rglob("outside*"))


# Issue 20, High 3: a symbolic-link loop wherever a path is taken ------------------------------------

LOOP_COMMANDS = {
    "open": ["{loop}"],
    "doctor": ["doctor", "{loop}"],
    "new": ["new", "{loop}"],
    "runs": ["runs", "{loop}"],
    "import": ["import", "{project}", "{loop}"],
    "train-from": ["train", "{project}", "--from", "{loop}"],
    "export-to": ["export", "{project}", "--to", "{loop}"],
    "generate-model": ["generate", "{project}", "a [name]", "--model", "{loop}"],
    "generate-embedding": ["generate", "{project}", "a [name]", "--embedding", "{loop}"],
    "xy-model": ["xy", "{project}", "--x", "model={loop}"],
}
LOOP_SETTINGS = {"model.base": ["doctor", "train"], "dataset.images": ["doctor", "train"], "model.tokenizer": ["doctor", "train"]}


@pytest.fixture
def project_with_a_loop(trainable_project):
    """A project with a finished run and its checkpoints (so that export, generate and xy reach the path), and a loop beside it."""
    from run_recording import recorded_run
    from wizard_support import write_checkpoints

    project = trainable_project()
    write_checkpoints(recorded_run(project, "20261206-000000", steps=4, reached=4, every=2))
    loop = project.root.parent / "LOOP"
    loop.symlink_to(loop.name)
    return project, loop


def said_of_the_loop(arguments: list[str], loop, capsys) -> list[str]:
    """The lines `ti-tui ARGUMENTS` prints of the loop: each the sentence naming it; the exit status says it failed."""
    from ti_tui.cli import main

    status = main(arguments)  # an exception here is the traceback the user saw
    said = capsys.readouterr()
    output = said.out + said.err
    assert status != 0, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if "symbolic-link loop" in line or "Symlink loop" in line]
    assert lines, output
    for line in lines:
        assert line.count(f"{loop} is a symbolic-link loop") == 1, line
    return lines


@pytest.mark.parametrize("command", list(LOOP_COMMANDS))
def test_a_symbolic_link_loop_given_as_a_path_is_named_in_one_sentence(project_with_a_loop, capsys, command):
    """`runs LOOP`, `train --from LOOP`, `generate --embedding LOOP` ...: "RuntimeError: Symlink loop from …" and a traceback."""
    project, loop = project_with_a_loop
    arguments = [argument.format(project=project.root, loop=loop) for argument in LOOP_COMMANDS[command]]
    said_of_the_loop(arguments, loop, capsys)


@pytest.mark.parametrize(("key", "command"), [(key, command) for key, commands in LOOP_SETTINGS.items() for command in commands])
def test_a_symbolic_link_loop_in_a_setting_is_named_in_one_sentence(project_with_a_loop, capsys, key, command):
    """model.base, dataset.images or model.tokenizer set to a loop: doctor and train name it, and the key."""
    project, loop = project_with_a_loop
    assert project.update({key: str(loop)}).problems == []
    lines = said_of_the_loop([command, str(project.root)], loop, capsys)
    assert any(key in line for line in lines), lines
