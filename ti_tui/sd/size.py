"""How big a model is, read from its files' headers and configs: no weights read, no torch imported."""

import json
import math
from dataclasses import dataclass

from ti_tui.errors import UserError
from ti_tui.sd.family import TEXT_ENCODER, UNET, VAE, family_config, family_from_shapes, read_safetensors_layout
from ti_tui.sd.source import ModelSource


@dataclass(frozen=True)
class ModelSize:
    parameters: int  # UNet, VAE and text encoder together
    unet_parameters: int
    unet_channels: list[int]  # block_out_channels, level by level
    unet_config: dict  # the diffusers configs the parts are built from, for counting their work
    vae_config: dict


def model_size(source: ModelSource) -> ModelSize:
    from ti_tui.sd.loading import _pretrained_folder, _weights_files, checkpoint_contents
    from ti_tui.sd.single_file import unet_config

    if source.kind == "file":
        if source.path.suffix.lower() != ".safetensors":
            # A pickle's sizes are known only by loading it, which needs torch; that waits for training.
            raise UserError(f"{source.path.name} is a pickled checkpoint; its size is known once training loads it")
        shapes, _, _ = checkpoint_contents(source.path)
        family = family_from_shapes(shapes, source.path.name)
        counts = {
            prefix: sum(math.prod(shape) for key, shape in shapes.items() if key.startswith(prefix)) for prefix in (UNET, VAE, TEXT_ENCODER)
        }
        config = unet_config(shapes, family_config(family.name)["unet"])
        return ModelSize(sum(counts.values()), counts[UNET], list(config["block_out_channels"]), config, family_config(family.name)["vae"])
    if source.kind not in ("builtin", "folder", "hub"):
        raise UserError(f"{source.path} does not exist")
    folder = _pretrained_folder(source)
    counts = {}
    for part in ("unet", "vae", "text_encoder"):
        files = _weights_files(folder / part)
        if any(file.suffix != ".safetensors" for file in files):
            raise UserError(f"{folder / part} keeps its weights in a pickle, whose size cannot be read without loading it")
        counts[part] = sum(math.prod(tensor.shape) for file in files for tensor in read_safetensors_layout(file).tensors.values())
    configs = {}
    for part in ("unet", "vae"):
        try:
            configs[part] = json.loads((folder / part / "config.json").read_text(encoding="utf-8"))
            channels = list(configs[part]["block_out_channels"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UserError(f"{folder / part / 'config.json'} cannot be read ({error})") from None
        if part == "unet":
            unet_channels = channels
    return ModelSize(sum(counts.values()), counts["unet"], unet_channels, configs["unet"], configs["vae"])
