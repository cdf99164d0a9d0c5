"""What the machine can compute on. Imports torch, so call it from commands and workers only."""

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ComputeDevice:
    name: str  # "cuda:0", "mps", "cpu"
    description: str  # in words, for people
    total_memory: int | None = None  # bytes
    free_memory: int | None = None
    supports_bf16: bool = False  # computed natively; CPUs without it emulate bf16, some hundred times slower


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
            supports_bf16=cpu_has_native_bf16(),
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
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


# Developers set this to try the other precision path on the machine at hand: "native" makes
# "auto" choose bf16 on any CPU, "emulated" makes it choose fp32 as on an AVX2-only CPU.
CPU_BF16_VARIABLE = "TI_TUI_CPU_BF16"
CPU_BF16_CHOICES = ("native", "emulated")


def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bf16 itself (AVX-512 BF16 or AMX), or as TI_TUI_CPU_BF16 says."""
    from ti_tui.errors import UserError

    override = os.environ.get(CPU_BF16_VARIABLE, "").strip().lower()
    if override:
        if override not in CPU_BF16_CHOICES:
            raise UserError(
                f"{CPU_BF16_VARIABLE}={override!r} is not understood: set it to native or emulated, or unset it "
                "to let the CPU's own flags decide"
            )
        return override == "native"
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
