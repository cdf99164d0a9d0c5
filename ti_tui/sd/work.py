"""The arithmetic a model's parts do at a size, counted on their shapes alone: the yardstick of a time estimate.

The UNet and the VAE are built from their configs on torch's meta device (no weights, no memory) and
run once under torch's FLOP counter; the attention layers' score matrices are counted too, since
on a CPU their softmax, not their FLOPs, sets the pace when the latent is large and the heads are
narrow. Imports torch: the wizard asks `work_in_a_helper`, which keeps each answer in the cache
folder, keyed by the configs and the size.
"""

import hashlib
import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ModelWork:
    forward_gflop: float  # one UNet forward pass of one latent
    step_gflop: float  # one training step of one image: the forward pass and the gradient back to the prompt
    attention_mscores: float  # millions of attention scores in one forward pass
    encode_gflop: float  # the VAE encoding one image
    decode_gflop: float  # the VAE decoding one latent
    problem: str = ""  # why there is no count; the rest is then 0


def count_model_work(unet_config: dict, vae_config: dict, resolution: int) -> ModelWork:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.models.attention_processor import Attention
    from torch.utils.flop_counter import FlopCounterMode

    def settings(config: dict) -> dict:
        return {key: value for key, value in config.items() if not key.startswith("_")}

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(settings(unet_config)).requires_grad_(False)
        vae = AutoencoderKL.from_config(settings(vae_config)).requires_grad_(False)
    scores = []

    def count_scores(module, arguments, keywords):
        hidden = keywords.get("hidden_states", arguments[0] if arguments else None)
        context = keywords.get("encoder_hidden_states")
        queries = hidden.shape[-2] * hidden.shape[-1] if hidden.ndim == 4 else hidden.shape[1]
        keys = context.shape[1] if context is not None else queries
        scores.append(hidden.shape[0] * module.heads * queries * keys)

    for module in unet.modules():
        if isinstance(module, Attention):
            module.register_forward_pre_hook(count_scores, with_kwargs=True)
    latent = torch.zeros(1, unet.config.in_channels, resolution // 8, resolution // 8, device="meta")
    prompt = torch.zeros(1, 77, unet.config.cross_attention_dim, device="meta", requires_grad=True)
    timestep = torch.tensor([500], device="meta")
    extra = {}
    if unet.config.addition_embed_type == "text_time":  # SDXL: the pooled prompt and the size conditions
        pooled = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
        extra["added_cond_kwargs"] = {
            "text_embeds": torch.zeros(1, pooled, device="meta"),
            "time_ids": torch.zeros(1, 6, device="meta"),
        }
    with FlopCounterMode(display=False) as forward:
        unet(latent, timestep, encoder_hidden_states=prompt, **extra)
    forward_scores = sum(scores)
    with FlopCounterMode(display=False) as step:
        unet(latent, timestep, encoder_hidden_states=prompt, **extra).sample.float().pow(2).mean().backward()
    image = torch.zeros(1, 3, resolution, resolution, device="meta")
    with FlopCounterMode(display=False) as encode:
        vae.encode(image)
    with FlopCounterMode(display=False) as decode:
        vae.decode(torch.zeros(1, vae.config.latent_channels, resolution // 8, resolution // 8, device="meta"))
    return ModelWork(
        forward.get_total_flops() / 1e9,
        step.get_total_flops() / 1e9,
        forward_scores / 1e6,
        encode.get_total_flops() / 1e9,
        decode.get_total_flops() / 1e9,
    )


def work_key(unet_config: dict, vae_config: dict, resolution: int) -> str:
    text = json.dumps([unet_config, vae_config, resolution], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def work_in_a_helper(unet_config: dict, vae_config: dict, resolution: int) -> ModelWork:
    """`count_model_work` in a process of its own (the caller never imports torch), kept in the cache folder."""
    import subprocess
    import sys

    from ti_tui.errors import UserError
    from ti_tui.fsutil import atomic_write_text
    from ti_tui.paths import cache_dir

    kept_file = None
    try:
        kept_file = cache_dir() / "model-work" / f"{work_key(unet_config, vae_config, resolution)}.json"
        return ModelWork(**json.loads(kept_file.read_text(encoding="utf-8")))
    except (UserError, OSError, ValueError, TypeError):
        pass  # not counted yet, or the cache folder cannot be used: counted now
    question = json.dumps({"unet": unet_config, "vae": vae_config, "resolution": resolution})
    result = subprocess.run([sys.executable, "-m", "ti_tui.sd.work"], input=question, capture_output=True, text=True, timeout=300)
    try:
        work = ModelWork(**json.loads(result.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError, TypeError):
        said = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        return ModelWork(0, 0, 0, 0, 0, f"the model's work could not be counted ({said})")
    if kept_file is not None:
        try:
            kept_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(kept_file, json.dumps(asdict(work)))
        except OSError:
            pass  # counted again next time
    return work


def main() -> int:
    import sys

    question = json.loads(sys.stdin.read())
    print(json.dumps(asdict(count_model_work(question["unet"], question["vae"], question["resolution"]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
