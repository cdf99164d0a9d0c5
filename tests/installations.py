"""Fake installations of the popular UIs: the files and folders by which export recognises each."""

from pathlib import Path


def touch(root: Path, *files: str, folders: tuple[str, ...] = (), text: str = "") -> Path:
    """A fake installation: the files and folders that mark the real one."""
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text if name.endswith(".yaml") else "")
    return root


def a1111(root: Path) -> Path:
    return touch(root, "webui.py", "launch.py", "webui.sh", folders=("modules", "embeddings", "models/Stable-diffusion"))


def forge(root: Path) -> Path:
    return touch(a1111(root), folders=("modules_forge", "backend"))


def sdnext(root: Path) -> Path:
    return touch(root, "webui.py", "launch.py", "installer.py", folders=("modules", "models/Stable-diffusion"))


def comfyui(root: Path) -> Path:
    return touch(root, "main.py", "folder_paths.py", "nodes.py", folders=("comfy", "models/checkpoints", "models/embeddings"))


def invokeai_3(root: Path) -> Path:
    settings = "InvokeAI:\n  Paths:\n    autoimport_dir: autoimport\n    models_dir: models\n"
    return touch(root, "invokeai.yaml", "configs/models.yaml", folders=("models/sd-1/embedding", "autoimport/embedding"), text=settings)


def invokeai(root: Path) -> Path:
    settings = "# Internal metadata - do not edit:\nschema_version: 4.0.2\n\n# Put user settings here:\n"
    return touch(root, "invokeai.yaml", "databases/invokeai.db", folders=("models",), text=settings)
