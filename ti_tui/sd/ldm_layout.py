"""Writing a diffusers SD 1.x pipeline as one checkpoint in the original Stable Diffusion key layout.

Community models are shared in that layout (`model.diffusion_model.*`, `first_stage_model.*`,
`cond_stage_model.transformer.*`), so this lets tests exercise the single-file loading path on a
model they built themselves. Reading such files is left to diffusers' own converter.
"""

import json
from pathlib import Path

from ti_tui.fsutil import atomic_write_bytes

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_ENCODER_PREFIX = "cond_stage_model.transformer."

_UNET_RESNET_PARTS = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_VAE_RESNET_PARTS = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTENTION_PARTS = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def unet_prefixes(config: dict) -> list[tuple[str, str, dict[str, str]]]:
    """(diffusers prefix, original prefix, renames inside the block) for every block of the UNet."""
    per_level = config["layers_per_block"]
    levels = len(config["block_out_channels"])
    prefixes: list[tuple[str, str, dict[str, str]]] = [
        ("time_embedding.linear_1.", "time_embed.0.", {}),
        ("time_embedding.linear_2.", "time_embed.2.", {}),
        ("conv_in.", "input_blocks.0.0.", {}),
        ("conv_norm_out.", "out.0.", {}),
        ("conv_out.", "out.2.", {}),
        ("mid_block.resnets.0.", "middle_block.0.", _UNET_RESNET_PARTS),
        ("mid_block.attentions.0.", "middle_block.1.", {}),
        ("mid_block.resnets.1.", "middle_block.2.", _UNET_RESNET_PARTS),
    ]
    # The original UNet numbers its blocks in one flat list per direction: per level, its
    # resnet(+attention) blocks, then the down- or upsampler as one more block.
    for level in range(levels):
        first = 1 + level * (per_level + 1)
        for index in range(per_level):
            prefixes.append((f"down_blocks.{level}.resnets.{index}.", f"input_blocks.{first + index}.0.", _UNET_RESNET_PARTS))
            prefixes.append((f"down_blocks.{level}.attentions.{index}.", f"input_blocks.{first + index}.1.", {}))
        if level < levels - 1:
            prefixes.append((f"down_blocks.{level}.downsamplers.0.conv.", f"input_blocks.{first + per_level}.0.op.", {}))
    for level, block_type in enumerate(config["up_block_types"]):
        first = level * (per_level + 1)
        for index in range(per_level + 1):
            prefixes.append((f"up_blocks.{level}.resnets.{index}.", f"output_blocks.{first + index}.0.", _UNET_RESNET_PARTS))
            prefixes.append((f"up_blocks.{level}.attentions.{index}.", f"output_blocks.{first + index}.1.", {}))
        if level < levels - 1:
            # The upsampler follows the attention when the block has one.
            position = 2 if "CrossAttn" in block_type else 1
            prefixes.append((f"up_blocks.{level}.upsamplers.0.", f"output_blocks.{first + per_level}.{position}.", {}))
    return prefixes


def vae_prefixes(config: dict) -> list[tuple[str, str, dict[str, str]]]:
    """(diffusers prefix, original prefix, renames inside the block) for every block of the VAE."""
    per_level = config["layers_per_block"]
    levels = len(config["block_out_channels"])
    prefixes: list[tuple[str, str, dict[str, str]]] = [
        ("quant_conv.", "quant_conv.", {}),
        ("post_quant_conv.", "post_quant_conv.", {}),
    ]
    for part in ("encoder", "decoder"):
        prefixes += [
            (f"{part}.conv_in.", f"{part}.conv_in.", {}),
            (f"{part}.conv_out.", f"{part}.conv_out.", {}),
            (f"{part}.conv_norm_out.", f"{part}.norm_out.", {}),
            (f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.", _VAE_RESNET_PARTS),
            (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2.", _VAE_RESNET_PARTS),
            (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.", _VAE_ATTENTION_PARTS),
        ]
    for level in range(levels):
        for index in range(per_level):
            prefixes.append((f"encoder.down_blocks.{level}.resnets.{index}.", f"encoder.down.{level}.block.{index}.", _VAE_RESNET_PARTS))
        prefixes.append((f"encoder.down_blocks.{level}.downsamplers.0.conv.", f"encoder.down.{level}.downsample.conv.", {}))
        # The original decoder counts its levels from the smallest resolution up.
        original_level = levels - 1 - level
        for index in range(per_level + 1):
            prefixes.append(
                (f"decoder.up_blocks.{level}.resnets.{index}.", f"decoder.up.{original_level}.block.{index}.", _VAE_RESNET_PARTS)
            )
        prefixes.append((f"decoder.up_blocks.{level}.upsamplers.0.conv.", f"decoder.up.{original_level}.upsample.conv.", {}))
    return prefixes


def rename_keys(state_dict: dict, prefixes: list[tuple[str, str, dict[str, str]]], what: str) -> dict:
    """Rename every key by its longest matching prefix; a key that matches none is a bug, not data to drop."""
    ordered = sorted(prefixes, key=lambda entry: len(entry[0]), reverse=True)
    renamed = {}
    for key, tensor in state_dict.items():
        for diffusers_prefix, original_prefix, parts in ordered:
            if key.startswith(diffusers_prefix):
                rest = key[len(diffusers_prefix) :]
                for diffusers_part, original_part in parts.items():
                    if rest.startswith(diffusers_part + "."):
                        rest = original_part + rest[len(diffusers_part) :]
                        break
                renamed[original_prefix + rest] = tensor
                break
        else:
            raise ValueError(f"{what} key {key!r} has no place in the original layout")
    return renamed


def _vae_attention_as_convolutions(state_dict: dict) -> dict:
    """The original VAE attention uses 1x1 convolutions where diffusers uses linear layers."""
    converted = {}
    for key, tensor in state_dict.items():
        is_projection = ".mid.attn_1." in key and key.endswith(("q.weight", "k.weight", "v.weight", "proj_out.weight"))
        converted[key] = tensor.reshape(*tensor.shape, 1, 1) if is_projection and tensor.ndim == 2 else tensor
    return converted


def original_layout_state_dict(pipeline_folder: Path) -> dict:
    """All weights of a diffusers SD 1.x folder, keyed as in an original Stable Diffusion checkpoint."""
    from safetensors.torch import load_file

    folder = Path(pipeline_folder)
    unet_config = json.loads((folder / "unet" / "config.json").read_text())
    vae_config = json.loads((folder / "vae" / "config.json").read_text())
    unet = rename_keys(load_file(folder / "unet" / "diffusion_pytorch_model.safetensors"), unet_prefixes(unet_config), "UNet")
    vae = rename_keys(load_file(folder / "vae" / "diffusion_pytorch_model.safetensors"), vae_prefixes(vae_config), "VAE")
    vae = _vae_attention_as_convolutions(vae)
    text_encoder = load_file(folder / "text_encoder" / "model.safetensors")
    state_dict = {UNET_PREFIX + key: tensor for key, tensor in unet.items()}
    state_dict |= {VAE_PREFIX + key: tensor for key, tensor in vae.items()}
    # transformers 5.6 dropped the "text_model." level that the original layout keeps.
    state_dict |= {
        TEXT_ENCODER_PREFIX + ("" if key.startswith("text_model.") else "text_model.") + key: tensor for key, tensor in text_encoder.items()
    }
    return state_dict


def write_single_file_checkpoint(pipeline_folder: Path, destination: Path) -> None:
    """Save the pipeline at `pipeline_folder` as one `.safetensors` file in the original layout."""
    from safetensors.torch import save

    state_dict = {key: tensor.contiguous() for key, tensor in original_layout_state_dict(pipeline_folder).items()}
    atomic_write_bytes(Path(destination), save(state_dict, metadata={"format": "pt"}))
