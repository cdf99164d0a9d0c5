"""The reference: textual inversion as the diffusers training example does it, step for step.

Each step encodes the batch's images with the VAE, hands the text encoder's whole token table to
AdamW (weight decay 1e-2) and then restores every row but the new token's; the frozen UNet and VAE
are cast to the mixed-precision dtype and the text encoder stays float32, its forward under
autocast (as accelerate wraps the model it prepares). Run as a
script, it prints one JSON line per finished step, and its peak memory at the end, so that the
benchmark can time it in a fresh process exactly like our trainer.

    python bench/reference_loop.py --model DIR --images DIR --resolution 256 --batch 1 --steps 7
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def load_images(folder: Path, resolution: int) -> list[torch.Tensor]:
    """Every image as pixels in [-1, 1]; loaded once, which spares the reference the example's per-step decoding."""
    import numpy

    from ti_tui.dataset.files import list_image_files
    from ti_tui.dataset.training_set import load_square_image

    pictures = []
    for path in list_image_files(folder):
        pixels = torch.from_numpy(numpy.asarray(load_square_image(path, resolution, "#ffffff"), dtype=numpy.uint8).copy())
        pictures.append(pixels.permute(2, 0, 1).float() / 127.5 - 1.0)
    return pictures


def train(
    model: Path, images: Path, resolution: int, batch: int, steps: int, precision: str, device: str, seed: int = 1234, out=sys.stdout
) -> torch.Tensor:
    """Train `steps` steps; returns the new token's vector. Prints {"step": n, "t": time} as each ends."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from ti_tui.prompts import load_templates

    torch.manual_seed(seed)
    generator = random.Random(seed)
    dtype = DTYPES[precision]
    tokenizer = CLIPTokenizer.from_pretrained(model / "tokenizer")
    text_encoder = CLIPTextModel.from_pretrained(model / "text_encoder")
    vae = AutoencoderKL.from_pretrained(model / "vae")
    unet = UNet2DConditionModel.from_pretrained(model / "unet")
    noise_scheduler = DDPMScheduler.from_pretrained(model / "scheduler")

    # The new token, started from the embedding of a word, as the example does.
    tokenizer.add_tokens(["<zorbot>"])
    placeholder = tokenizer.convert_tokens_to_ids("<zorbot>")
    initializer = tokenizer.encode("robot", add_special_tokens=False)[0]
    # The example's tokenizer is CLIP's own, so its table grows by one row; the bench's tokenizer
    # is smaller than the table, which must keep every one of its 49408 rows all the same.
    text_encoder.resize_token_embeddings(max(len(tokenizer), text_encoder.config.vocab_size + 1))
    table = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        table[placeholder] = table[initializer].clone()

    vae.requires_grad_(False)
    unet.requires_grad_(False)
    text_encoder.encoder.requires_grad_(False)
    text_encoder.final_layer_norm.requires_grad_(False)
    text_encoder.embeddings.position_embedding.requires_grad_(False)
    optimizer = torch.optim.AdamW(
        text_encoder.get_input_embeddings().parameters(), lr=5e-3, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8
    )
    unet.to(device, dtype=dtype)
    vae.to(device, dtype=dtype)
    text_encoder.to(device)
    text_encoder.train()
    original_table = text_encoder.get_input_embeddings().weight.data.clone()

    pictures = load_images(images, resolution)
    templates = load_templates("photo", images)
    autocast = torch.autocast(device_type=torch.device(device).type, dtype=dtype, enabled=dtype != torch.float32)
    for step in range(1, steps + 1):
        chosen = [pictures[generator.randrange(len(pictures))] for _ in range(batch)]
        pixel_values = torch.stack(chosen).to(device, dtype=dtype)
        prompts = [generator.choice(templates).replace("[name]", "<zorbot>") for _ in chosen]
        input_ids = tokenizer(prompts, padding="max_length", truncation=True, max_length=77, return_tensors="pt").input_ids.to(device)
        latents = vae.encode(pixel_values).latent_dist.sample().detach() * vae.config.scaling_factor
        noise = torch.randn_like(latents)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (batch,), device=device)
        noisy_latents = noise_scheduler.add_noise(latents, noise, timesteps)
        with autocast:
            encoder_hidden_states = text_encoder(input_ids)[0].to(dtype=dtype)
        prediction = unet(noisy_latents, timesteps, encoder_hidden_states).sample
        if noise_scheduler.config.prediction_type == "v_prediction":
            target = noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        loss = F.mse_loss(prediction.float(), target.float(), reduction="mean")
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        with torch.no_grad():
            keep = torch.ones((table.shape[0],), dtype=torch.bool)
            keep[placeholder] = False
            text_encoder.get_input_embeddings().weight[keep] = original_table[keep]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        print(json.dumps({"step": step, "t": time.time(), "loss": loss.item()}), file=out, flush=True)
    return text_encoder.get_input_embeddings().weight[placeholder].detach().cpu().clone()


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    with open("/proc/self/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python bench/reference_loop.py")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--precision", choices=sorted(DTYPES), default="fp32")
    parser.add_argument("--device", default="cpu")
    arguments = parser.parse_args(argv)
    train(arguments.model, arguments.images, arguments.resolution, arguments.batch, arguments.steps, arguments.precision, arguments.device)
    print(json.dumps({"peak_memory_mb": peak_memory_mb(arguments.device)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
