"""A model with the exact Stable Diffusion 1.5 shapes and random weights, built once and cached.

UNet 859.5M, text encoder 123.1M with the 49408-token table, VAE 83.7M parameters: what a real
SD 1.5 checkpoint costs to train, without downloading one. Its tokenizer is builtin:tiny's (the
ids it makes all fall inside the 49408-row table), since CLIP's own cannot be fetched here.
"""

import math
import os
import shutil
import tempfile
from pathlib import Path

from ti_tui.paths import cache_dir

SEED = 1_500


def sd15_model_dir() -> Path:
    """The cached folder, built on first use (about 20 s and 4.3 GB of disk in float32)."""
    target = cache_dir() / "bench" / "sd15-random-v1"
    if target.is_dir():
        return target
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from ti_tui.sd.family import family_config
    from ti_tui.sd.tiny import ensure_builtin_tiny

    config = family_config("sd1")

    def settings(part: str) -> dict:
        return {key: value for key, value in config[part].items() if not key.startswith("_") and key != "architectures"}

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel.from_config(settings("unet"))
    vae = AutoencoderKL.from_config(settings("vae"))
    text_encoder = CLIPTextModel(CLIPTextConfig(**settings("text_encoder")))
    tokenizer = CLIPTokenizer.from_pretrained(ensure_builtin_tiny() / "tokenizer", model_max_length=77)
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=PNDMScheduler.from_config(settings("scheduler")),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".sd15-", dir=target.parent))
    try:
        pipeline.save_pretrained(staging, safe_serialization=True)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def parameter_counts(folder: Path) -> dict[str, int]:
    from safetensors import safe_open

    counts = {}
    for part, name in (
        ("unet", "diffusion_pytorch_model.safetensors"),
        ("vae", "diffusion_pytorch_model.safetensors"),
        ("text_encoder", "model.safetensors"),
    ):
        with safe_open(folder / part / name, framework="pt") as handle:
            names = handle.keys()
            counts[part] = sum(math.prod(handle.get_slice(key).get_shape()) for key in names)
    return counts
