"""The layers point down: front ends, use cases, parts, sd, helpers; and the wizard paints without model libraries."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ti_tui"
LAYERS = {
    "helpers": {
        "axes",
        "detached",
        "emphasis",
        "errors",
        "findings",
        "fsutil",
        "intervals",
        "kinds",
        "names",
        "paths",
        "prompts",
        "samplers",
        "schedule",
        "settings",
        "torch_files",
        "__init__",
    },
    "sd": {"sd"},
    "parts": {"project", "dataset", "embedding", "runs", "infer", "train"},
    "usecases": {"usecases"},
    "front ends": {"commands", "tui", "cli", "__main__"},
}
ORDER = list(LAYERS)
MODEL_LIBRARIES = ("torch", "diffusers", "transformers", "accelerate")

# What the wizard may load to paint a screen: the project and its settings, the images' checks, where
# the model is, the runs' folders, and the use cases over them; not the trainer, not the model.
TUI_MAY_IMPORT = (
    "ti_tui.tui",
    "ti_tui.usecases",
    "ti_tui.project",
    "ti_tui.dataset",
    "ti_tui.runs",
    "ti_tui.sd",
    *(
        f"ti_tui.sd.{name}"
        for name in ("availability", "device", "family", "fetch", "source", "tiny", "tiny_tokenizer", "tokenizer", "tokens", "work")
    ),
    *(f"ti_tui.{name}" for name in LAYERS["helpers"] - {"__init__"}),
)


def top_name(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def layer_of(name: str) -> str:
    return next(layer for layer, names in LAYERS.items() if name in names)


def imported_tops(path: Path) -> set[str]:
    """The top-level parts of ti_tui a file imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "ti_tui" and len(parts) > 1 and ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()):
                found.add(parts[1])
    return found


def test_every_import_points_to_the_same_layer_or_below():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = layer_of(top_name(path))
        for other in imported_tops(path):
            if ORDER.index(layer_of(other)) > ORDER.index(mine):
                upward.append(f"{path.relative_to(PACKAGE)} ({mine}) imports ti_tui.{other} ({layer_of(other)})")
    assert upward == []


def test_the_parts_import_one_another_without_a_cycle():
    uses = {part: set() for part in LAYERS["parts"] | {"sd"}}
    for path in PACKAGE.rglob("*.py"):
        if top_name(path) in uses:
            uses[top_name(path)] |= {other for other in imported_tops(path) if other in uses and other != top_name(path)}
    done: set[str] = set()

    def visit(part: str, path: list[str]) -> None:
        assert part not in path, " -> ".join([*path, part])
        if part not in done:
            for other in uses[part]:
                visit(other, [*path, part])
            done.add(part)

    for part in uses:
        visit(part, [])


LOADED_BY_IMPORT = """
import json, sys
for name in sys.argv[1:]:
    __import__(name)
print(json.dumps(sorted(sys.modules)))
"""


def modules_loaded_by(*names: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", LOADED_BY_IMPORT, *names], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_the_wizard_paints_without_model_libraries_or_the_trainer():
    loaded = modules_loaded_by("ti_tui.tui.app", "ti_tui.runs", "ti_tui.usecases.training", "ti_tui.usecases.doctor")
    assert [name for name in MODEL_LIBRARIES if name in loaded] == []
    ours = [name for name in loaded if name.startswith("ti_tui.")]
    packages = tuple(name + "." for name in TUI_MAY_IMPORT if name != "ti_tui.sd")  # of sd, only the modules named
    assert [name for name in ours if name not in TUI_MAY_IMPORT and not name.startswith(packages)] == []


def test_the_model_loader_and_the_trainer_load_neither_textual_nor_the_project_file_writer():
    loaded = modules_loaded_by("ti_tui.sd.loading", "ti_tui.infer.render", "ti_tui.runs")
    assert "tomlkit" not in loaded and "textual" not in loaded
    assert "textual" not in modules_loaded_by("ti_tui.train.engine", "ti_tui.train.__main__")


# The wizard at the three keys that read or write tensors, in a fresh interpreter: the model libraries it
# has loaded after each key, and what the screen said. The files are made beforehand, by the test.
DRIVES_THE_KEYS = """
import asyncio, json, pkgutil, sys
from pathlib import Path

import ti_tui.tui
from wizard_support import fake_services, record_notices, settle, until

project_root, key, data_dir = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
for module in pkgutil.walk_packages(ti_tui.tui.__path__, "ti_tui.tui."):
    __import__(module.name)

from textual.widgets import DataTable, Static
from ti_tui.project import Project
from ti_tui.tui.app import create_app

MODEL_LIBRARIES = ("torch", "diffusers", "transformers")


async def main() -> dict:
    app = create_app(Project.open(project_root), fake_services(data_dir))
    notices = record_notices(app)
    async with app.run_test(size=(100, 32), notifications=True) as pilot:
        if key == "n":
            app.open_step("compare")
            await settle(app, pilot)
            await pilot.press("n")
            words = lambda: app.screen.query_one("#grid-words", Static).render().plain
            await until(pilot, lambda: "Planning" not in words(), "the grid planned")
            shown = [words()]
        elif key == "t":
            app.open_step("train")
            await settle(app, pilot)
            screen = app.screen
            await until(pilot, lambda: screen.view is not None and len(screen.view.checkpoints) == 2, "the run's checkpoints")
            for row in (1, 0):  # step 2, whose vectors are not numbers, then step 4
                screen.query_one("TabbedContent").active = "checkpoints"  # c acts on the checkpoints in sight
                await settle(app, pilot)
                screen.query_one("#checkpoint-table", DataTable).move_cursor(row=row)
                screen.action_continue_from()
                await pilot.press("escape", "5")
                await until(pilot, lambda: app.screen is not screen and app.screen.is_mounted and app.screen.STEP == "train", "back on Train")
                screen = app.screen
                await settle(app, pilot)
                before = len(notices)
                await pilot.press("t")
                await until(pilot, lambda: any(" started" in text or "not numbers" in text for text in notices[before:]), "t answered")
            shown = list(notices)
        elif key == "e":
            app.open_step("apply")
            await settle(app, pilot)
            await pilot.press("escape", "e")
            await until(pilot, lambda: any(text.startswith("Wrote") for text in notices), "the export told")
            await settle(app, pilot)
            (project_root / "exports" / "zorbot.pt").write_bytes(b"not an embedding")
            await pilot.press("e")
            await until(pilot, lambda: type(app.screen).__name__ == "Confirm", "asked before replacing a file")
            await pilot.press("y")
            await until(pilot, lambda: sum(text.startswith("Wrote") for text in notices) == 2, "the export told again")
            shown = list(notices)
    return {"loaded": [name for name in MODEL_LIBRARIES if name in sys.modules], "shown": shown}


print(json.dumps(asyncio.run(main())))
"""


def wizard_at_key(project_root: Path, key: str, data_dir: Path) -> dict:
    """What the wizard, fresh, loads and shows when `key` is pressed on its step in `project_root`."""
    tests = Path(__file__).resolve().parent
    result = subprocess.run(
        [sys.executable, "-c", DRIVES_THE_KEYS, os.fspath(project_root), key, os.fspath(data_dir)],
        capture_output=True,
        text=True,
        cwd=tests,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [os.fspath(tests), os.environ.get("PYTHONPATH", "")])),
            "TI_TUI_IMAGES": "off",
        },
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def project_with_a_run(folder: Path, **settings):
    """A copy of the sample with a run that saved checkpoints at steps 2 and 4 (vectors made up, not trained)."""
    from wizard_support import copy_of_sample, write_checkpoints

    from ti_tui.project import Project
    from ti_tui.usecases.training import create_run

    project = Project.open(copy_of_sample(folder))
    project.update({"preview.every": 0, "training.validation_every": 0, "training.steps": 2})
    run = create_run(project, steps=4)
    write_checkpoints(run)
    events = [{"type": "checkpoint", "step": step, "path": os.fspath(run.checkpoint_paths("zorbot", step).embedding)} for step in (2, 4)]
    events.append({"type": "finished", "reason": "completed", "message": "trained 4 steps", "step": 4})
    run.events_file.write_text(
        "".join(json.dumps({"v": 1, "seq": number, "t": 0, **event}) + "\n" for number, event in enumerate(events, 1))
    )
    if settings:
        project.update(settings)
    return project, run


@pytest.mark.slow  # a fresh interpreter and a torch helper process
def test_classifying_a_pickled_model_file_on_compare_n_loads_no_model_library(tmp_path):
    import torch

    not_a_model = tmp_path / "not-a-model.ckpt"
    torch.save({"state_dict": {"emb_params": torch.zeros(2, 768)}}, not_a_model)
    project, _ = project_with_a_run(tmp_path / "project", **{"model.base": os.fspath(not_a_model)})
    seen = wizard_at_key(project.root, "n", tmp_path / "data")
    assert seen["shown"] == ["not-a-model.ckpt is an embedding, not a Stable Diffusion model checkpoint"]
    assert seen["loaded"] == []


@pytest.mark.slow  # a fresh interpreter and a torch helper process
def test_a_pickled_model_file_is_classified_in_a_process_without_model_libraries(tiny_checkpoint, tmp_path):
    import torch
    from safetensors.torch import load_file

    model = tmp_path / "tiny.ckpt"
    torch.save({"state_dict": load_file(tiny_checkpoint), "global_step": 470000}, model)
    asks = (
        "import json, sys; from pathlib import Path; from ti_tui.sd.loading import checkpoint_contents, model_family; "
        "from ti_tui.sd.source import classify_model_source; path = Path(sys.argv[1]); shapes, _, step = checkpoint_contents(path); "
        "print(json.dumps([model_family(classify_model_source(sys.argv[1], path.parent)), step, list(shapes[sys.argv[2]]), 'torch' in sys.modules]))"
    )
    key = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
    result = subprocess.run([sys.executable, "-c", asks, os.fspath(model), key], capture_output=True, text=True, check=True)
    family, step, shape, torch_loaded = json.loads(result.stdout)
    assert (family, step, shape, torch_loaded) == ("sd1", 470000, list(load_file(tiny_checkpoint)[key].shape), False)


@pytest.mark.slow
def test_continuing_from_a_checkpoint_on_train_t_loads_no_model_library(tmp_path):
    import torch

    from ti_tui.embedding.files import Embedding, write_embedding
    from ti_tui.usecases.training import list_runs, stop_run

    project, run = project_with_a_run(tmp_path / "project")
    diverged = run.checkpoint_paths("zorbot", 2).embedding
    write_embedding(Embedding(torch.full((2, 768), float("nan")), trigger="zorbot", step=2), diverged, "safetensors")
    try:
        seen = wizard_at_key(project.root, "t", tmp_path / "data")
    finally:
        for other in list_runs(project)[1:]:
            if other.is_locked():
                stop_run(other)
    refused, started = [text for text in seen["shown"] if "not numbers" in text or " started" in text]
    assert refused.startswith(f"{diverged} holds vectors that are not numbers (NaN or infinite)")
    second = list_runs(project)[-1]
    assert started == f"Run {second.id} started; it goes on if the wizard closes."
    assert second.facts().initial_embedding == run.checkpoint_paths("zorbot", 4).embedding and second.facts().vectors == 2
    assert seen["loaded"] == []


@pytest.mark.slow  # a fresh interpreter and a torch helper process
def test_exporting_on_apply_e_loads_no_model_library(tmp_path):
    import torch

    from ti_tui.embedding.files import read_embedding

    project, run = project_with_a_run(tmp_path / "project", **{"export.formats": ["safetensors", "pt", "diffusers"]})
    seen = wizard_at_key(project.root, "e", tmp_path / "data")
    written = [project.exports_dir / name for name in ("zorbot.safetensors", "zorbot.pt", "zorbot.bin")]
    exports = [text for text in seen["shown"] if text.startswith("Wrote")]
    assert [text.splitlines()[:3] for text in exports] == [[f"Wrote {path}" for path in written]] * 2  # the second after a yes to replacing
    trained = read_embedding(run.checkpoint_paths("zorbot", 4).embedding).embedding.vectors
    for path in written:
        exported = read_embedding(path).embedding
        assert exported.trigger == "zorbot" and torch.equal(exported.vectors, trained)
    assert seen["loaded"] == []
