"""Diffusers configs for a single-file checkpoint, made offline from the family template and its tensors.

Community checkpoints come as one file in the original key layout and carry no config. Diffusers
can convert them, but asks the Hugging Face hub for the matching config; instead, the shipped
template of the family (SD 1.x or 2.x) is filled in with what the tensors show (channel counts,
depths, widths), so that nothing is downloaded and unusual sizes load as they are.
"""

import json
import re
from pathlib import Path

from ti_tui.sd.family import SD1_TEXT_ENCODER, SD2_TEXT_ENCODER, UNET, VAE, ModelFamily, family_config

Shapes = dict[str, tuple[int, ...]]
# SD 2.x comes as 512 px models that predict noise and 768 px ones that predict velocity.
SD2_SAMPLE_SIZES = {"epsilon": (64, 512), "v_prediction": (96, 768)}


def _count(shapes: Shapes, pattern: str) -> int:
    """How many distinct values the (\\d+) in `pattern` takes among the keys."""
    regex = re.compile(pattern)
    return len({match.group(1) for key in shapes if (match := regex.match(key))})


def unet_config(shapes: Shapes, template: dict) -> dict:
    config = dict(template)
    conv_in = shapes[UNET + "input_blocks.0.0.weight"]
    input_blocks = _count(shapes, re.escape(UNET) + r"input_blocks\.(\d+)\.")
    downsamplers = sorted(
        int(match.group(1)) for key in shapes if (match := re.match(re.escape(UNET) + r"input_blocks\.(\d+)\.0\.op\.weight", key))
    )
    levels = len(downsamplers) + 1
    per_level = (input_blocks - 1 - len(downsamplers)) // levels
    channels, has_attention = [], []
    for level in range(levels):
        first = 1 + level * (per_level + 1)
        channels.append(shapes[f"{UNET}input_blocks.{first}.0.out_layers.3.weight"][0])
        has_attention.append(f"{UNET}input_blocks.{first}.1.proj_in.weight" in shapes)
    cross_attention = next(shape for key, shape in shapes.items() if key.endswith(".attn2.to_k.weight"))
    proj_in = next(shape for key, shape in shapes.items() if key.endswith(".proj_in.weight"))
    config.update(
        in_channels=conv_in[1],
        out_channels=shapes[UNET + "out.2.weight"][0],
        block_out_channels=channels,
        layers_per_block=per_level,
        down_block_types=["CrossAttnDownBlock2D" if attention else "DownBlock2D" for attention in has_attention],
        up_block_types=["CrossAttnUpBlock2D" if attention else "UpBlock2D" for attention in reversed(has_attention)],
        cross_attention_dim=cross_attention[1],
        use_linear_projection=len(proj_in) == 2,
    )
    if isinstance(template["attention_head_dim"], list):
        # SD 2.x keeps 64 channels per head, so the head count follows the width.
        config["attention_head_dim"] = [width // 64 for width in channels]
    return config


def vae_config(shapes: Shapes, template: dict) -> dict:
    config = dict(template)
    prefix = VAE + "encoder."
    levels = _count(shapes, re.escape(prefix) + r"down\.(\d+)\.")
    config.update(
        block_out_channels=[shapes[f"{prefix}down.{level}.block.0.conv2.weight"][0] for level in range(levels)],
        layers_per_block=_count(shapes, re.escape(prefix) + r"down\.0\.block\.(\d+)\."),
        latent_channels=shapes[VAE + "post_quant_conv.weight"][0],
        down_block_types=["DownEncoderBlock2D"] * levels,
        up_block_types=["UpDecoderBlock2D"] * levels,
    )
    return config


def text_encoder_config(shapes: Shapes, template: dict, family: ModelFamily) -> dict:
    config = dict(template)
    if family.name == "sd1":
        nested = SD1_TEXT_ENCODER + "text_model."
        prefix = nested if nested + "embeddings.token_embedding.weight" in shapes else SD1_TEXT_ENCODER
        vocab, width = shapes[prefix + "embeddings.token_embedding.weight"]
        positions = shapes[prefix + "embeddings.position_embedding.weight"][0]
        layers = _count(shapes, re.escape(prefix) + r"encoder\.layers\.(\d+)\.")
        intermediate = shapes[prefix + "encoder.layers.0.mlp.fc1.weight"][0]
    else:
        prefix = SD2_TEXT_ENCODER
        vocab, width = shapes[prefix + "token_embedding.weight"]
        positions = shapes[prefix + "positional_embedding"][0]
        # SD 2.x conditions on the penultimate layer, so diffusers keeps one layer fewer.
        layers = _count(shapes, re.escape(prefix) + r"transformer\.resblocks\.(\d+)\.") - 1
        intermediate = shapes[prefix + "transformer.resblocks.0.mlp.c_fc.weight"][0]
    config.update(
        vocab_size=vocab,
        hidden_size=width,
        max_position_embeddings=positions,
        num_hidden_layers=layers,
        intermediate_size=intermediate,
        num_attention_heads=width // 64,
    )
    return config


def write_config_folder(folder: Path, shapes: Shapes, family: ModelFamily, prediction: str, special_token_ids: dict) -> None:
    """A diffusers pipeline folder with configs only, for `from_single_file(config=folder)`."""
    template = family_config(family.name)
    scheduler = dict(template["scheduler"], prediction_type=prediction)
    text_encoder = dict(text_encoder_config(shapes, template["text_encoder"], family), **special_token_ids)
    unet, vae = unet_config(shapes, template["unet"]), vae_config(shapes, template["vae"])
    if family.name == "sd2":
        unet["sample_size"], vae["sample_size"] = SD2_SAMPLE_SIZES[prediction]
    parts = {
        "unet/config.json": unet,
        "vae/config.json": vae,
        "text_encoder/config.json": text_encoder,
        "scheduler/scheduler_config.json": scheduler,
        "model_index.json": {
            "_class_name": "StableDiffusionPipeline",
            "scheduler": ["diffusers", scheduler["_class_name"]],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
            "safety_checker": [None, None],
            "feature_extractor": [None, None],
            "image_encoder": [None, None],
            "requires_safety_checker": False,
        },
    }
    for name, config in parts.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")
