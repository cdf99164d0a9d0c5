"""Embedding files: every layout round-trips, loads in diffusers exactly as we apply it, and bad files are explained."""

import io
import os
import pickletools
import random
import zipfile

import pytest
import torch
from safetensors.torch import save_file

from ti_tui.embedding.files import (
    Embedding,
    check_fits,
    export_embedding,
    read_embedding,
    write_embedding,
)
from ti_tui.errors import UserError
from ti_tui.sd.loading import load_model
from ti_tui.sd.placeholder import PromptEncoder
from ti_tui.settings import ModelSettings

LAYOUTS = {"safetensors": ".safetensors", "pt": ".pt", "diffusers": ".bin"}
PROMPT = "a photo of zorbot on a sandy beach, zorbot waving"


def make_embedding(vectors: int = 3, width: int = 768) -> Embedding:
    values = torch.randn((vectors, width), generator=torch.Generator().manual_seed(vectors)) * 0.4
    return Embedding(values, trigger="zorbot", step=300, init_text="robot", base_model="builtin:tiny", base_model_hash="22f5f28244")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir, tmp_path_factory):
    return lambda: load_model(ModelSettings(base="builtin:tiny", device="cpu"), tmp_path_factory.getbasetemp())


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("vectors", [1, 3])
def test_write_then_read_gives_the_same_tensor_and_facts(tmp_path, layout, vectors):
    embedding = make_embedding(vectors)
    path = tmp_path / f"zorbot{LAYOUTS[layout]}"
    write_embedding(embedding, path, layout)
    read = read_embedding(path)
    assert read.layout == layout
    assert torch.equal(read.embedding.vectors, embedding.vectors)
    assert read.embedding.trigger == "zorbot"
    if layout != "diffusers":  # that layout has room for the tensor only
        assert read.embedding.step == 300
        assert (read.embedding.base_model, read.embedding.base_model_hash) == ("builtin:tiny", "22f5f28244")


def test_the_safetensors_file_holds_exactly_one_float32_tensor_named_emb_params(tmp_path):
    from safetensors import safe_open

    path = tmp_path / "zorbot.safetensors"
    write_embedding(make_embedding(2), path, "safetensors")
    with safe_open(path, framework="pt") as handle:
        assert list(handle.keys()) == ["emb_params"]
        tensor = handle.get_tensor("emb_params")
        metadata = handle.metadata()
    assert tensor.dtype == torch.float32 and tuple(tensor.shape) == (2, 768)
    assert metadata["trigger"] == "zorbot" and metadata["vectors"] == "2" and metadata["init_text"] == "robot"
    assert metadata["base_model_hash"] == "22f5f28244" and metadata["tool"].startswith("ti-tui ")


def test_the_classic_pt_file_has_the_web_ui_keys_and_only_plain_types(tmp_path):
    path = tmp_path / "zorbot.pt"
    write_embedding(make_embedding(2), path, "pt")
    content = torch.load(path, weights_only=True)
    assert set(content) == {"string_to_token", "string_to_param", "name", "step", "sd_checkpoint", "sd_checkpoint_name"}
    tensor = content["string_to_param"]["*"]
    assert type(tensor) is torch.Tensor and not tensor.requires_grad and tensor.device.type == "cpu"
    assert type(content) is dict
    # The web UI's safe loader checks zip entry names, and rejects those newer PyTorch adds;
    # the single-stream format has none, and its pickle names only tensor-rebuilding globals.
    assert not zipfile.is_zipfile(path)
    assert referenced_globals(path.read_bytes()) <= {
        "collections OrderedDict",
        "torch._utils _rebuild_tensor_v2",
        "torch FloatStorage",
    }


def referenced_globals(data: bytes) -> set[str]:
    stream = io.BytesIO(data)
    found = set()
    for _ in range(3):  # the magic number, the protocol and system info, then the object itself
        strings = []
        for opcode, argument, _ in pickletools.genops(stream):
            if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                strings.append(argument)
            if opcode.name == "GLOBAL":
                found.add(argument)
            if opcode.name == "STACK_GLOBAL":
                found.add(" ".join(strings[-2:]))
    return found


def test_a_single_vector_in_diffusers_layout_is_stored_one_dimensional(tmp_path):
    path = tmp_path / "zorbot.bin"
    write_embedding(make_embedding(1), path, "diffusers")
    assert torch.load(path, weights_only=True)["zorbot"].shape == (768,)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_diffusers_loads_our_files_and_encodes_exactly_like_our_substitution(tiny, tmp_path, layout):
    embedding = make_embedding(3)
    path = tmp_path / f"zorbot{LAYOUTS[layout]}"
    write_embedding(embedding, path, layout)

    theirs = tiny().pipeline
    theirs.load_textual_inversion(str(path), token="zorbot")
    their_prompt = theirs.maybe_convert_prompt(PROMPT, theirs.tokenizer)
    assert their_prompt.count("zorbot_2") == 2  # diffusers wrote out both uses, three tokens each
    their_ids = theirs.tokenizer(their_prompt, padding="max_length", max_length=77, return_tensors="pt").input_ids

    ours = PromptEncoder(*_parts(tiny()))
    ours.add("zorbot", read_embedding(path).embedding.vectors)
    with torch.no_grad():
        difference = (theirs.text_encoder(their_ids)[0] - ours.encode([PROMPT])).abs().max().item()
    assert difference <= 1e-6


def _parts(model):
    return model.tokenizer, model.text_encoder


def test_a_trigger_is_found_as_a_word_whatever_its_case_or_punctuation(tiny):
    encoder = PromptEncoder(*_parts(tiny()))
    entry = encoder.add("zorbot", make_embedding(3).vectors)
    placeholders = set(entry.placeholders)

    def uses(prompt):
        return sum(token in placeholders for token in encoder.token_ids(prompt))

    assert uses("a photo of Zorbot, waving") == 3
    assert uses("zorbot and ZORBOT") == 6
    assert uses("zorbot-style poster") == 3
    assert uses("zorbots") == 0  # another word, as in the web UI
    assert uses("a robot") == 0


def test_several_triggers_share_one_encoder_and_can_be_replaced_or_removed(tiny):
    model = tiny()
    tokenizer, text_encoder = _parts(model)
    ids = torch.tensor([tokenizer("a photo of a robot", padding="max_length", max_length=77).input_ids])
    with torch.no_grad():
        plain = text_encoder(ids)[0]
    encoder = PromptEncoder(tokenizer, text_encoder)
    first, second = make_embedding(3).vectors, make_embedding(2).vectors
    encoder.add("zorbot", first)
    encoder.add("blorp", second)
    with torch.no_grad():
        both = encoder.encode(["zorbot meets blorp"])
        encoder.add("zorbot", first * 2)  # a later checkpoint of the same trigger
        replaced = encoder.encode(["zorbot meets blorp"])
        assert torch.equal(encoder.encode(["a photo of a robot"]), plain)  # prompts without triggers are untouched
    assert not torch.equal(both, replaced)
    ids_with_triggers = encoder.token_ids("zorbot meets blorp")
    for trigger, count in (("zorbot", 3), ("blorp", 2)):
        run = encoder.triggers[trigger].placeholders
        assert len(run) == count
        starts = [index for index in range(len(ids_with_triggers)) if ids_with_triggers[index : index + count] == run]
        assert len(starts) == 1, trigger
    encoder.remove()
    with torch.no_grad():
        assert torch.equal(text_encoder(ids)[0], plain)


def test_substitution_trains_only_the_vectors_and_leaves_the_token_table_alone(tiny):
    model = tiny()
    table_before = model.text_encoder.get_input_embeddings().weight.clone()
    vectors = torch.nn.Parameter(make_embedding(2).vectors)
    encoder = PromptEncoder(*_parts(model))
    encoder.add("zorbot", vectors)
    encoder.encode(["a photo of zorbot"]).pow(2).mean().backward()
    assert vectors.grad is not None and vectors.grad.abs().sum() > 0
    assert model.text_encoder.get_input_embeddings().weight.grad is None
    assert torch.equal(model.text_encoder.get_input_embeddings().weight, table_before)


def test_the_vectors_steer_what_the_pipeline_draws(tiny):
    model = tiny()
    encoder = PromptEncoder(*_parts(model))

    def draw(vectors, strength=1.0):
        encoder.add("zorbot", vectors, strength)
        with torch.no_grad():
            embeddings = encoder.encode(["a photo of zorbot"])
        return torch.tensor(
            model.pipeline(
                prompt_embeds=embeddings,
                negative_prompt_embeds=encoder.encode([""]),
                num_inference_steps=2,
                height=64,
                width=64,
                output_type="np",
                generator=torch.Generator().manual_seed(0),
            ).images
        )

    vectors = make_embedding(3).vectors
    first = draw(vectors)
    assert first.shape == (1, 64, 64, 3)
    assert torch.equal(first, draw(vectors))
    assert not torch.equal(first, draw(vectors * 3))
    assert not torch.equal(first, draw(vectors, strength=0.5))


def test_exports_are_named_after_the_trigger_and_never_overwrite_silently(tmp_path):
    embedding = make_embedding(2)
    paths = export_embedding(embedding, tmp_path / "exports", ["safetensors", "pt", "diffusers"])
    assert [path.name for path in paths] == ["zorbot.safetensors", "zorbot.pt", "zorbot.bin"]
    before = paths[0].read_bytes()
    with pytest.raises(UserError, match="already exist"):
        export_embedding(make_embedding(3), tmp_path / "exports", ["safetensors"])
    assert paths[0].read_bytes() == before
    export_embedding(make_embedding(3), tmp_path / "exports", ["safetensors"], overwrite=True)
    assert read_embedding(paths[0]).embedding.vector_count == 3


def test_one_dimensional_and_foreign_layouts_are_read(tmp_path):
    save_file({"emb_params": torch.ones(768)}, tmp_path / "flat.safetensors")
    assert read_embedding(tmp_path / "flat.safetensors").embedding.vectors.shape == (1, 768)
    torch.save({"string_to_param": {"*": torch.ones(2, 1024)}, "name": "other"}, tmp_path / "sd2.pt")
    read = read_embedding(tmp_path / "sd2.pt")
    assert (read.embedding.trigger, read.embedding.family_label) == ("other", "SD 2.x")
    save_file({"clip_l": torch.ones(2, 768), "clip_g": torch.ones(2, 1280)}, tmp_path / "xl.safetensors")
    assert read_embedding(tmp_path / "xl.safetensors").embedding.family_label == "SDXL"


class RunsCode:
    def __reduce__(self):
        return (os.mkdir, ("/tmp/ti-tui-embedding-pickle-ran",))


def bad_file(tmp_path, kind: str):
    """A file made to be wrong in one way, and the sentence it must get."""
    good = tmp_path / "good.safetensors"
    write_embedding(make_embedding(2), good, "safetensors")
    if kind == "truncated":
        path = tmp_path / "cut.safetensors"
        path.write_bytes(good.read_bytes()[:-100])
        return path, "is incomplete: its header promises"
    if kind == "random bytes":
        path = tmp_path / "noise.safetensors"
        path.write_bytes(random.Random(kind).randbytes(4096))
        return path, "is not a safetensors file, or is damaged"
    if kind == "random pt":
        path = tmp_path / "noise.pt"
        path.write_bytes(random.Random(kind).randbytes(4096))
        return path, "is not a PyTorch file, or it is damaged"
    if kind == "lora":
        path = tmp_path / "style_lora.safetensors"
        save_file(
            {
                "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": torch.zeros(4, 768),
                "lora_te_text_model_encoder_layers_0_mlp_fc1.alpha": torch.tensor(4.0),
            },
            path,
        )
        return path, "is a LoRA, not an embedding"
    if kind == "code":
        path = tmp_path / "sneaky.pt"
        torch.save({"string_to_param": {"*": torch.zeros(1, 768)}, "payload": RunsCode()}, path)
        return path, "was refused: it contains code that would run when it is loaded"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["truncated", "random bytes", "random pt", "lora", "code"])
def test_bad_files_get_one_clear_sentence(tmp_path, kind):
    path, expected = bad_file(tmp_path, kind)
    with pytest.raises(UserError) as caught:
        read_embedding(path)
    message = str(caught.value)
    assert expected in message and str(path) in message
    assert "\n" not in message
    assert not os.path.exists("/tmp/ti-tui-embedding-pickle-ran")


def test_an_sdxl_embedding_offered_to_an_sd1_model_is_refused(tmp_path):
    save_file({"clip_l": torch.ones(2, 768), "clip_g": torch.ones(2, 1280)}, tmp_path / "xl.safetensors")
    with pytest.raises(
        UserError, match=r"xl.safetensors is an SDXL embedding \(clip_l \+ clip_g\); it cannot be used with an SD 1.x model"
    ):
        check_fits(read_embedding(tmp_path / "xl.safetensors"), "SD 1.x", 768)


def test_a_width_mismatch_names_both_families(tmp_path):
    path = tmp_path / "sd2.safetensors"
    write_embedding(make_embedding(2, width=1024), path, "safetensors")
    with pytest.raises(UserError, match=r"has vectors of width 1024 \(SD 2.x\), but this SD 1.x model needs width 768"):
        check_fits(read_embedding(path), "SD 1.x", 768)
    check_fits(read_embedding(path), "SD 2.x", 1024)


def test_a_pickled_model_named_like_an_embedding_is_recognised(tmp_path):
    path = tmp_path / "model.bin"
    torch.save({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1), "other": torch.zeros(1)}, path)
    with pytest.raises(UserError, match="is a Stable Diffusion model checkpoint, not an embedding"):
        read_embedding(path)
