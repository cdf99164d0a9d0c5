"""`ti-tui fetch`: the one place that downloads, and only what the project's model lacks, when asked."""

from pathlib import Path

from ti_tui.errors import UserError
from ti_tui.paths import user_path
from ti_tui.sd.availability import model_availability
from ti_tui.sd.source import classify_model_source
from ti_tui.sd.tokenizer import (
    family_tokenizer,
    fetch_tokenizer,
    find_tokenizer,
    missing_tokenizer_advice,
    refuse_when_offline,
)
from ti_tui.settings import ModelSettings

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
    """Download what `settings.base` needs and this machine lacks; returns a sentence per download.

    What no download can fix (a wrong path, a folder without a tokenizer) is an error that says so.
    """
    source = classify_model_source(settings.base, base_dir)
    if source.kind == "hub":
        if model_availability(source).found:
            return []
        return [f"Fetched {source.text} into {_download_model(source.text)}."]
    availability = model_availability(source)
    if not availability.found:
        raise UserError(f"{availability.detail}; downloading cannot fix that: {availability.fix}")
    if source.kind == "builtin":
        return []
    tokenizer_folder = user_path(settings.tokenizer, base_dir) if settings.tokenizer else None
    family = None
    if source.kind == "file":
        from ti_tui.sd.family import family_from_shapes
        from ti_tui.sd.loading import checkpoint_contents

        family = family_from_shapes(checkpoint_contents(source.path)[0], source.path.name)
    if find_tokenizer(source, tokenizer_folder, family.name if family else None):
        return []
    if source.kind != "file" or tokenizer_folder is not None:
        raise UserError(f"the tokenizer is missing and no download fixes that: {missing_tokenizer_advice(source, tokenizer_folder, None)}")
    repository = family_tokenizer(family.name)
    return [f"Fetched the {family.label} tokenizer ({repository.files()}) into {fetch_tokenizer(repository)}."]


def _download_model(repo: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    refuse_when_offline(repo)
    try:
        return Path(snapshot_download(repo, allow_patterns=PIPELINE_FILES))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as error:
        raise UserError(f"could not fetch {repo}: {error}") from None
