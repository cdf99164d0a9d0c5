"""Telling what a `model.base` text points at, without loading anything heavy."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ti_tui.errors import UserError
from ti_tui.paths import user_path

BUILTIN_MODELS = ("builtin:tiny",)
MODEL_FILE_SUFFIXES = (".safetensors", ".ckpt")
# Endings that say "this is a file" even when it is missing, rather than a Hugging Face id.
_FILE_LIKE_SUFFIXES = (*MODEL_FILE_SUFFIXES, ".pt", ".pth", ".bin")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.\-]*/[\w.\-]+")


@dataclass(frozen=True)
class ModelSource:
    kind: Literal["builtin", "folder", "file", "hub", "missing"]
    text: str
    path: Path | None = None


def classify_model_source(text: str, base_dir: Path) -> ModelSource:
    """Read `text` as a built-in name, a local folder or file (relative to `base_dir`), or a hub id."""
    if text.startswith("builtin:"):
        if text not in BUILTIN_MODELS:
            raise UserError(f"unknown built-in model {text!r}; the built-in models are: {', '.join(BUILTIN_MODELS)}")
        return ModelSource("builtin", text)
    path = user_path(text, base_dir)
    if path.is_dir():
        return ModelSource("folder", text, path)
    if path.is_file():
        return ModelSource("file", text, path)
    looks_like_path = text.startswith(("/", ".", "~")) or text.lower().endswith(_FILE_LIKE_SUFFIXES)
    if not looks_like_path and _HUB_ID.fullmatch(text):
        return ModelSource("hub", text)
    return ModelSource("missing", text, path)
