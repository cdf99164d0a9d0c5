"""Export: the chosen checkpoint lands where each UI reads embeddings, named after the word, and nothing is overwritten unasked."""

import errno
import json
import os
import time
from pathlib import Path

import pytest
import torch
from conftest import ti_tui_in_process
from installations import a1111, comfyui, forge, invokeai, invokeai_3, sdnext

from ti_tui.embedding.files import Embedding, read_embedding, write_embedding
from ti_tui.errors import UserError
from ti_tui.usecases.export import ExportExistsError, export_checkpoint, plan_export, prompt_usage, recognise_target

STEPS = (1, 2, 3)
TEXT_WIDTH = 768  # builtin:tiny's text encoder, as SD 1.x's


@pytest.fixture
def trained(trainable_project):
    """A project with one run that saved a checkpoint at each of STEPS, without training: (project, run, vectors by step)."""
    from ti_tui.usecases.training import create_run

    project = trainable_project()
    run = create_run(project, steps=len(STEPS))
    run.checkpoints_dir.mkdir(parents=True)
    vectors = {}
    for step in STEPS:
        vectors[step] = torch.randn((2, TEXT_WIDTH), generator=torch.Generator().manual_seed(step))
        write_embedding(
            Embedding(vectors[step], trigger="zorbot", step=step), run.checkpoints_dir / f"zorbot-{step}.safetensors", "safetensors"
        )
    return project, run, vectors


LAYOUTS = {
    "web UI": (a1111, "webui", "embeddings"),
    "Forge": (forge, "webui", "embeddings"),
    "SD.Next": (sdnext, "webui", "models/embeddings"),
    "ComfyUI": (comfyui, "comfyui", "models/embeddings"),
    "InvokeAI 3": (invokeai_3, "invokeai", "models/sd-1/embedding"),
    "InvokeAI": (invokeai, "invokeai", "embeddings"),
}


@pytest.mark.parametrize("ui", LAYOUTS)
def test_an_export_into_a_ui_lands_where_that_ui_reads_embeddings_named_after_the_trigger(trained, tmp_path, ui):
    project, run, _ = trained
    make, kind, where = LAYOUTS[ui]
    installation = make(tmp_path / "installation")
    result = export_checkpoint(project, to=installation)
    assert (result.target.kind, result.target.ui) == (kind, ui)
    assert result.paths == [installation / where / "zorbot.safetensors"]
    assert result.paths[0].is_file()
    assert result.target.description.startswith(("a ", "an "))


def test_the_word_to_type_is_the_one_that_ui_understands(tmp_path):
    assert prompt_usage("zorbot") == [
        ("web UI, Forge, SD.Next", "zorbot"),
        ("ComfyUI", "embedding:zorbot"),
        ("InvokeAI", "<zorbot>"),
        ("diffusers", 'pipe.load_textual_inversion("zorbot.safetensors", token="zorbot")'),
    ]
    plain = recognise_target(Path("/nowhere"), "SD 1.x")
    assert plain.kind == "folder" and len(prompt_usage("zorbot", plain)) == 4
    forge_target = recognise_target(forge(tmp_path / "forge"), "SD 1.x")
    assert prompt_usage("zorbot", forge_target) == [("Forge", "zorbot")]


def test_the_ui_is_recognised_from_its_embeddings_folder_and_from_the_portable_comfyui_folder(tmp_path):
    webui = a1111(tmp_path / "stable-diffusion-webui")
    assert recognise_target(webui / "embeddings", "SD 1.x").ui == "web UI"
    invoke = invokeai_3(tmp_path / "invokeai")
    assert recognise_target(invoke / "models/sd-1/embedding", "SD 1.x").ui == "InvokeAI 3"
    portable = tmp_path / "ComfyUI_windows_portable"
    comfyui(portable / "ComfyUI")
    (portable / "python_embeded").mkdir()
    target = recognise_target(portable, "SD 1.x")
    assert target.embeddings_dir == portable / "ComfyUI/models/embeddings"


def test_invokeai_3_keeps_sd2_embeddings_apart_and_sdnext_follows_its_folder_setting(tmp_path):
    assert recognise_target(invokeai_3(tmp_path / "invokeai"), "SD 2.x").embeddings_dir == tmp_path / "invokeai/models/sd-2/embedding"
    next_root = sdnext(tmp_path / "automatic")
    (next_root / "config.json").write_text(json.dumps({"embeddings_dir": "/data/embeddings"}))
    assert recognise_target(next_root, "SD 1.x").embeddings_dir == Path("/data/embeddings")


def test_a_second_export_refuses_and_leaves_the_first_file_as_it_was_until_forced(trained, tmp_path):
    project, _, vectors = trained
    installation = comfyui(tmp_path / "ComfyUI")
    first = export_checkpoint(project, step=1, to=installation).paths[0]
    before = first.read_bytes()
    with pytest.raises(ExportExistsError) as refusal:
        export_checkpoint(project, step=2, to=installation)
    assert str(first) in str(refusal.value) and "nothing was written" in str(refusal.value)
    assert first.read_bytes() == before
    export_checkpoint(project, step=2, to=installation, force=True)
    assert torch.equal(read_embedding(first).embedding.vectors, vectors[2])


def test_the_exported_safetensors_holds_the_checkpoints_vectors_alone_as_emb_params(trained):
    from safetensors.torch import load_file

    project, _, vectors = trained
    path = export_checkpoint(project).paths[0]
    assert path == project.exports_dir / "zorbot.safetensors"
    tensors = load_file(path)
    assert list(tensors) == ["emb_params"]
    assert tensors["emb_params"].dtype == torch.float32 and tensors["emb_params"].shape == (2, TEXT_WIDTH)
    assert torch.equal(tensors["emb_params"], vectors[3])


def test_the_pt_and_diffusers_formats_read_back_equal_and_name_the_word(trained):
    project, _, vectors = trained
    result = export_checkpoint(project, formats=["pt", "diffusers", "pt"])
    assert [path.name for path in result.paths] == ["zorbot.pt", "zorbot.bin"]
    for path in result.paths:
        read = read_embedding(path).embedding
        assert torch.equal(read.vectors, vectors[3]) and read.trigger == "zorbot"


def test_an_unknown_format_is_named_with_the_ones_there_are(trained):
    project, _, _ = trained
    with pytest.raises(UserError, match="'ckpt' is not an export format; choose from safetensors, pt, diffusers"):
        export_checkpoint(project, formats=["ckpt"])


def test_the_step_given_is_exported_and_a_missing_one_is_named_with_those_there_are(trained):
    project, run, vectors = trained
    result = export_checkpoint(project, step=2)
    assert result.checkpoint.step == 2
    assert torch.equal(read_embedding(result.paths[0]).embedding.vectors, vectors[2])
    with pytest.raises(UserError, match=f"run {run.id} has no checkpoint at step 7; it has 1, 2, 3"):
        export_checkpoint(project, step=7, force=True)


def test_the_checkpoint_chosen_in_compare_is_exported_when_no_step_is_given(trained):
    project, run, vectors = trained
    project.update({"export.run": run.id, "export.step": 2})
    result = export_checkpoint(project)
    assert (result.run, result.checkpoint.step) == (run, 2)
    assert torch.equal(read_embedding(result.paths[0]).embedding.vectors, vectors[2])


def test_a_run_still_training_exports_its_latest_checkpoint_with_a_warning(trained):
    import psutil

    from ti_tui.runs import run_status
    from ti_tui.runs.directory import Launch

    project, run, _ = trained
    # This test's own process stands in for a trainer that has just been launched.
    run.record_launch(Launch(os.getpid(), time.time(), psutil.Process().create_time(), ["a trainer"]))
    assert run_status(run).active
    result = export_checkpoint(project)
    assert result.checkpoint.step == 3 and result.paths[0].is_file()
    assert len(result.warnings) == 1
    assert f"Run {run.id} is still training" in result.warnings[0] and "latest checkpoint so far" in result.warnings[0]
    assert "a later one may be better" in result.warnings[0]


def test_a_finished_run_exports_without_warnings_and_the_plan_writes_nothing(trained):
    project, _, _ = trained
    plan = plan_export(project, formats=["safetensors"])
    assert plan.warnings == () and plan.existing == ()
    assert plan.paths == (project.exports_dir / "zorbot.safetensors",)
    assert not project.exports_dir.exists()


def test_a_to_that_is_a_file_is_one_clear_error(trained, tmp_path):
    project, _, _ = trained
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match=r"notes\.txt is a file; name the folder the embedding should go into"):
        export_checkpoint(project, to=tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_command_exports_says_where_and_what_to_type_then_refuses_to_overwrite(trained, tmp_path):
    project, _, _ = trained
    installation = a1111(tmp_path / "stable-diffusion-webui")
    done = ti_tui_in_process("export", str(project.root), "--to", str(installation), "--format", "safetensors,pt")
    assert done.returncode == 0, done.stderr
    assert "is an AUTOMATIC1111 web UI installation" in done.stdout
    for name in ("zorbot.safetensors", "zorbot.pt"):
        assert f"Wrote {installation / 'embeddings' / name}" in done.stdout
    assert "Warning: 2 files named zorbot go into one folder of web UI" in done.stdout
    assert "To use the word, type:\n  web UI  zorbot" in done.stdout
    again = ti_tui_in_process("export", str(project.root), "--to", str(installation), "--step", "1")
    assert again.returncode == 2
    assert "already exist" in again.stderr and "--force" in again.stderr and "Traceback" not in again.stderr


def test_a_full_disk_midway_names_what_was_written_and_what_not_and_a_second_export_completes_the_set(trained):
    project, _, vectors = trained
    paths = [project.exports_dir / name for name in ("zorbot.safetensors", "zorbot.pt", "zorbot.bin")]
    full = ti_tui_in_process(
        "export", str(project.root), "--format", "safetensors,pt,diffusers", env={"TI_TUI_WRITE_FAULTS": "full:zorbot.bin"}
    )
    assert full.returncode == 2 and full.stderr.count("\n") == 1 and "Traceback" not in full.stderr, full.stderr
    assert "the disk is full" in full.stderr and ".tmp" not in full.stderr
    assert f"{paths[2]} was not written" in full.stderr
    assert f"{paths[0]} and {paths[1]} were written" in full.stderr
    assert [path.exists() for path in paths] == [True, True, False]

    again = ti_tui_in_process("export", str(project.root), "--format", "safetensors,pt,diffusers")
    assert again.returncode == 0, again.stderr
    assert f"Wrote {paths[2]}" in again.stdout
    assert f"Kept {paths[0]}" in again.stdout and f"Kept {paths[1]}" in again.stdout
    for path in paths:
        assert torch.equal(read_embedding(path).embedding.vectors, vectors[3])
    assert sorted(os.listdir(project.exports_dir)) == sorted(path.name for path in paths)


def test_a_folder_at_the_export_name_is_named_not_a_temporary_file(trained):
    project, _, _ = trained
    (project.exports_dir / "zorbot.safetensors").mkdir(parents=True)
    result = ti_tui_in_process("export", str(project.root), "--force")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and ".tmp" not in result.stderr, result.stderr
    assert f"{project.exports_dir / 'zorbot.safetensors'} is a folder" in result.stderr
    assert (project.exports_dir / "zorbot.safetensors").is_dir()


def test_a_read_only_folder_is_named_with_the_file_asked_for(trained, monkeypatch):
    import tempfile

    project, _, _ = trained

    def read_only(prefix="", suffix="", dir=None):
        raise OSError(errno.EROFS, "Read-only file system", os.path.join(dir, f"{prefix}1d2ff5yn{suffix}"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(UserError) as refusal:
        export_checkpoint(project)
    message = str(refusal.value)
    assert f"{project.exports_dir / 'zorbot.safetensors'} was not written" in message and ".tmp" not in message
    assert "read-only" in message and "another folder" in message


def test_a_dangling_embeddings_folder_link_in_an_installation_is_named_with_where_it_points(trained, tmp_path):
    project, _, _ = trained
    installation = comfyui(tmp_path / "ComfyUI")
    (installation / "models" / "embeddings").rmdir()
    (installation / "models" / "embeddings").symlink_to(tmp_path / "gone")
    result = ti_tui_in_process("export", str(project.root), "--to", str(installation))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "File exists" not in result.stderr, result.stderr
    assert f"{installation / 'models' / 'embeddings'} is a symbolic link to {tmp_path / 'gone'}, which does not exist" in result.stderr


def test_a_dangling_link_at_the_export_name_is_an_existing_file_left_alone_without_force(trained, tmp_path):
    project, _, _ = trained
    project.exports_dir.mkdir()
    link = project.exports_dir / "zorbot.safetensors"
    link.symlink_to(tmp_path / "elsewhere.safetensors")
    result = ti_tui_in_process("export", str(project.root))
    assert result.returncode == 2 and f"{link} already exists" in result.stderr and "--force" in result.stderr, result.stderr
    assert link.is_symlink() and not (tmp_path / "elsewhere.safetensors").exists()


def test_export_to_a_symbolic_link_loop_names_it(trained, tmp_path):
    project, _, _ = trained
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    result = ti_tui_in_process("export", str(project.root), "--to", str(loop))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and f"{loop} is a symbolic-link loop" in result.stderr
