"""Rendering a prompt with trained vectors into a PNG that says how it was made, as the web UI's PNG Info reads it."""

import torch
from PIL import Image

from ti_tui.infer.render import RenderRequest, parameters_text, render, save_png
from ti_tui.samplers import web_ui_name
from ti_tui.sd.loading import load_model
from ti_tui.sd.placeholder import PromptEncoder
from ti_tui.settings import ModelSettings


def test_the_parameters_are_written_as_the_web_ui_writes_them():
    request = RenderRequest("a photo of zorbot", seed=7, sampling_steps=20, cfg_scale=7.0, width=512, height=768, negative_prompt="blurry")
    assert parameters_text(request, "PNDM", "v1-5-pruned", "abcdef1234", {"Embedding step": 500}) == (
        "a photo of zorbot\n"
        "Negative prompt: blurry\n"
        "Steps: 20, Sampler: PNDM, CFG scale: 7, Seed: 7, Size: 512x768, Model hash: abcdef1234, Model: v1-5-pruned, Embedding step: 500"
    )
    plain = RenderRequest("zorbot", seed=1, sampling_steps=4, cfg_scale=3.5, width=64, height=64)
    assert (
        parameters_text(plain, "DDIM", "tiny", None, {})
        == "zorbot\nSteps: 4, Sampler: DDIM, CFG scale: 3.5, Seed: 1, Size: 64x64, Model: tiny"
    )


def test_a_rendered_image_follows_its_seed_and_the_trigger_and_keeps_its_parameters(tmp_path):
    model = load_model(ModelSettings(base="builtin:tiny", precision="fp32"), tmp_path)
    encoder = PromptEncoder(model.tokenizer, model.text_encoder)
    width = model.text_width
    encoder.add("zorbot", torch.randn(2, width, generator=torch.Generator().manual_seed(0)) * 3)

    def image(prompt: str, seed: int):
        return render(model.pipeline, encoder, RenderRequest(prompt, seed, sampling_steps=3, cfg_scale=5.0, width=64, height=64))

    first = image("a photo of zorbot", 1)
    assert first.size == (64, 64)
    assert first.tobytes() == image("a photo of zorbot", 1).tobytes()  # the same seed, the same image
    assert first.tobytes() != image("a photo of zorbot", 2).tobytes()
    assert first.tobytes() != image("a photo of robot", 1).tobytes()  # the vectors steer it

    request = RenderRequest("a photo of zorbot", 1, 3, 5.0, 64, 64)
    text = parameters_text(request, web_ui_name(model.pipeline.scheduler), model.name, model.short_hash, {})
    save_png(first, tmp_path / "out.png", text)
    assert Image.open(tmp_path / "out.png").text["parameters"] == text
    assert [path.name for path in tmp_path.iterdir() if path.suffix == ".png"] == ["out.png"]
