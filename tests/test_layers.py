"""The layers point down: front ends, use cases, parts, sd, helpers; and the wizard paints without model libraries."""

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ti_tui"
LAYERS = {
    "helpers": {
        "axes",
        "detached",
        "errors",
        "findings",
        "fsutil",
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
        for name in ("availability", "device", "family", "fetch", "source", "tiny", "tiny_tokenizer", "tokenizer", "tokens")
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
