"""builtin:tiny: deterministic, usable by diffusers as is, and writable in the original single-file layout."""

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from ti_tui.sd.ldm_layout import write_single_file_checkpoint
from ti_tui.sd.tiny import IMAGE_SIZE, save_tiny_pipeline

WEIGHT_FILES = (
    "unet/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
    "text_encoder/model.safetensors",
)


def test_built_twice_gives_bit_identical_weights(tmp_path, tiny_model_dir):
    save_tiny_pipeline(tmp_path / "again")
    for name in WEIGHT_FILES:
        first, second = load_file(tiny_model_dir / name), load_file(tmp_path / "again" / name)
        assert first.keys() == second.keys()
        assert all(torch.equal(first[key], second[key]) for key in first), name
    for name in ("tokenizer/vocab.json", "tokenizer/merges.txt", "unet/config.json"):
        assert (tiny_model_dir / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


def test_diffusers_pipeline_generates_an_image_of_the_requested_size(tiny_model_dir):
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    image = pipeline(
        "a photo of a robot",
        height=IMAGE_SIZE,
        width=IMAGE_SIZE - 32,
        num_inference_steps=4,
        generator=torch.Generator().manual_seed(1),
    ).images[0]
    assert image.size == (IMAGE_SIZE - 32, IMAGE_SIZE)


def test_tokenizer_knows_common_words_and_splits_made_up_ones(tiny_model_dir):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tiny_model_dir / "tokenizer")
    assert tokenizer.tokenize("a photo of a woman") == ["a</w>", "photo</w>", "of</w>", "a</w>", "woman</w>"]
    assert len(tokenizer.tokenize("wdnsdy")) > 1
    assert len(tokenizer("a photo", padding="max_length").input_ids) == 77


def test_single_file_checkpoint_in_the_original_layout_loads_offline_with_equal_weights(tmp_path, tiny_model_dir):
    from diffusers import StableDiffusionPipeline

    checkpoint = tmp_path / "tiny.safetensors"
    write_single_file_checkpoint(tiny_model_dir, checkpoint)
    keys = load_file(checkpoint).keys()
    assert "model.diffusion_model.input_blocks.0.0.weight" in keys
    assert "first_stage_model.decoder.up.0.block.0.conv1.weight" in keys
    assert "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight" in keys

    from_folder = StableDiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    from_file = StableDiffusionPipeline.from_single_file(checkpoint, config=str(tiny_model_dir), local_files_only=True)
    for part in ("unet", "vae", "text_encoder"):
        expected, loaded = getattr(from_folder, part).state_dict(), getattr(from_file, part).state_dict()
        assert expected.keys() == loaded.keys()
        assert all(torch.equal(expected[key], loaded[key]) for key in expected), part


@pytest.mark.slow
def test_two_processes_building_at_once_both_get_the_complete_model(tmp_path):
    build = "from ti_tui.sd.tiny import ensure_builtin_tiny; print(ensure_builtin_tiny())"
    environment = {**os.environ, "TI_TUI_CACHE_DIR": str(tmp_path / "cache")}
    processes = [subprocess.Popen([sys.executable, "-c", build], env=environment, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300)[0].strip() for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    assert outputs[0] == outputs[1]
    models = tmp_path / "cache" / "models"
    assert sorted(path.name for path in models.iterdir() if path.is_dir()) == ["builtin-tiny-v1"]
    for name in WEIGHT_FILES:
        assert (models / "builtin-tiny-v1" / name).is_file()


@pytest.mark.parametrize("part", ["unet", "vae"])
def test_every_weight_has_a_place_in_the_original_layout(tiny_model_dir, part):
    import json

    from ti_tui.sd.ldm_layout import rename_keys, unet_prefixes, vae_prefixes

    config = json.loads((tiny_model_dir / part / "config.json").read_text())
    weights = load_file(tiny_model_dir / part / "diffusion_pytorch_model.safetensors")
    prefixes = unet_prefixes(config) if part == "unet" else vae_prefixes(config)
    renamed = rename_keys(weights, prefixes, part)
    assert len(renamed) == len(weights)
    with pytest.raises(ValueError, match="has no place"):
        rename_keys({"not_a_layer.weight": torch.zeros(1)}, prefixes, part)
