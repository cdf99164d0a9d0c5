"""The `ti-tui` command: creating projects, the doctor, and a start-up without heavy imports."""

import subprocess
import sys
import time
import tomllib
from pathlib import Path

from conftest import REPOSITORY, SAMPLE_PROJECT, run_ti_tui
from ti_tui import __version__

HEAVY_MODULES = ("torch", "diffusers", "transformers", "accelerate")


def test_version():
    result = run_ti_tui("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"ti-tui {__version__}"


def test_help_is_quick_and_names_the_commands():
    installed_command = Path(sys.executable).parent / "ti-tui"
    started = time.monotonic()
    result = subprocess.run([installed_command, "--help"], capture_output=True, text=True, cwd=REPOSITORY)
    elapsed = time.monotonic() - started
    assert result.returncode == 0
    for command in ("new", "doctor", "open", "ti-tui [PROJECT]"):
        assert command in result.stdout
    assert elapsed < 1.0, f"ti-tui --help took {elapsed:.2f} s"


def test_start_up_imports_no_model_library():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ti_tui.cli"], capture_output=True, text=True
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "ti_tui.cli" in imported
    assert not imported & set(HEAVY_MODULES)


def test_new_writes_a_project_with_the_given_options(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    result = run_ti_tui("new", "myface", "--token", "wdnsdy", "--model", "builtin:tiny", "--images", str(photos), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    settings = tomllib.loads((tmp_path / "myface" / "project.toml").read_text())
    assert settings["token"]["trigger"] == "wdnsdy"
    assert settings["model"]["base"] == "builtin:tiny"
    assert settings["dataset"]["images"] == str(photos)
    assert not (tmp_path / "myface" / "images").exists()


def test_new_stores_a_local_model_file_so_it_is_found_from_the_project(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "my.safetensors").write_bytes(b"")
    result = run_ti_tui("new", "p", "--model", "models/my.safetensors", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    base = tomllib.loads((tmp_path / "p" / "project.toml").read_text())["model"]["base"]
    assert base == str(tmp_path / "models" / "my.safetensors")


def test_new_refuses_to_overwrite_an_existing_project(tmp_path):
    assert run_ti_tui("new", "p", "--token", "first", cwd=tmp_path).returncode == 0
    result = run_ti_tui("new", "p", "--token", "second", cwd=tmp_path)
    assert result.returncode == 2
    assert "already a project" in result.stderr
    assert 'trigger = "first"' in (tmp_path / "p" / "project.toml").read_text()


def test_new_explains_bad_options(tmp_path):
    missing = run_ti_tui("new", "p", "--images", "nowhere", cwd=tmp_path)
    assert missing.returncode == 2 and "--images" in missing.stderr and "no such folder" in missing.stderr
    spaced = run_ti_tui("new", "p", "--token", "two words", cwd=tmp_path)
    assert spaced.returncode == 2 and "single word" in spaced.stderr
    no_model = run_ti_tui("new", "p", "--model", "missing.safetensors", cwd=tmp_path)
    assert no_model.returncode == 2 and "no such file" in no_model.stderr
    assert "Traceback" not in missing.stderr + spaced.stderr + no_model.stderr
    assert not (tmp_path / "p").exists()


def test_opening_a_folder_that_is_not_a_project_says_how_to_make_one(tmp_path):
    result = run_ti_tui(str(tmp_path))
    assert result.returncode == 2
    assert f"ti-tui new {tmp_path}" in result.stderr


def test_doctor_reports_the_sample_project_and_exits_0():
    result = run_ti_tui("doctor", str(SAMPLE_PROJECT))
    assert result.returncode == 0, result.stdout + result.stderr
    report = result.stdout
    for expected in ("Python", "torch", "diffusers", "cpu", "builtin:tiny", "10 in", "10 with captions",
                     "noise, not pictures", "No problems found."):
        assert expected in report, expected


def test_doctor_names_what_blocks_training(tmp_path):
    assert run_ti_tui("new", "p", "--model", "org/not-downloaded", cwd=tmp_path).returncode == 0
    result = run_ti_tui("doctor", "p", cwd=tmp_path)
    assert result.returncode == 1
    assert "org/not-downloaded is not in the local Hugging Face cache" in result.stdout
    assert "hf download org/not-downloaded" in result.stdout
    assert "0 image(s)" in result.stdout


def test_doctor_flags_a_device_this_machine_lacks(tmp_path):
    assert run_ti_tui("new", "p", "--model", "builtin:tiny", cwd=tmp_path).returncode == 0
    project_file = tmp_path / "p" / "project.toml"
    project_file.write_text(project_file.read_text().replace('device = "auto"', 'device = "cuda:3"'))
    result = run_ti_tui("doctor", "p", cwd=tmp_path)
    assert result.returncode == 1
    assert "model.device is 'cuda:3', but this machine has only" in result.stdout
