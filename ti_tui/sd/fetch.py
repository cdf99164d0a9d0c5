"""`ti-tui fetch`: the one place that downloads, and only what the project's model lacks, when asked."""

import os
from pathlib import Path

from ti_tui.errors import UserError
from ti_tui.paths import user_path
from ti_tui.project.model import ModelSettings
from ti_tui.sd.source import classify_model_source
from ti_tui.sd.tokenizer import family_tokenizer, fetch_tokenizer, find_tokenizer

# What a training run reads from a diffusers repository; skips fp16/ema variants, .bin twins and the safety checker.
PIPELINE_FILES = [
    "model_index.json",
    "scheduler/*.json",
    "tokenizer/*",
    "text_encoder/*.json",
    "text_encoder/model.safetensors",
    "unet/*.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/*.json",
    "vae/diffusion_pytorch_model.safetensors",
]


def fetch_missing(settings: ModelSettings, base_dir: Path) -> list[str]:
    """Download what `settings.base` needs and this machine lacks; returns a sentence per download."""
    from huggingface_hub import try_to_load_from_cache

    source = classify_model_source(settings.base, base_dir)
    if source.kind == "hub":
        if isinstance(try_to_load_from_cache(source.text, "model_index.json"), str):
            return []
        return [f"Fetched {source.text} into {_download_model(source.text)}."]
    if source.kind != "file":
        return []
    from ti_tui.sd.family import family_from_shapes
    from ti_tui.sd.loading import checkpoint_contents

    shapes, _, _ = checkpoint_contents(source.path)
    family = family_from_shapes(shapes, source.path.name)
    tokenizer_folder = user_path(settings.tokenizer, base_dir) if settings.tokenizer else None
    if tokenizer_folder is not None or find_tokenizer(source, None, family.name):
        return []
    repository = family_tokenizer(family.name)
    return [f"Fetched the {family.label} tokenizer ({repository.files()}) into {fetch_tokenizer(repository)}."]


def _download_model(repo: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise UserError(f"HF_HUB_OFFLINE is set, so {repo} cannot be fetched; unset it and try again")
    try:
        return Path(snapshot_download(repo, allow_patterns=PIPELINE_FILES))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as error:
        raise UserError(f"could not fetch {repo}: {error}") from None
