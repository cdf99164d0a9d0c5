"""Weights read straight into the precision they are used in: the same model as the libraries load, in less memory."""

import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from ti_tui.errors import UserError
from ti_tui.sd.loading import load_model
from ti_tui.sd.weights import read_weights
from ti_tui.settings import ModelSettings


@pytest.mark.precision
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_diffusers_folder_loads_exactly_as_diffusers_loads_it(tiny_model_dir, tmp_path, precision):
    from diffusers import StableDiffusionPipeline

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    ours = load_model(ModelSettings(base=str(tiny_model_dir), precision=precision), tmp_path).pipeline
    theirs = StableDiffusionPipeline.from_pretrained(tiny_model_dir, dtype=dtype, safety_checker=None, local_files_only=True)
    for part in ("unet", "vae", "text_encoder"):
        mine, expected = getattr(ours, part).state_dict(), getattr(theirs, part).state_dict()
        assert mine.keys() == expected.keys(), part
        assert all(mine[key].dtype == expected[key].dtype and torch.equal(mine[key], expected[key]) for key in mine), part
    assert type(ours.scheduler) is type(theirs.scheduler) and ours.scheduler.config == theirs.scheduler.config
    latents = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(0)).to(dtype)
    ids = ours.tokenizer(["a photo of a robot"], padding="max_length", return_tensors="pt").input_ids
    with torch.no_grad():
        context = ours.text_encoder(ids)[0]
        assert torch.equal(context, theirs.text_encoder(ids)[0])
        assert torch.equal(ours.unet(latents, 10, context).sample, theirs.unet(latents, 10, context).sample)


# The peak is read from VmHWM, the high-water mark of this process's own memory: ru_maxrss would
# also count the parent's, which the child started out as.
MEASURE_READ = """
import sys
import psutil, torch
from pathlib import Path
from ti_tui.sd.weights import read_weights
before = psutil.Process().memory_info().rss
weights = read_weights(Path(sys.argv[1]), torch.bfloat16)
assert all(value.dtype == torch.bfloat16 for value in weights.values())
peak_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(peak_kib * 1024 - before)
"""


def test_a_float32_file_read_into_bf16_never_holds_its_float32_tensors_all_at_once(tmp_path):
    tensors = {f"block.{index}.weight": torch.full((1024, 1024), float(index)) for index in range(64)}  # 256 MiB in fp32
    save_file(tensors, tmp_path / "big.safetensors")
    del tensors
    result = subprocess.run([sys.executable, "-c", MEASURE_READ, str(tmp_path / "big.safetensors")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    grown_mib = int(result.stdout) / 2**20
    # The bf16 tensors are 128 MiB; reading the whole file first, as libraries do, would add its 256.
    assert grown_mib < 128 + 48, f"the process grew by {grown_mib:.0f} MiB"


def test_every_stored_dtype_is_read_as_it_was_saved_and_floats_cast(tmp_path):
    stored = {
        "half": torch.randn(3, 5).half(),
        "brain": torch.randn(7).bfloat16(),
        "full": torch.randn(2, 2, 2),
        "count": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "flag": torch.tensor([True, False]),
        "scalar": torch.tensor(1.5),
    }
    save_file(stored, tmp_path / "mixed.safetensors")
    torch.save({"state_dict": stored}, tmp_path / "mixed.ckpt")
    for name in ("mixed.safetensors", "mixed.ckpt"):
        read = read_weights(tmp_path / name, torch.float32, wanted=lambda key: key != "flag")
        assert set(read) == set(stored) - {"flag"}
        for key, value in read.items():
            expected = stored[key].float() if stored[key].is_floating_point() else stored[key]
            assert value.dtype == expected.dtype and torch.equal(value, expected), (name, key)


def test_a_header_that_does_not_fit_its_shapes_is_called_damaged(tmp_path):
    path = tmp_path / "odd.safetensors"
    save_file({"weight": torch.zeros(4, 4)}, path)
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"shape":[4,4]', b'"shape":[4,2]'))
    with pytest.raises(UserError, match=r"odd.safetensors is damaged: the header gives weight a size that does not fit its shape"):
        read_weights(path, torch.float32)


def test_a_folder_whose_weights_belong_to_another_model_is_refused_in_words(tiny_model_dir, tiny_variant, tmp_path):
    unet = tmp_path / "other-unet"
    shutil.copytree(tiny_model_dir / "unet", unet)
    folder = tiny_variant(replace={"unet": unet})
    weights = load_file(unet / "diffusion_pytorch_model.safetensors")
    weights["conv_in.weight"] = torch.zeros(7, 4, 3, 3)
    save_file(weights, unet / "diffusion_pytorch_model.safetensors")
    with pytest.raises(UserError, match=r"variant/unet's weights do not fit its config.json \(size mismatch for conv_in.weight"):
        load_model(ModelSettings(base=str(folder)), tmp_path)

    del weights["conv_in.weight"], weights["conv_in.bias"]
    save_file(weights, unet / "diffusion_pytorch_model.safetensors")
    with pytest.raises(UserError, match=r"variant/unet lacks 2 of the weights its config.json calls for \(such as conv_in\."):
        load_model(ModelSettings(base=str(folder)), tmp_path)
