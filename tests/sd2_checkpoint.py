"""A tiny SD 2.x model written as an original-layout single file, for the loading tests.

SD 2.x checkpoints keep their OpenCLIP text encoder in its own layout (one fused q/k/v projection
per layer, `resblocks`, `ln_final`) and one layer more than the model conditions on.
"""

import torch
from safetensors.torch import save_file

from ti_tui.sd.ldm_layout import UNET_PREFIX, VAE_PREFIX, rename_keys, unet_prefixes, vae_prefixes
from ti_tui.sd.tiny import VAE_CONFIG

OPEN_CLIP = "cond_stage_model.model."
UNET_CONFIG = dict(
    sample_size=16,
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(64, 128),
    layers_per_block=1,
    attention_head_dim=(1, 2),
    cross_attention_dim=1024,
    use_linear_projection=True,
    norm_num_groups=32,
)


def build_parts(vocabulary_size: int, eos_token_id: int):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(2)
    unet = UNet2DConditionModel(**UNET_CONFIG)
    vae = AutoencoderKL(**VAE_CONFIG)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocabulary_size,
            hidden_size=1024,
            intermediate_size=512,
            num_hidden_layers=2,
            num_attention_heads=16,
            max_position_embeddings=77,
            hidden_act="gelu",
            eos_token_id=eos_token_id,
            bos_token_id=eos_token_id - 1,
        )
    )
    return unet, vae, text_encoder


def open_clip_state_dict(text_encoder) -> dict:
    weights = {key.removeprefix("text_model."): value for key, value in text_encoder.state_dict().items()}
    layers = text_encoder.config.num_hidden_layers
    converted = {
        "token_embedding.weight": weights["embeddings.token_embedding.weight"],
        "positional_embedding": weights["embeddings.position_embedding.weight"],
        "ln_final.weight": weights["final_layer_norm.weight"],
        "ln_final.bias": weights["final_layer_norm.bias"],
        "text_projection": torch.eye(text_encoder.config.hidden_size),
    }
    # The last block stands for the layer SD 2.x skips: its values must not matter.
    for index in range(layers + 1):
        source = min(index, layers - 1)
        layer = f"encoder.layers.{source}."
        block = f"transformer.resblocks.{index}."
        for name in ("weight", "bias"):
            converted[block + f"attn.in_proj_{name}"] = torch.cat(
                [weights[layer + f"self_attn.{part}_proj.{name}"] for part in ("q", "k", "v")]
            )
            converted[block + f"attn.out_proj.{name}"] = weights[layer + f"self_attn.out_proj.{name}"]
            converted[block + f"ln_1.{name}"] = weights[layer + f"layer_norm1.{name}"]
            converted[block + f"ln_2.{name}"] = weights[layer + f"layer_norm2.{name}"]
            converted[block + f"mlp.c_fc.{name}"] = weights[layer + f"mlp.fc1.{name}"]
            converted[block + f"mlp.c_proj.{name}"] = weights[layer + f"mlp.fc2.{name}"]
        if index == layers:
            converted = {key: (value + 1.0 if key.startswith(block) else value) for key, value in converted.items()}
    return converted


def write_sd2_checkpoint(path, unet, vae, text_encoder, prediction: str = "v") -> None:
    state = {UNET_PREFIX + key: value for key, value in rename_keys(unet.state_dict(), unet_prefixes(dict(unet.config)), "UNet").items()}
    vae_weights = rename_keys(vae.state_dict(), vae_prefixes(dict(vae.config)), "VAE")
    for key, value in vae_weights.items():
        is_projection = ".mid.attn_1." in key and value.ndim == 2
        state[VAE_PREFIX + key] = value.reshape(*value.shape, 1, 1) if is_projection else value
    state |= {OPEN_CLIP + key: value for key, value in open_clip_state_dict(text_encoder).items()}
    save_file({key: value.contiguous() for key, value in state.items()}, path, metadata={"modelspec.prediction_type": prediction})
