"""`builtin:tiny`: a tiny random model with the Stable Diffusion 1.x layout, for tests and trying screens.

It has every part of SD 1.x (UNet with cross-attention, 8x VAE with 4 latent channels, CLIP text
encoder of width 768, byte-level BPE tokenizer, scheduler) at a fraction of the size, so training,
previews and exports run on a laptop CPU in seconds. Its weights are random: it makes noise, not
pictures. It is built from fixed seeds on first use into the user cache, as a diffusers folder.
"""

import os
import shutil
import tempfile
from pathlib import Path

from ti_tui.paths import cache_dir
from ti_tui.sd.tiny_tokenizer import END_TOKEN, START_TOKEN, write_tokenizer_files

# Bump when anything below changes what is built; each recipe gets its own cache folder.
RECIPE_VERSION = 1
SEED = 1_000_003
IMAGE_SIZE = 128
NOISE_NOTICE = "builtin:tiny has random weights: it makes noise, not pictures (it is for trying ti-tui and for tests)"

UNET_CONFIG = dict(
    sample_size=IMAGE_SIZE // 8,
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(32, 64),
    layers_per_block=1,
    attention_head_dim=8,
    cross_attention_dim=768,
    norm_num_groups=32,
)
VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(32, 32, 64, 64),
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=IMAGE_SIZE,
    scaling_factor=0.18215,
)
TEXT_ENCODER_CONFIG = dict(
    hidden_size=768,
    intermediate_size=1024,
    num_hidden_layers=2,
    num_attention_heads=12,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    projection_dim=768,
)
# The noise schedule of SD 1.5, so timesteps and sampling behave as on the real model.
SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    skip_prk_steps=True,
    steps_offset=1,
    set_alpha_to_one=False,
    prediction_type="epsilon",
)


def builtin_tiny_dir() -> Path:
    return cache_dir() / "models" / f"builtin-tiny-v{RECIPE_VERSION}"


def ensure_builtin_tiny() -> Path:
    """The diffusers folder of `builtin:tiny`, built on first use.

    Safe when several processes ask at once: one builds under a lock into a temporary folder that
    is renamed into place, so nobody ever sees half a model.
    """
    from filelock import FileLock

    target = builtin_tiny_dir()
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(os.fspath(target) + ".lock"):
        if target.is_dir():
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            save_tiny_pipeline(staging)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


def save_tiny_pipeline(folder: Path) -> None:
    """Build the tiny model from its seeds and write it to `folder` as a diffusers pipeline."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    # vocab.json and merges.txt stay beside the tokenizer.json that saving adds, as in SD 1.5's folder.
    tokenizer_folder = Path(folder) / "tokenizer"
    vocabulary = write_tokenizer_files(tokenizer_folder)
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_folder, model_max_length=77)

    # One seed per part, so a change to one part leaves the others' weights as they were.
    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(**UNET_CONFIG)
    torch.manual_seed(SEED + 1)
    vae = AutoencoderKL(**VAE_CONFIG)
    torch.manual_seed(SEED + 2)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocabulary),
            bos_token_id=vocabulary[START_TOKEN],
            eos_token_id=vocabulary[END_TOKEN],
            pad_token_id=vocabulary[END_TOKEN],
            **TEXT_ENCODER_CONFIG,
        )
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=PNDMScheduler(**SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder, safe_serialization=True)
