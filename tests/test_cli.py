"""The `ti-tui` command: creating projects, the doctor, and a start-up without heavy imports."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import REPOSITORY, SAMPLE_PROJECT, run_ti_tui, ti_tui_in_process

from ti_tui import __version__

HEAVY_MODULES = ("torch", "diffusers", "transformers", "accelerate")


def test_version():
    result = ti_tui_in_process("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"ti-tui {__version__}"


def test_the_installed_command_names_the_commands_in_its_help():
    # How long it takes is measured in bench/sample_commands.py; what keeps it quick (no model
    # library imported) is the next test.
    result = subprocess.run([Path(sys.executable).parent / "ti-tui", "--help"], capture_output=True, text=True, cwd=REPOSITORY)
    assert result.returncode == 0
    for command in ("new", "doctor", "open", "ti-tui [PROJECT]"):
        assert command in result.stdout


def test_commands_that_need_no_model_import_no_model_library(tmp_path):
    for arguments in (["--help"], ["new", "p", "--token", "wdnsdy"]):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "ti_tui", *arguments], capture_output=True, text=True, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
        assert "ti_tui.cli" in imported
        assert not imported & set(HEAVY_MODULES), arguments


def test_new_writes_a_project_with_the_given_options(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    result = ti_tui_in_process("new", "myface", "--token", "wdnsdy", "--model", "builtin:tiny", "--images", str(photos), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    settings = tomllib.loads((tmp_path / "myface" / "project.toml").read_text())
    assert settings["token"]["trigger"] == "wdnsdy"
    assert settings["model"]["base"] == "builtin:tiny"
    assert settings["dataset"]["images"] == str(photos)
    assert not (tmp_path / "myface" / "images").exists()


def test_new_stores_a_local_model_file_so_it_is_found_from_the_project(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "my.safetensors").write_bytes(b"")
    result = ti_tui_in_process("new", "p", "--model", "models/my.safetensors", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    base = tomllib.loads((tmp_path / "p" / "project.toml").read_text())["model"]["base"]
    assert base == str(tmp_path / "models" / "my.safetensors")


def test_new_refuses_to_overwrite_an_existing_project(tmp_path):
    assert ti_tui_in_process("new", "p", "--token", "first", cwd=tmp_path).returncode == 0
    result = ti_tui_in_process("new", "p", "--token", "second", cwd=tmp_path)
    assert result.returncode == 2
    assert "already a project" in result.stderr
    assert 'trigger = "first"' in (tmp_path / "p" / "project.toml").read_text()


def test_new_explains_bad_options(tmp_path):
    (tmp_path / "a-file").write_text("x")
    expectations = {
        ("--images", "nowhere"): "the images folder " + str(tmp_path / "nowhere") + " does not exist",
        ("--images", "a-file"): "is a file, not a folder",
        ("--images", "~nosuchuser/photos"): "there is no user 'nosuchuser'; write ~/ for your home",
        ("--token", "two words"): "should be one word of letters and digits",
        ("--token", "../x"): "should be one word of letters and digits",
        ("--model", "missing.safetensors"): "no such file or folder",
        ("--model", ""): "no model was named",
    }
    for (option, value), message in expectations.items():
        result = ti_tui_in_process("new", "p", option, value, cwd=tmp_path)
        assert result.returncode == 2, (option, value)
        assert message in result.stderr, (option, value, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "p").exists()


def test_new_explains_bad_folders(tmp_path):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "odd" / "project.toml").mkdir(parents=True)
    expectations = {
        "": "name the folder for the new project",
        "a-file": "is a file; name a new or existing folder",
        "a-file/sub": "cannot create the project",
        "odd": "project.toml is a folder; rename it",
    }
    for folder, message in expectations.items():
        result = ti_tui_in_process("new", folder, cwd=tmp_path)
        assert result.returncode == 2, folder
        assert message in result.stderr, (folder, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_sub_command_mistake_names_the_sub_command():
    result = ti_tui_in_process("new")
    assert result.returncode == 2
    assert "ti-tui new: error: the following arguments are required: folder" in result.stderr


def test_opening_a_folder_that_is_not_a_project_says_how_to_make_one(tmp_path):
    result = ti_tui_in_process(str(tmp_path))
    assert result.returncode == 2
    assert f"ti-tui new {tmp_path}" in result.stderr


def test_doctor_reports_the_sample_project_and_exits_0():
    # The installed command in a fresh process, as a user first meets it; the other tests call it in this one.
    result = run_ti_tui("doctor", str(SAMPLE_PROJECT))
    assert result.returncode == 0, result.stdout + result.stderr
    report = result.stdout
    for expected in (
        "Python",
        "torch",
        "diffusers",
        "cpu",
        "builtin:tiny",
        "10 in",
        "10 with captions",
        "noise, not pictures",
        "No problems found.",
    ):
        assert expected in report, expected


def test_doctor_checks_the_project_in_the_current_folder():
    result = ti_tui_in_process("doctor", cwd=SAMPLE_PROJECT)
    assert result.returncode == 0
    assert "Project sample_project" in result.stdout


def test_doctor_names_what_blocks_training(tmp_path):
    assert ti_tui_in_process("new", "p", "--model", "org/not-downloaded", cwd=tmp_path).returncode == 0
    result = ti_tui_in_process("doctor", "p", cwd=tmp_path)
    assert result.returncode == 1
    assert "org/not-downloaded is not in the local Hugging Face cache" in result.stdout
    assert "Fetch it once while online, or set model.base to a local .safetensors file (run: ti-tui fetch p)" in result.stdout
    assert "0 image(s)" in result.stdout


def test_doctor_flags_a_device_this_machine_lacks(tmp_path):
    assert ti_tui_in_process("new", "p", "--model", "builtin:tiny", cwd=tmp_path).returncode == 0
    project_file = tmp_path / "p" / "project.toml"
    project_file.write_text(project_file.read_text().replace('device = "auto"', 'device = "cuda:3"'))
    result = ti_tui_in_process("doctor", "p", cwd=tmp_path)
    assert result.returncode == 1
    assert "model.device is 'cuda:3', but this machine has only" in result.stdout


@pytest.mark.slow
def test_doctor_says_which_precision_auto_trains_in_on_this_cpu(monkeypatch):
    monkeypatch.setenv("TI_TUI_CPU_BF16", "native")
    assert "bf16 native (precision auto trains in bf16), as TI_TUI_CPU_BF16 says" in ti_tui_in_process("doctor").stdout
    monkeypatch.setenv("TI_TUI_CPU_BF16", "emulated")
    assert "bf16 emulated (precision auto trains in fp32), as TI_TUI_CPU_BF16 says" in ti_tui_in_process("doctor").stdout
    monkeypatch.setenv("TI_TUI_CPU_BF16", "sometimes")
    result = ti_tui_in_process("doctor")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "problem: TI_TUI_CPU_BF16='sometimes' is not understood: set it to native or emulated" in result.stdout


@pytest.mark.slow
def test_the_dataset_commands_from_import_to_prompts(tmp_path):
    assert ti_tui_in_process("new", "p", "--model", "builtin:tiny", "--token", "zorbot", cwd=tmp_path).returncode == 0
    imported = ti_tui_in_process("import", "p", str(SAMPLE_PROJECT / "images"), cwd=tmp_path)
    assert "Imported 10 image(s)" in imported.stdout
    checked = ti_tui_in_process("check", "p", cwd=tmp_path)
    assert checked.returncode == 0 and "10 image(s) checked for training at 128 px" in checked.stdout
    prepared = ti_tui_in_process("prepare", "p", cwd=tmp_path)
    assert "Prepared 10 image(s) at 128 px" in prepared.stdout
    assert "Prepared 0 image(s) at 128 px" in ti_tui_in_process("prepare", "p", cwd=tmp_path).stdout
    edited = ti_tui_in_process("captions", "p", "--replace", "scarf", "bandana", cwd=tmp_path)
    assert "Changed 10 caption(s)" in edited.stdout
    prompts = ti_tui_in_process("prompts", "p", cwd=tmp_path).stdout
    assert "  a photo of zorbot, standing on a green hill under a blue sky with clouds, waving, red bandana" in prompts
    assert (SAMPLE_PROJECT / "images" / "01-hill.txt").read_text().strip().endswith("red scarf")  # originals untouched


def test_doctor_lists_what_is_wrong_with_the_images(trainable_project):
    from PIL import Image, ImageFilter

    project = trainable_project()
    hill = project.images_dir / "01-hill.jpg"
    Image.open(hill).filter(ImageFilter.GaussianBlur(4)).save(hill)
    report = ti_tui_in_process("doctor", str(project.root)).stdout
    images = report.split("\nImages (", 1)[1].split("\n\n", 1)[0]
    assert "10 readable, checked for training at 128 px" in images
    assert "warning: 01-hill.jpg looks blurry" in images


@pytest.mark.parametrize(
    ("steps", "reason"),
    [("0", "should be at least 1"), ("-3", "should be at least 1"), ("100000000000000000000000", "should be at most 1000000")],
)
def test_a_step_count_out_of_range_is_refused_before_a_run_is_made(trainable_project, steps, reason):
    project = trainable_project()
    result = ti_tui_in_process("train", str(project.root), f"--steps={steps}")
    assert result.returncode == 2 and f"a run of {steps} steps cannot be made: {reason}" in result.stderr
    assert not project.runs_dir.exists()
