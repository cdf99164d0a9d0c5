"""Comparing checkpoints and trying the word: XY grids, their axes, and `ti-tui generate`, on builtin:tiny."""

import os
import shutil
import time

import numpy as np
import pytest
import torch
from conftest import SAMPLE_PROJECT, ti_tui_in_process
from PIL import Image

from ti_tui.axes import AxisError, parse_axis
from ti_tui.embedding.files import Embedding, write_embedding
from ti_tui.errors import UserError
from ti_tui.infer.grid import grid_layout, label_image
from ti_tui.infer.xy import render_grid
from ti_tui.project import Project
from ti_tui.runs import RunWatcher
from ti_tui.runs.events import EventWriter
from ti_tui.train.engine import Trainer
from ti_tui.usecases.checkpoints import choose_checkpoint, chosen_checkpoint
from ti_tui.usecases.compare import grid_status, list_grids, plan_grid, start_grid, stop_grid
from ti_tui.usecases.training import create_run


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory):
    """The sample project after a 6-step run that saved checkpoints at steps 2, 4 and 6."""
    root = tmp_path_factory.mktemp("compare") / "project"
    shutil.copytree(SAMPLE_PROJECT, root, ignore=shutil.ignore_patterns("runs", "prepared", "exports", "grids", "generated"))
    project = Project.open(root)
    project.update({"training.save_every": 2, "preview.every": 0, "training.validation_every": 0})
    run = create_run(project, steps=6)
    assert Trainer(run).run() == "completed"
    return project


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def rendered(project, **axes):
    """A grid planned and rendered in this process; returns the grid folder and its plan."""
    from ti_tui.infer.grid import GridDirectory

    plan = plan_grid(project, **axes)
    grid = GridDirectory(project.root / "grids" / f"test-{time.monotonic_ns()}")
    grid.path.mkdir(parents=True)
    grid.write_plan(plan)
    render_grid(grid, EventWriter(grid.events_file))
    return grid, plan


def cell_pixels(grid, plan, x, y, z=0):
    cell = next(cell for cell in plan.cells if (cell.x, cell.y, cell.z) == (x, y, z))
    return pixels(grid.cell_file(cell))


@pytest.mark.slow
def test_a_3x3_grid_from_the_command_line_is_labelled_and_says_how_it_was_made(trained_project):
    result = ti_tui_in_process("xy", str(trained_project.root), "--x", "step=all", "--y", "cfg=3-9 (+3)")
    assert result.returncode == 0, result.stderr
    assert "3 step x 3 cfg, 9 cells" in result.stdout and "completed: 9 cells" in result.stdout
    grid = list_grids(trained_project)[-1]
    plan = grid.plan()
    picture = Image.open(grid.path / "grid.png")
    layout = grid_layout(plan, 128)
    assert picture.size == layout.size
    for index, text in enumerate(["Step: 2", "Step: 4", "Step: 6"]):
        box = layout.column_label_box(index)
        drawn = np.asarray(picture.convert("RGB").crop(box))
        assert np.array_equal(drawn, np.asarray(label_image(text, box[2] - box[0], box[3] - box[1])))
        assert not np.array_equal(drawn, np.asarray(label_image("Step: 8", box[2] - box[0], box[3] - box[1])))
    box = layout.row_label_box(2)
    assert np.array_equal(np.asarray(picture.convert("RGB").crop(box)), np.asarray(label_image("CFG scale: 9", box[2], box[3] - box[1])))
    parameters = picture.text["parameters"]
    assert parameters.startswith("a photo of zorbot in the snow\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 3, Seed: 1, Size: 128x128")
    assert '"values": ["Step: 2", "Step: 4", "Step: 6"]' in picture.text["ti-tui grid"]
    cell = Image.open(grid.cell_file(plan.cells[-1]))
    assert "CFG scale: 9" in cell.text["parameters"] and "Embedding: zorbot-6" in cell.text["parameters"]
    assert (grid.path / "grid.json").is_file() and grid_status(grid).state == "finished"


@pytest.mark.slow
def test_grid_cells_are_the_same_pixels_every_time_and_differ_by_checkpoint(trained_project):
    first, plan = rendered(trained_project, x="step=all", y="cfg=3,9")
    kept = {cell.key: pixels(first.cell_file(cell)) for cell in plan.cells}
    shutil.rmtree(first.cells_dir)
    again, plan_again = rendered(trained_project, x="step=all", y="cfg=3,9")
    assert [cell.key for cell in plan_again.cells] == list(kept)
    assert all(np.array_equal(pixels(again.cell_file(cell)), kept[cell.key]) for cell in plan_again.cells)
    assert np.array_equal(pixels(first.path / "grid.png"), pixels(again.path / "grid.png"))
    assert not np.array_equal(cell_pixels(again, plan_again, 0, 0), cell_pixels(again, plan_again, 2, 0))
    assert not np.array_equal(cell_pixels(again, plan_again, 0, 0), cell_pixels(again, plan_again, 0, 1))

    shutil.rmtree(first.cells_dir)
    single, single_plan = rendered(trained_project, x="cfg=9", y="step=4")  # another grid, rendered on its own
    assert np.array_equal(cell_pixels(single, single_plan, 0, 0), cell_pixels(again, plan_again, 1, 1))


@pytest.mark.slow
def test_a_grid_run_again_reuses_its_cells(trained_project):
    rendered(trained_project, x="step=2,4", y="")
    grid, _ = rendered(trained_project, x="step=2,4,6", y="")
    started = RunWatcher(grid.events_file).poll()[0]
    assert started["type"] == "started" and started["reused"] == 2 and started["total"] == 3


@pytest.mark.slow
def test_a_damaged_cached_cell_is_rendered_again(trained_project):
    first, plan = rendered(trained_project, x="step=2,4", y="", z="seed=31")
    damaged = first.cell_file(plan.cells[1])
    kept = pixels(damaged)
    damaged.write_bytes(b"garbage\n")
    again, _ = rendered(trained_project, x="step=2,4", y="", z="seed=31")
    assert np.array_equal(pixels(damaged), kept)
    assert np.array_equal(pixels(again.path / "grid.png"), pixels(first.path / "grid.png"))
    assert grid_status(again).state == "finished"


@pytest.mark.slow
def test_a_link_or_a_pipe_at_a_cached_cell_is_rendered_over_and_a_folder_is_named(trained_project, tmp_path):
    """A dangling link at a cell's name was written through, to wherever it pointed; a folder there failed
    every later grid with a temporary file's name."""
    first, plan = rendered(trained_project, x="step=2,4", y="", z="seed=32")
    linked, piped = first.cell_file(plan.cells[0]), first.cell_file(plan.cells[1])
    kept = pixels(linked), pixels(piped)
    outside = tmp_path / "outside.png"
    linked.unlink()
    linked.symlink_to(outside)
    piped.unlink()
    os.mkfifo(piped)
    again, _ = rendered(trained_project, x="step=2,4", y="", z="seed=32")
    assert not outside.exists() and not linked.is_symlink()
    assert np.array_equal(pixels(linked), kept[0]) and np.array_equal(pixels(piped), kept[1])
    assert grid_status(again).state == "finished"

    piped.unlink()
    piped.mkdir()
    with pytest.raises(UserError) as refused:
        rendered(trained_project, x="step=2,4", y="", z="seed=32")
    assert str(refused.value) == (
        f"{piped} is a folder, where the grid keeps a cell's picture: move it elsewhere (or delete it), then render the grid again"
    )


@pytest.mark.slow
def test_the_diffusers_folder_and_the_single_file_of_a_model_give_equal_cells(trained_project, tiny_model_dir, tiny_checkpoint):
    trained_project.update({"xy.size": 128})  # a single file does not say builtin:tiny's small size
    try:
        grid, plan = rendered(trained_project, x=f"model={tiny_model_dir},{tiny_checkpoint}", y="", z="")
    finally:
        trained_project.update({"xy.size": 0})
    assert plan.axes["x"].labels == (f"Model: {tiny_model_dir.name}", "Model: tiny")
    assert np.array_equal(cell_pixels(grid, plan, 0, 0), cell_pixels(grid, plan, 1, 0))


@pytest.mark.slow
def test_a_z_axis_makes_one_labelled_grid_per_value(trained_project):
    grid, plan = rendered(trained_project, x="step=2,6", y="", z="seed=1,2")
    assert [path.name for path in sorted(grid.path.glob("grid-z*.png"))] == ["grid-z1.png", "grid-z2.png"]
    assert not np.array_equal(pixels(grid.path / "grid-z1.png"), pixels(grid.path / "grid-z2.png"))
    assert Image.open(grid.path / "grid-z2.png").text["ti-tui grid"].endswith('"shown": "Seed: 2"}}')


MALFORMED_AXES = [
    ("cfg", '"cfg" has no "="'),
    ("colour=red", '"colour"'),
    ("cfg=", "no values"),
    ("cfg=3,,5", '"3,,5"'),
    ("cfg=three", '"three"'),
    ("cfg=45", '"45"'),
    ("seed=-1", '"-1"'),
    ("seed=1.5", '"1.5"'),
    ("step=0", '"0"'),
    ("step=first", '"first"'),
    ("cfg=1-10 (+0)", '"1-10 (+0)"'),
    ("cfg=1-10 (+x)", '"x"'),
    ("cfg=1-10 [0]", '"[0]"'),
    ("cfg=1-10 [many]", '"[many]"'),
    ("cfg=10-1 (+-1)", '"-1"'),
    ("steps=1-500", '"500"'),
    ("seed=1-100000", '"1-100000"'),
    ("sampler=Euler b", '"Euler b"'),
    ("prompt=photo", '"prompt=photo"'),
    ('model="a.safetensors', "quotes"),
    ("strength=5", '"5"'),
    ("steps=1-10 [500]", '"[500]"'),
]


@pytest.mark.parametrize(("spec", "named"), MALFORMED_AXES, ids=[spec for spec, _ in MALFORMED_AXES])
def test_a_malformed_axis_is_refused_naming_the_bad_part(spec, named):
    with pytest.raises(AxisError) as caught:
        parse_axis(spec)
    assert named in str(caught.value)


def test_axis_values_as_users_write_them():
    assert parse_axis("cfg=3-12 (+1.5)").values == (3.0, 4.5, 6.0, 7.5, 9.0, 10.5, 12.0)
    assert parse_axis("steps=1-10 [5]").values == (1, 3, 5, 7, 10)
    assert parse_axis("strength=1.5-0.5 (-0.5)").values == (1.5, 1.0, 0.5)
    assert parse_axis("step=250,500,1000").values == (250, 500, 1000)
    assert parse_axis("Sampler=euler a, dpmpp_2m").values == ("Euler a", "DPM++ 2M")
    assert parse_axis('model=a.safetensors,"my, model.ckpt"').values == ("a.safetensors", "my, model.ckpt")
    assert parse_axis("  ") is None


def test_axes_that_do_not_fit_the_project_are_refused_before_rendering(trained_project):
    with pytest.raises(UserError, match="no checkpoint at step 5; it has 2, 4, 6"):
        plan_grid(trained_project, x="step=2,5")
    with pytest.raises(UserError, match="the model other.safetensors does not exist"):
        plan_grid(trained_project, x="model=other.safetensors")
    with pytest.raises(UserError, match='searches for "painting", which the prompt'):
        plan_grid(trained_project, x="prompt=painting,photo")
    with pytest.raises(UserError, match="cfg is on two axes"):
        plan_grid(trained_project, x="cfg=3,5", y="cfg=7")
    with pytest.raises(UserError, match="the y axis: "):
        plan_grid(trained_project, y="cfg=x")
    with pytest.raises(UserError, match="441 cells"):
        plan_grid(trained_project, x="seed=1-21", y="cfg=1-21")


def test_a_folder_that_is_not_a_model_is_refused_when_the_grid_is_planned(trained_project, tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a model\n")
    with pytest.raises(UserError) as caught:
        plan_grid(trained_project, x=f"model=base,{folder}")
    message = str(caught.value)
    assert f"the model folder {folder} is not a model" in message and "model_index.json" in message
    assert "\n" not in message


def test_an_empty_file_or_an_embedding_on_the_model_axis_is_refused_when_the_grid_is_planned(trained_project, tmp_path):
    empty = tmp_path / "download.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match=f"the model file {empty} is empty"):
        plan_grid(trained_project, x=f"model={empty}")
    embedding = sorted(trained_project.root.glob("runs/*/checkpoints/*.safetensors"))[0]
    with pytest.raises(UserError, match="not a Stable Diffusion model checkpoint"):
        plan_grid(trained_project, x=f"model={embedding}")


def test_a_symbolic_link_loop_on_the_model_axis_is_named_in_one_sentence(trained_project, tmp_path):
    loop = tmp_path / "LOOP"
    loop.symlink_to(loop)
    grids_before = list_grids(trained_project)
    result = ti_tui_in_process("xy", str(trained_project.root), "--x", f"model={loop}")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"ti-tui: {loop} is a symbolic-link loop")
    assert list_grids(trained_project) == grids_before


@pytest.mark.slow
def test_a_grid_stops_when_asked_and_a_vanished_renderer_is_lost(trained_project):
    plan = plan_grid(trained_project, x="seed=100-103", y="steps=30")
    grid, process = start_grid(trained_project, plan)
    with pytest.raises(UserError, match="still rendering"):
        start_grid(trained_project, plan)
    assert os.getsid(process.pid) != os.getsid(0)  # a session of its own: closing the terminal does not reach it
    stop_grid(grid)
    process.wait(timeout=120)
    status = grid_status(grid)
    assert status.state == "stopped" and status.done < 4

    lost_plan = plan_grid(trained_project, x="seed=200-203", y="steps=30")
    lost, process = start_grid(trained_project, lost_plan)
    while grid_status(lost).state == "starting":
        time.sleep(0.1)
    process.kill()
    process.wait()
    assert grid_status(lost).state == "lost" and "renderer.log" in grid_status(lost).message


@pytest.mark.slow
def test_stop_stops_the_grid_at_work_though_a_newer_one_is_done(trained_project):
    from ti_tui.infer.grid import GridDirectory

    plan = plan_grid(trained_project, x="seed=300-399", y="steps=30,31")
    grid, process = start_grid(trained_project, plan)
    newer = GridDirectory(trained_project.root / "grids" / "99991231-235959")  # as a clock set back leaves one
    newer.path.mkdir()
    try:
        newer.write_plan(plan_grid(trained_project, x="seed=1", y=""))
        events = EventWriter(newer.events_file)
        events.write("finished", reason="completed", message="1 cells", done=1)
        events.close()
        stopped = ti_tui_in_process("xy", str(trained_project.root), "--stop")
        assert stopped.returncode == 0, stopped.stderr
        assert f"Asked grid {grid.id} to stop" in stopped.stdout
        process.wait(timeout=300)
        status = grid_status(grid)
        assert status.state == "stopped" and status.done < status.total
        again = ti_tui_in_process("xy", str(trained_project.root), "--stop")
        assert again.returncode == 2 and again.stderr.count("\n") == 1 and "no grid is rendering" in again.stderr
    finally:
        shutil.rmtree(newer.path)
        if process.poll() is None:
            stop_grid(grid)
            process.wait(timeout=300)


def test_a_grid_whose_plan_cannot_be_read_stands_in_no_one_s_way(trained_project):
    damaged = trained_project.root / "grids" / "99991231-235958"
    damaged.mkdir(parents=True)
    try:
        (damaged / "grid.json").write_text("{")
        stopped = ti_tui_in_process("xy", str(trained_project.root), "--stop")
        assert stopped.returncode == 2 and stopped.stderr.count("\n") == 1
        assert f"no grid is rendering in {trained_project.name}" in stopped.stderr
    finally:
        shutil.rmtree(damaged)


def test_the_chosen_checkpoint_is_what_export_and_generate_use(trained_project):
    run, checkpoint = chosen_checkpoint(trained_project)
    assert checkpoint.step == 6
    choose_checkpoint(trained_project, run, 4)
    try:
        assert chosen_checkpoint(trained_project)[1].step == 4
        assert "step = 4" in trained_project.store.path.read_text()
        with pytest.raises(UserError, match="no checkpoint at step 3"):
            choose_checkpoint(trained_project, run, 3)
    finally:
        trained_project.update({"export.run": "", "export.step": 0})


@pytest.mark.slow
def test_generate_writes_pngs_the_web_ui_reads_and_refuses_an_embedding_of_another_width(trained_project, tmp_path):
    result = ti_tui_in_process(
        "generate", str(trained_project.root), "a photo of [name]", "--step", "2", "--seed", "7", "-n", "2",
        "--sampler", "Euler a", "--cfg", "5", "--steps", "8", "--strength", "0.5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = [line.removeprefix("Wrote ") for line in result.stdout.splitlines() if line.startswith("Wrote ")]
    assert len(written) == 2
    parameters = Image.open(written[1]).text["parameters"]
    assert parameters.startswith("a photo of zorbot\nSteps: 8, Sampler: Euler a, CFG scale: 5, Seed: 8, Size: 128x128")
    assert "Embedding: zorbot-2, Embedding strength: 0.5, TI hashes: " in parameters

    wide = tmp_path / "wide.safetensors"
    write_embedding(Embedding(torch.randn(1, 1024), trigger="wide"), wide, "safetensors")
    refused = ti_tui_in_process("generate", str(trained_project.root), "[name]", "--embedding", str(wide))
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "width 1024 (SD 2.x)" in refused.stderr and "needs width 768" in refused.stderr

    unknown = ti_tui_in_process("generate", str(trained_project.root), "[name]", "--sampler", "Euler b")
    assert unknown.returncode == 2 and '"Euler b" is not a sampler' in unknown.stderr


def sample_copy(root):
    shutil.copytree(SAMPLE_PROJECT, root, ignore=shutil.ignore_patterns("runs", "prepared", "exports", "grids", "generated"))
    return root


def embedding_file(path, word: str, layout: str = "safetensors"):
    """An SD 1.x embedding file whose word (a .safetensors' trigger metadata, a .pt's name) is `word`."""
    write_embedding(Embedding(torch.randn(1, 768, generator=torch.Generator().manual_seed(1)), trigger=word), path, layout)
    return path


def written_paths(result) -> list:
    return [line.removeprefix("Wrote ") for line in result.stdout.splitlines() if line.startswith("Wrote ")]


@pytest.mark.slow
@pytest.mark.parametrize(
    "file_name, word",
    [("trav.safetensors", "../../../../OUTSIDE"), ("trav.pt", "../../../../OUT_PT"), ("slash.safetensors", "robot/x")],
    ids=["trigger-climbs", "pt-name-climbs", "trigger-with-slash"],
)
def test_a_word_read_from_an_embedding_file_never_names_a_path_outside_generated(tmp_path, file_name, word):
    root = sample_copy(tmp_path / "a" / "b" / "c" / "deep" / "proj")
    layout = "pt" if file_name.endswith(".pt") else "safetensors"
    embedding = embedding_file(tmp_path / file_name, word, layout)
    result = ti_tui_in_process("generate", str(root), "a [name]", "--embedding", str(embedding), "--steps", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (written,) = written_paths(result)
    assert os.path.dirname(written) == str(root / "generated") and ".." not in written
    assert sorted(tmp_path.rglob("*.png")) == [root / "generated" / os.path.basename(written)]
    assert not list((root / "generated").glob(".*"))


@pytest.mark.slow
def test_generate_never_replaces_an_image_that_is_there(tmp_path, monkeypatch):
    from ti_tui.usecases.generate import GenerationRequest, generate_images

    project = Project.open(sample_copy(tmp_path / "project"))
    embedding = embedding_file(tmp_path / "zorbot.safetensors", "zorbot")
    monkeypatch.setattr(time, "strftime", lambda *arguments: "20261206-115702")  # two runs within one second
    mine = project.root / "generated" / "20261206-115702-zorbot-s1.png"
    mine.parent.mkdir()
    mine.write_bytes(b"the user's own picture")
    moon = generate_images(project, GenerationRequest("a [name] on the moon", embedding=embedding, seed=1, sampling_steps=1))
    sea = generate_images(project, GenerationRequest("a [name] under the sea", embedding=embedding, seed=1, sampling_steps=1))
    assert mine.read_bytes() == b"the user's own picture"
    assert len({mine, *moon, *sea}) == 3
    assert Image.open(moon[0]).text["parameters"].startswith("a zorbot on the moon\n")
    assert Image.open(sea[0]).text["parameters"].startswith("a zorbot under the sea\n")
    assert sorted(path.name for path in mine.parent.iterdir()) == sorted(path.name for path in (mine, *moon, *sea))


def test_a_seed_range_past_the_largest_seed_is_refused_in_one_sentence(tmp_path):
    root = sample_copy(tmp_path / "project")
    embedding = embedding_file(tmp_path / "zorbot.safetensors", "zorbot")
    result = ti_tui_in_process("generate", str(root), "[name]", "--embedding", str(embedding), "--seed", "4294967295", "-n", "2")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "seed 4294967296" in result.stderr and "largest seed 4294967295" in result.stderr
    assert "4294967294" in result.stderr  # the first seed that fits
    assert not (root / "generated").exists()


@pytest.mark.parametrize("option", ["--model", "--embedding"])
def test_generate_names_a_symbolic_link_loop_it_is_given(tmp_path, option):
    root = sample_copy(tmp_path / "project")
    loop = tmp_path / "loop.safetensors"
    loop.symlink_to(loop)
    extra = [] if option == "--embedding" else ["--embedding", str(embedding_file(tmp_path / "zorbot.safetensors", "zorbot"))]
    result = ti_tui_in_process("generate", str(root), "[name]", option, str(loop), *extra)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and f"{loop} is a symbolic-link loop" in result.stderr


def test_step_all_on_a_continued_run_covers_the_checkpoints_it_goes_on_from_in_one_numbering(sample):
    from wizard_support import write_checkpoints

    from ti_tui.usecases.compare import plan_grid
    from ti_tui.usecases.training import create_run

    sample.update({"preview.every": 0})
    first = create_run(sample, steps=4)
    write_checkpoints(first, steps=(2, 4))
    second = create_run(sample, steps=4, start_from=first.checkpoint_paths("zorbot", 2).embedding)  # steps 3-6
    write_checkpoints(second, steps=(4, 6))
    plan = plan_grid(sample, x="step=all", y="cfg=7")
    assert plan.axes["x"].labels == ("Step: 2", "Step: 4", "Step: 6")  # the first run's 4 was not gone on from
    assert [cell.settings.embedding for cell in plan.cells] == [
        str(first.checkpoint_paths("zorbot", 2).embedding),
        str(second.checkpoint_paths("zorbot", 4).embedding),
        str(second.checkpoint_paths("zorbot", 6).embedding),
    ]
    assert plan_grid(sample, x="step=2,6", y="").axes["x"].labels == ("Step: 2", "Step: 6")
