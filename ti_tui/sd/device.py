"""What the machine can compute on. Imports torch, so call it from commands and workers only."""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ComputeDevice:
    name: str  # "cuda:0", "mps", "cpu"
    description: str  # in words, for people
    total_memory: int | None = None  # bytes
    free_memory: int | None = None
    supports_bf16: bool = False  # said of GPUs only; CPUs all run bf16, at very different speeds


def detect_devices() -> list[ComputeDevice]:
    """Every device torch can train on here, best first; the CPU is always last."""
    import torch

    devices = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(index)
            major, minor = torch.cuda.get_device_capability(index)
            devices.append(
                ComputeDevice(
                    name=f"cuda:{index}",
                    description=f"{torch.cuda.get_device_name(index)} (compute capability {major}.{minor})",
                    total_memory=total,
                    free_memory=free,
                    supports_bf16=torch.cuda.is_bf16_supported(),
                )
            )
    if torch.backends.mps.is_available():
        devices.append(ComputeDevice(name="mps", description="Apple GPU (Metal)", supports_bf16=True))
    cores = os.cpu_count() or 1
    capability = torch.backends.cpu.get_cpu_capability()
    devices.append(
        ComputeDevice(
            name="cpu",
            description=f"CPU, {cores} cores ({capability}); fine for builtin:tiny, far too slow for SD 1.5",
            total_memory=_physical_memory(),
        )
    )
    return devices


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def choose_device(setting: str):
    """The torch device for a `model.device` setting; "auto" takes the best one present."""
    import torch

    from ti_tui.errors import UserError

    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda:0")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    problem = device_setting_problem(setting, [device.name for device in detect_devices()])
    if problem:
        raise UserError(problem)
    return torch.device("cuda:0" if setting == "cuda" else setting)


def device_setting_problem(setting: str, available: list[str]) -> str | None:
    """Why a `model.device` setting cannot be used on a machine with `available` devices, if so."""
    name = "cuda:0" if setting == "cuda" else setting
    if setting == "auto" or name in available:
        return None
    return f"model.device is {setting!r}, but this machine has only: {', '.join(available)}. Set it to auto."


def choose_dtype(setting: str, device):
    """The dtype of the frozen model's weights for a `model.precision` setting.

    auto: bf16 on GPUs that have it, else fp16; fp16 on Apple GPUs; on CPUs bf16 only where the
    CPU computes it natively (AVX-512 BF16 or AMX), since emulated bf16 is slower than fp32.
    """
    import torch

    if setting != "auto":
        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[setting]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if _cpu_has_native_bf16() else torch.float32


def _cpu_has_native_bf16() -> bool:
    try:
        flags = open("/proc/cpuinfo", encoding="ascii", errors="replace").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
