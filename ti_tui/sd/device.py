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


@dataclass(frozen=True)
class DeviceProbe:
    """What a run would train on here: found by a helper process, since finding it imports torch."""

    name: str
    description: str
    dtype: str  # what the precision setting chooses there: "float32", "bfloat16", "float16"
    total_memory: int | None  # bytes
    free_memory: int | None
    matmul_gflops: float  # measured in that dtype, a moment's worth: the yardstick for time estimates
    problem: str = ""  # why there is no answer; the rest is then empty


def probe_device(device_setting: str, precision_setting: str, seconds: float = 0.3) -> DeviceProbe:
    import time

    import torch

    device = choose_device(device_setting)
    dtype = choose_dtype(precision_setting, device)
    found = next((known for known in detect_devices() if known.name == ("cuda:0" if str(device) == "cuda" else str(device))), None)
    left = torch.randn(512, 512, dtype=dtype, device=device)
    right = torch.randn(512, 512, dtype=dtype, device=device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    left @ right
    synchronize()
    started, count = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        left @ right
        count += 1
    synchronize()
    gflops = 2 * 512**3 * count / (time.perf_counter() - started) / 1e9
    return DeviceProbe(
        name=str(device),
        description=found.description if found else str(device),
        dtype=str(dtype).removeprefix("torch."),
        total_memory=found.total_memory if found else None,
        free_memory=found.free_memory if found else None,
        matmul_gflops=gflops,
    )


def probe_in_a_helper(device_setting: str, precision_setting: str) -> DeviceProbe:
    """`probe_device` in a process of its own, so that the caller never imports torch."""
    import json
    import subprocess
    import sys

    command = [sys.executable, "-m", "ti_tui.sd.device", device_setting, precision_setting]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    try:
        return DeviceProbe(**json.loads(result.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError, TypeError):
        said = (result.stderr.strip().splitlines() or ["no answer"])[-1]
        return DeviceProbe("", "", "", None, None, 0.0, f"the compute device could not be examined ({said})")


PROBE_KEPT_SECONDS = 24 * 3600  # a machine's speed is looked up again after a day


def remembered_probe(device_setting: str, precision_setting: str) -> DeviceProbe:
    """`probe_in_a_helper`'s answer, kept a day in the cache folder: a command's time estimate then waits for no probe."""
    import json
    import time
    from dataclasses import asdict

    from ti_tui.errors import UserError
    from ti_tui.fsutil import atomic_write_text
    from ti_tui.paths import cache_dir

    key = f"{device_setting}|{precision_setting}|{os.environ.get(CPU_BF16_VARIABLE, '')}"
    try:
        kept_file = cache_dir() / "device-probes.json"
        kept = json.loads(kept_file.read_text(encoding="utf-8")) if kept_file.is_file() else {}
        entry = kept.get(key) if isinstance(kept, dict) else None
        if isinstance(entry, dict) and time.time() - float(entry.get("at", 0)) < PROBE_KEPT_SECONDS:
            return DeviceProbe(**entry["probe"])
    except (UserError, OSError, ValueError, TypeError, KeyError):
        kept_file, kept = None, {}
    probe = probe_in_a_helper(device_setting, precision_setting)
    if kept_file is not None and not probe.problem:
        try:
            kept = kept if isinstance(kept, dict) else {}
            kept[key] = {"at": time.time(), "probe": asdict(probe)}
            atomic_write_text(kept_file, json.dumps(kept, indent=1))
        except OSError:
            pass  # an estimate without a kept probe is probed again next time
    return probe


def main(argv: list[str]) -> int:
    import json
    from dataclasses import asdict

    from ti_tui.errors import UserError

    try:
        answer = probe_device(*argv)
    except UserError as error:
        answer = DeviceProbe("", "", "", None, None, 0.0, str(error))
    print(json.dumps(asdict(answer)))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
