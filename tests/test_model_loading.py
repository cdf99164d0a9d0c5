"""Loading SD models offline from every source, telling their family apart, and explaining refusals."""

import hashlib
import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from ti_tui.errors import UserError
from ti_tui.findings import Fix
from ti_tui.sd.family import ModelFamily, NotTrainableError, family_config, family_from_shapes, read_safetensors_header
from ti_tui.sd.hashing import model_short_hash
from ti_tui.sd.loading import load_model, looks_like_epsilon_prediction, prediction_from_file
from ti_tui.sd.single_file import text_encoder_config, unet_config, vae_config
from ti_tui.sd.tokenizer import TokenizerRepository, fetch_tokenizer, load_tokenizer
from ti_tui.settings import ModelSettings


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_single_file_loads_offline_with_the_weights_of_the_folder(tiny_model_dir, tiny_checkpoint, tmp_path, no_network, suffix):
    checkpoint = tiny_checkpoint
    if suffix == ".ckpt":
        checkpoint = tmp_path / "tiny.ckpt"
        torch.save({"state_dict": load_file(tiny_checkpoint), "global_step": 470000}, checkpoint)
    from_folder = load_model(ModelSettings(base="builtin:tiny"), tmp_path)
    from_file = load_model(ModelSettings(base=str(checkpoint), tokenizer=str(tiny_model_dir / "tokenizer")), tmp_path)
    for part in ("unet", "vae", "text_encoder"):
        expected = getattr(from_folder.pipeline, part).state_dict()
        loaded = getattr(from_file.pipeline, part).state_dict()
        assert expected.keys() == loaded.keys()
        assert all(torch.equal(expected[key], loaded[key]) for key in expected), part
    assert from_file.family == ModelFamily("sd1", False, "epsilon")
    assert from_file.name == "tiny"
    assert from_file.short_hash == hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10]
    prompt_ids = from_file.tokenizer("a photo of a robot", return_tensors="pt").input_ids
    assert torch.equal(from_file.text_encoder(prompt_ids)[0], from_folder.text_encoder(prompt_ids)[0])


def test_single_file_finds_the_family_tokenizer_in_the_local_hub_cache(tiny_model_dir, tiny_checkpoint, tmp_path, hub_cache, no_network):
    hub_cache(
        "openai/clip-vit-large-patch14",
        {name: (tiny_model_dir / "tokenizer" / name).read_bytes() for name in ("vocab.json", "merges.txt")},
    )
    loaded = load_model(ModelSettings(base=str(tiny_checkpoint)), tmp_path)
    assert loaded.tokenizer.tokenize("a photo of a woman")[-1] == "woman</w>"


def test_a_missing_tokenizer_names_the_files_and_where_they_go(tiny_checkpoint, tmp_path, hub_cache):
    with pytest.raises(UserError) as caught:
        load_model(ModelSettings(base=str(tiny_checkpoint)), tmp_path)
    message = str(caught.value)
    assert "vocab.json and merges.txt of openai/clip-vit-large-patch14" in message
    assert "Fetch it once while online" in message and caught.value.fix == Fix("fetch")
    assert "set model.tokenizer to that folder" in message


def test_fetching_the_tokenizer_is_refused_offline_and_asks_for_the_right_files(monkeypatch, tmp_path):
    repository = TokenizerRepository("stabilityai/stable-diffusion-2-1", "tokenizer")
    with pytest.raises(UserError, match="HF_HUB_OFFLINE is set"):
        fetch_tokenizer(repository)

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    asked = []

    def pretend_download(repo, filename, subfolder=None):
        asked.append((repo, subfolder, filename))
        (tmp_path / filename).write_text("{}")
        return str(tmp_path / filename)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", pretend_download)
    assert fetch_tokenizer(repository) == tmp_path
    assert ("stabilityai/stable-diffusion-2-1", "tokenizer", "vocab.json") in asked
    assert ("stabilityai/stable-diffusion-2-1", "tokenizer", "merges.txt") in asked


def test_a_hub_model_that_is_not_cached_says_how_to_download_it(tmp_path, hub_cache, no_network):
    with pytest.raises(UserError, match="fetch it once while online") as caught:
        load_model(ModelSettings(base="org/some-model"), tmp_path)
    assert caught.value.fix == Fix("fetch")


def test_configs_read_from_the_tensors_match_the_model_that_was_written(tiny_model_dir, tiny_checkpoint):
    shapes, _ = read_safetensors_header(tiny_checkpoint)
    family = family_from_shapes(shapes, "tiny")
    template = family_config(family.name)
    written = {part: json.loads((tiny_model_dir / part / "config.json").read_text()) for part in ("unet", "vae", "text_encoder")}
    inferred = {
        "unet": unet_config(shapes, template["unet"]),
        "vae": vae_config(shapes, template["vae"]),
        "text_encoder": text_encoder_config(shapes, template["text_encoder"], family),
    }
    for part, keys in {
        "unet": ("block_out_channels", "layers_per_block", "down_block_types", "up_block_types", "cross_attention_dim", "in_channels"),
        "vae": ("block_out_channels", "layers_per_block", "latent_channels"),
        "text_encoder": ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"),
    }.items():
        for key in keys:
            assert inferred[part][key] == written[part][key], (part, key)


def sd2_like_shapes() -> dict[str, tuple[int, ...]]:
    """The header of an SD 2.x checkpoint, reduced to the entries the family and configs are read from."""
    unet = "model.diffusion_model."
    clip = "cond_stage_model.model."
    shapes = {
        unet + "input_blocks.0.0.weight": (320, 4, 3, 3),
        unet + "out.2.weight": (4, 320, 3, 3),
        unet + "input_blocks.1.1.proj_in.weight": (320, 320),
        unet + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
        clip + "token_embedding.weight": (49408, 1024),
        clip + "positional_embedding": (77, 1024),
        clip + "transformer.resblocks.0.mlp.c_fc.weight": (4096, 1024),
        "first_stage_model.post_quant_conv.weight": (4, 4, 1, 1),
    }
    for index in range(24):
        shapes[f"{clip}transformer.resblocks.{index}.ln_1.weight"] = (1024,)
    widths = [320, 640, 1280, 1280]
    block = 1
    for level, width in enumerate(widths):
        for _ in range(2):
            shapes[f"{unet}input_blocks.{block}.0.out_layers.3.weight"] = (width, width, 3, 3)
            if level < 3:
                shapes[f"{unet}input_blocks.{block}.1.proj_in.weight"] = (width, width)
            block += 1
        if level < 3:
            shapes[f"{unet}input_blocks.{block}.0.op.weight"] = (width, width, 3, 3)
            block += 1
    return shapes


def test_sd2_checkpoints_are_recognised_and_get_sd2_configs():
    shapes = sd2_like_shapes()
    family = family_from_shapes(shapes, "v2-1_768.safetensors")
    assert family == ModelFamily("sd2")
    template = family_config(family.name)
    unet = unet_config(shapes, template["unet"])
    assert unet["block_out_channels"] == [320, 640, 1280, 1280]
    assert unet["layers_per_block"] == 2
    assert unet["use_linear_projection"] is True
    assert unet["attention_head_dim"] == [5, 10, 20, 20]
    assert unet["down_block_types"][-1] == "DownBlock2D"
    text = text_encoder_config(shapes, template["text_encoder"], family)
    assert (text["hidden_size"], text["num_hidden_layers"], text["num_attention_heads"]) == (1024, 23, 16)
    assert (family_from_shapes({**shapes, "model.diffusion_model.input_blocks.0.0.weight": (320, 9, 3, 3)}, "x")).inpainting


@pytest.mark.parametrize(
    ("shapes", "error", "message"),
    [
        (
            {"conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight": (77, 768)},
            NotTrainableError,
            "model.safetensors is an SDXL model. ti-tui trains embeddings for SD 1.x and 2.x models; SDXL is not trainable yet.",
        ),
        (
            {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": (4, 320)},
            UserError,
            "model.safetensors is a LoRA, not a Stable Diffusion model checkpoint",
        ),
        (
            {"encoder.conv_in.weight": (128, 3, 3, 3), "decoder.conv_out.weight": (3, 128, 3, 3)},
            UserError,
            "model.safetensors is a VAE, not a Stable Diffusion model checkpoint",
        ),
        ({"emb_params": (2, 768)}, UserError, "model.safetensors is an embedding, not a Stable Diffusion model checkpoint"),
        ({"model.diffusion_model.input_blocks.0.0.weight": (320, 8, 3, 3)}, NotTrainableError, "8 input channels"),
    ],
)
def test_files_that_are_not_trainable_models_are_named_for_what_they_are(shapes, error, message):
    with pytest.raises(error) as caught:
        family_from_shapes(shapes, "model.safetensors")
    assert message in str(caught.value)


def test_an_sdxl_file_offered_as_the_base_model_is_refused_in_one_sentence(tmp_path):
    path = tmp_path / "sdxl.safetensors"
    save_file({"conditioner.embedders.1.model.positional_embedding": torch.zeros(2, 4)}, path)
    with pytest.raises(NotTrainableError, match="SDXL is not trainable yet"):
        load_model(ModelSettings(base=str(path)), tmp_path)


def test_an_inpainting_model_is_refused_with_what_to_train_on_instead(tmp_path, tiny_model_dir, tiny_variant):
    from diffusers import UNet2DConditionModel

    config = json.loads((tiny_model_dir / "unet" / "config.json").read_text())
    UNet2DConditionModel.from_config({**config, "in_channels": 9}).save_pretrained(tmp_path / "inpainting-unet")
    folder = tiny_variant(replace={"unet": tmp_path / "inpainting-unet"})
    with pytest.raises(NotTrainableError, match="train on the text-to-image model it was made from"):
        load_model(ModelSettings(base=str(folder)), tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty or cut short"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!", "is not a safetensors file, or is damaged"),
        (bytes(range(256)) * 8, "is not a safetensors file, or is damaged"),
    ],
)
def test_damaged_model_files_are_explained(tmp_path, content, message):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_model(ModelSettings(base=str(path)), tmp_path)


def test_a_truncated_model_file_is_called_incomplete(tmp_path, tiny_checkpoint):
    path = tmp_path / "cut.safetensors"
    path.write_bytes(tiny_checkpoint.read_bytes()[:100_000])
    with pytest.raises(UserError, match="is incomplete: its header promises"):
        load_model(ModelSettings(base=str(path)), tmp_path)


class RunsCode:
    def __reduce__(self):
        return (os.mkdir, ("/tmp/ti-tui-test-pickle-ran",))


def test_a_ckpt_that_would_run_code_is_refused_and_the_code_never_runs(tmp_path):
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"weight": torch.zeros(1)}, "callback": RunsCode()}, path)
    with pytest.raises(UserError, match="contains code that would run when it is loaded"):
        load_model(ModelSettings(base=str(path)), tmp_path)
    assert not os.path.exists("/tmp/ti-tui-test-pickle-ran")


@pytest.mark.parametrize(
    ("metadata", "shapes", "step", "expected"),
    [
        ({"modelspec.prediction_type": "v"}, {}, None, "v_prediction"),
        ({"modelspec.prediction_type": "epsilon"}, {}, None, "epsilon"),
        ({"ss_v_parameterization": "True"}, {}, None, "v_prediction"),
        ({}, {"v_pred": ()}, None, "v_prediction"),
        ({}, {}, 875000, "epsilon"),
        ({}, {}, None, None),
    ],
)
def test_sd2_prediction_type_from_what_the_file_says(metadata, shapes, step, expected):
    assert prediction_from_file(ModelFamily("sd2"), metadata, shapes, step) == expected
    assert prediction_from_file(ModelFamily("sd1"), {}, {}, None) == "epsilon"


class FakeUNet(torch.nn.Module):
    """Stands in for a UNet at the noisiest step: one that returns the noise, or one that returns an image."""

    def __init__(self, predicts_noise: bool):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.predicts_noise = predicts_noise
        self.config = type("Config", (), {"in_channels": 4, "cross_attention_dim": 1024})()

    def forward(self, sample, timestep, encoder_hidden_states):
        # At the noisiest step velocity is 0.068 x noise - 0.998 x the clean image the model imagines.
        imagined = torch.linspace(-1, 1, sample.numel()).reshape(sample.shape).cos()
        output = sample if self.predicts_noise else 0.068 * sample - 0.998 * imagined
        return type("Output", (), {"sample": output})()


def test_running_the_unet_tells_noise_prediction_from_velocity_prediction():
    assert looks_like_epsilon_prediction(FakeUNet(predicts_noise=True))
    assert not looks_like_epsilon_prediction(FakeUNet(predicts_noise=False))


def test_the_short_hash_is_the_web_uis_and_is_remembered(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"weights" * 1000)
    assert model_short_hash(path) == hashlib.sha256(path.read_bytes()).hexdigest()[:10]

    def must_not_hash(*arguments):
        raise AssertionError("the file was hashed again")

    with monkeypatch.context() as patched:
        patched.setattr(hashlib, "sha256", must_not_hash)
        model_short_hash(path)
    path.write_bytes(b"other weights")
    assert model_short_hash(path) == hashlib.sha256(b"other weights").hexdigest()[:10]


def test_precision_follows_the_device(monkeypatch):
    import ti_tui.sd.device as device

    cpu, gpu, apple = torch.device("cpu"), torch.device("cuda:0"), torch.device("mps")
    assert device.choose_dtype("fp16", cpu) == torch.float16
    assert device.choose_dtype("fp32", gpu) == torch.float32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert device.choose_dtype("auto", gpu) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert device.choose_dtype("auto", gpu) == torch.float16  # older GPUs
    assert device.choose_dtype("auto", apple) == torch.float16
    monkeypatch.setenv("TI_TUI_CPU_BF16", "native")  # as on a CPU with AVX-512 BF16 or AMX
    assert device.choose_dtype("auto", cpu) == torch.bfloat16
    monkeypatch.setenv("TI_TUI_CPU_BF16", "emulated")  # as on an AVX2-only CPU
    assert device.choose_dtype("auto", cpu) == torch.float32  # emulated bf16 is slower than fp32
    monkeypatch.setenv("TI_TUI_CPU_BF16", "maybe")
    with pytest.raises(UserError, match="TI_TUI_CPU_BF16='maybe' is not understood: set it to native or emulated"):
        device.choose_dtype("auto", cpu)


def test_a_device_the_machine_lacks_is_refused():
    from ti_tui.sd.device import choose_device

    assert choose_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="model.device is 'cuda:3', but this machine has only: cpu"):
            choose_device("cuda:3")


def test_a_model_in_bf16_loads_straight_into_bf16(tmp_path):
    loaded = load_model(ModelSettings(base="builtin:tiny", precision="bf16"), tmp_path)
    assert {parameter.dtype for parameter in loaded.pipeline.unet.parameters()} == {torch.bfloat16}
    assert not any(parameter.requires_grad for parameter in loaded.text_encoder.parameters())


@pytest.mark.precision
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_an_sd2_checkpoint_loads_with_its_openclip_text_encoder_and_velocity_prediction(tmp_path, tiny_model_dir, precision):
    from sd2_checkpoint import build_parts, write_sd2_checkpoint

    tokenizer = load_tokenizer(tiny_model_dir / "tokenizer")
    unet, vae, text_encoder = build_parts(len(tokenizer), tokenizer.eos_token_id)
    path = tmp_path / "v2-tiny.safetensors"
    write_sd2_checkpoint(path, unet, vae, text_encoder)

    settings = ModelSettings(base=str(path), tokenizer=str(tiny_model_dir / "tokenizer"), precision=precision)
    loaded = load_model(settings, tmp_path)
    assert loaded.family == ModelFamily("sd2", False, "v_prediction")
    assert loaded.pipeline.scheduler.config.prediction_type == "v_prediction"
    assert loaded.pipeline.unet.config.sample_size == 96  # velocity models are the 768 px ones
    assert loaded.tokenizer.pad_token == "!"  # OpenCLIP pads with zeros
    # Compared in the dtype they were loaded in: rounding fp32 to bf16 is exact and the same every time.
    dtype = loaded.pipeline.unet.dtype
    assert dtype == {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    expected = unet.state_dict()
    assert all(torch.equal(expected[key].to(dtype), value) for key, value in loaded.pipeline.unet.state_dict().items())
    ids = tokenizer("a photo of a robot", padding="max_length", return_tensors="pt").input_ids
    with torch.no_grad():
        # The file's extra last layer is skipped, as SD 2.x conditions on the one before it.
        assert torch.equal(loaded.text_encoder(ids)[0], text_encoder.to(dtype)(ids)[0])


def test_a_diffusers_folder_without_a_tokenizer_is_refused_with_what_to_do(tmp_path, tiny_variant):
    folder = tiny_variant(leave_out=("tokenizer",))
    with pytest.raises(UserError, match="has no tokenizer/ folder: copy one in from the same model"):
        load_model(ModelSettings(base=str(folder)), tmp_path)


def test_a_tokenizer_from_another_model_is_refused(tmp_path, tiny_model_dir, tiny_variant):
    tokenizer = load_tokenizer(tiny_model_dir / "tokenizer")
    tokenizer.add_tokens(["extra1", "extra2"])
    tokenizer.save_pretrained(tmp_path / "bigger")
    folder = tiny_variant(replace={"tokenizer": tmp_path / "bigger"})
    with pytest.raises(UserError, match="they belong to different models"):
        load_model(ModelSettings(base=str(folder)), tmp_path)


def test_odd_checkpoints_get_a_sentence_not_a_traceback(tmp_path, tiny_checkpoint, tiny_model_dir):
    unet_only = tmp_path / "unet-only.safetensors"
    weights = load_file(tiny_checkpoint)
    save_file({key: value for key, value in weights.items() if not key.startswith("first_stage_model.")}, unet_only)
    with pytest.raises(UserError, match="holds a UNet but no VAE"):
        load_model(ModelSettings(base=str(unet_only)), tmp_path)

    listed = tmp_path / "list.ckpt"
    torch.save({"state_dict": [1, 2]}, listed)
    with pytest.raises(UserError, match="holds no named weights"):
        load_model(ModelSettings(base=str(listed)), tmp_path)

    broken_vocabulary = tmp_path / "tokenizer"
    broken_vocabulary.mkdir()
    (broken_vocabulary / "vocab.json").write_text("not json")
    (broken_vocabulary / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(UserError, match="cannot be loaded"):
        load_model(ModelSettings(base=str(tiny_checkpoint), tokenizer=str(broken_vocabulary)), tmp_path)


def test_a_checkpoint_saved_with_numpy_numbers_in_it_loads(tmp_path, tiny_checkpoint, tiny_model_dir):
    import numpy

    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": load_file(tiny_checkpoint), "best_score": numpy.float64(0.5), "epoch": 3}, path)
    loaded = load_model(ModelSettings(base=str(path), tokenizer=str(tiny_model_dir / "tokenizer")), tmp_path)
    assert loaded.family.name == "sd1"
