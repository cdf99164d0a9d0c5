"""Why `model.precision = "auto"` picks what it picks on this machine: each dtype's speed, measured.

    python bench/precision.py [--device cpu|cuda] [--seconds 2]

Times the two operations a UNet step is made of, a 3x3 convolution (320 channels, 32x32, as at
256 px) and a matrix product (1024 x 1024), in fp32, bf16 and fp16, and prints GFLOP/s for each
beside the dtype ti-tui's "auto" chooses. On a CPU without native bf16 (no AVX-512 BF16 or AMX)
the half-precision kernels are emulated and run far slower than fp32.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def throughput(operation, flop: float, seconds: float, synchronize) -> float:
    operation()
    synchronize()
    started, count = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        operation()
        count += 1
    synchronize()
    return flop * count / (time.perf_counter() - started) / 1e9


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python bench/precision.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent on each measurement")
    arguments = parser.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from ti_tui.sd.device import choose_dtype

    device = torch.device(arguments.device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"{'dtype':<10}{'conv 3x3 GFLOP/s':>18}{'matmul GFLOP/s':>16}")
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16), ("fp16", torch.float16)):
        pixels = torch.randn(1, 320, 32, 32, dtype=dtype, device=device)
        kernel = torch.randn(320, 320, 3, 3, dtype=dtype, device=device)
        left = torch.randn(1024, 1024, dtype=dtype, device=device)
        right = torch.randn(1024, 1024, dtype=dtype, device=device)
        convolution = throughput(
            lambda pixels=pixels, kernel=kernel: F.conv2d(pixels, kernel, padding=1),
            2 * 320 * 320 * 9 * 32 * 32,
            arguments.seconds,
            synchronize,
        )
        product = throughput(lambda left=left, right=right: left @ right, 2 * 1024**3, arguments.seconds, synchronize)
        print(f"{name:<10}{convolution:>18.1f}{product:>16.1f}", flush=True)
    chosen = choose_dtype("auto", device)
    print(f'\nmodel.precision = "auto" chooses {str(chosen).removeprefix("torch.")} on {device}')
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
