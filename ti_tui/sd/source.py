"""Telling what a `model.base` text points at, without loading anything heavy."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ti_tui.errors import UserError

BUILTIN_MODELS = ("builtin:tiny",)
MODEL_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".bin")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.\-]*/[\w.\-]+")


@dataclass(frozen=True)
class ModelSource:
    kind: Literal["builtin", "folder", "file", "hub", "missing"]
    text: str
    path: Path | None = None

    def describe(self) -> str:
        match self.kind:
            case "builtin":
                return f"{self.text} (built in: a tiny random model that makes noise, not pictures)"
            case "folder":
                return f"diffusers folder {self.path}"
            case "file":
                return f"checkpoint file {self.path}"
            case "hub":
                return f"Hugging Face model {self.text}"
        return f"{self.path} (not found)"


def classify_model_source(text: str, base_dir: Path) -> ModelSource:
    """Read `text` as a built-in name, a local folder or file (relative to `base_dir`), or a hub id."""
    if text.startswith("builtin:"):
        if text not in BUILTIN_MODELS:
            raise UserError(f"unknown built-in model {text!r}; the built-in models are: {', '.join(BUILTIN_MODELS)}")
        return ModelSource("builtin", text)
    path = (base_dir / Path(text).expanduser()).resolve()
    if path.is_dir():
        return ModelSource("folder", text, path)
    if path.is_file():
        return ModelSource("file", text, path)
    looks_like_path = text.startswith(("/", ".", "~")) or text.lower().endswith(MODEL_FILE_SUFFIXES)
    if not looks_like_path and _HUB_ID.fullmatch(text):
        return ModelSource("hub", text)
    return ModelSource("missing", text, path)
