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
