"""Reading model weights straight into the precision they will be used in.

Libraries load a file's tensors whole and cast them afterwards, so a float32 checkpoint trained in
bf16 is held twice over for a moment: the float32 tensors and the bf16 model. Here each tensor is
read with a plain read (not a memory map, whose pages would count as the process's own), cast at
once, and its stored bytes let go: the peak is the weights in their own precision plus one tensor.
"""

import math
from collections.abc import Callable
from pathlib import Path

from ti_tui.errors import UserError
from ti_tui.sd.family import read_safetensors_layout
from ti_tui.torch_files import load_plain_torch_file

_READ_CHUNK = 2**30  # a single read() of more than ~2 GiB returns less on Linux


def read_weights(path: Path, dtype, wanted: Callable[[str], bool] = lambda key: True) -> dict:
    """The tensors of a `.safetensors`, `.ckpt`, `.pt` or `.bin` file whose names are `wanted`;
    floating-point ones in `dtype`, others as stored."""
    if path.suffix.lower() == ".safetensors":
        return _read_safetensors(path, dtype, wanted)
    content = load_plain_torch_file(path, "a model checkpoint")
    while isinstance(content, dict) and isinstance(content.get("state_dict"), dict):
        content = content["state_dict"]
    if not isinstance(content, dict):
        raise UserError(f"{path} holds no named weights, so it is not a model checkpoint")
    weights = {}
    for key in list(content):
        value = content.pop(key)  # the stored tensor goes as soon as it is cast (pickles are memory-mapped, not read)
        if wanted(str(key)) and hasattr(value, "is_floating_point"):
            weights[str(key)] = value.to(dtype) if value.is_floating_point() else value
    return weights


def _read_safetensors(path: Path, dtype, wanted: Callable[[str], bool]) -> dict:
    import torch

    stored_dtypes = {
        "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
        "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
    }  # fmt: skip
    layout = read_safetensors_layout(path)
    chosen = {key: tensor for key, tensor in layout.tensors.items() if wanted(key)}
    for key, tensor in chosen.items():
        if tensor.dtype not in stored_dtypes:
            raise UserError(f"{path}: {key} is stored as {tensor.dtype}, which ti-tui cannot read")
        if tensor.end - tensor.begin != math.prod(tensor.shape) * stored_dtypes[tensor.dtype].itemsize:
            raise UserError(f"{path} is damaged: the header gives {key} a size that does not fit its shape")
    # One buffer for the stored bytes of every tensor in turn: thousands of freed read buffers
    # would stay in the allocator's heap and count as the process's memory.
    buffer = torch.empty(max((tensor.end - tensor.begin for tensor in chosen.values()), default=0), dtype=torch.uint8)
    weights = {}
    with open(path, "rb", buffering=0) as handle:
        for key, tensor in chosen.items():
            raw = buffer[: tensor.end - tensor.begin]
            _read_into(handle, layout.data_start + tensor.begin, raw.numpy(), path)
            value = raw.view(stored_dtypes[tensor.dtype]).reshape(tensor.shape)
            weights[key] = value.to(dtype, copy=True) if value.is_floating_point() else value.clone()
    return weights


def _read_into(handle, offset: int, buffer, path: Path) -> None:
    view = memoryview(buffer).cast("B")
    handle.seek(offset)
    done = 0
    while done < len(view):
        count = handle.readinto(view[done : done + _READ_CHUNK])
        if not count:
            raise UserError(f"{path} ends early: it was cut short (an interrupted download or copy?); fetch it again")
        done += count
