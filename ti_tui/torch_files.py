"""Opening pickled PyTorch files (.pt, .bin, .ckpt) without letting them run code, and reading or writing
tensors without bringing torch into a process that has none."""

import importlib
import json
import pickle
import signal
import struct
import subprocess
import sys
import warnings
import zipfile
from dataclasses import asdict
from pathlib import Path

from ti_tui.errors import UserError
from ti_tui.findings import Fix

# What reading damaged or foreign bytes as a pickle raises, besides an UnpicklingError: the unpickler's
# stack and memo run out (IndexError, KeyError), opcodes meet the wrong values (TypeError, struct.error).
UNREADABLE_PICKLE_ERRORS = (
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    AttributeError,
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    RecursionError,
    struct.error,
    zipfile.BadZipFile,
)


def _plain_data_types() -> list:
    """Classes that hold data only, found in files made by older tools: embeddings saved as a
    ParameterDict by the original textual-inversion code, numbers saved as numpy scalars in checkpoints."""
    import numpy
    import torch
    from numpy._core.multiarray import scalar

    return [
        torch.nn.ParameterDict,
        scalar,
        (scalar, "numpy.core.multiarray.scalar"),  # its name in files written by NumPy 1
        numpy.dtype,
        *(type(numpy.dtype(kind)) for kind in ("float64", "float32", "int64", "int32")),
    ]


def load_plain_torch_file(path: Path, what: str, checked: bool = False):
    """`torch.load` restricted to tensors and plain containers; `what` ("an embedding") names the file's kind.

    Zip-format files are memory-mapped, so a multi-gigabyte checkpoint is not read just to look at it.
    `checked` is for small files that must load exactly as they were saved (a resume state): each part
    is first checked against the checksum the zip keeps of it, which torch.load skips, so that damaged
    tensor bytes are refused instead of loading as wrong numbers; and the file is read into memory.
    """
    import torch

    # Registered for the whole process, so that diffusers, loading the same checkpoint after us, accepts them too.
    torch.serialization.add_safe_globals(_plain_data_types())
    try:
        zipped = zipfile.is_zipfile(path)
        if checked and zipped:
            _check_sums(path)
        with warnings.catch_warnings():
            # Bytes that are not a pickle of torch's own protocol make torch warn before it fails: our message says it.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipped and not checked)
    except pickle.UnpicklingError as error:
        # A pickle that names a function (a "global") wants to call it; damaged bytes fail otherwise.
        if "global" in str(error).lower():
            raise UserError(
                f"{path} was refused: it contains code that would run when it is loaded, which {what} never needs. "
                "Only load it if you trust its source, and prefer a .safetensors version."
            ) from None
        raise UserError(f"{path} is not a PyTorch file, or it is damaged (its pickle is unreadable)") from None
    except UNREADABLE_PICKLE_ERRORS as error:
        raise UserError(f"{path} is not a PyTorch file, or it is damaged ({type(error).__name__})") from None


def _check_sums(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        damaged = archive.testzip()
    if damaged is not None:
        raise UserError(f"{path} is damaged: its part {damaged} no longer matches the checksum it was saved with")


def run_with_torch(function, *arguments):
    """`function(*arguments)` where torch may be imported: here when this process has torch already (the
    trainer, the renderer, a command), else in a helper process, so that looking into a tensor file never
    brings torch's seconds of importing into a process that has kept free of it (the wizard).

    `function` is a module-level function of ti_tui; the arguments and its answer are JSON data. The
    helper takes the call as a JSON line on its stdin and answers with one on its stdout; a UserError
    raised there is raised here, with its message and fix.
    """
    if "torch" in sys.modules:
        return function(*arguments)
    call = {"module": function.__module__, "function": function.__name__, "arguments": arguments}
    helper = subprocess.run(
        [sys.executable, "-m", "ti_tui.torch_files"], input=json.dumps(call) + "\n", capture_output=True, text=True, errors="replace"
    )
    try:
        answer = json.loads(helper.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        work = function.__name__.replace("_", " ")
        if helper.returncode < 0:  # killed: by the user, the system's memory killer, a shutdown
            ending = signal.Signals(-helper.returncode).name
            raise UserError(f"the helper process for {work} was ended by {ending} before it answered; try again") from None
        said = next((line.strip() for line in reversed(helper.stderr.splitlines()) if line.strip()), f"exit code {helper.returncode}")
        raise UserError(f"the helper process for {work} stopped without an answer ({said})") from None
    if "error" in answer:
        raise UserError(answer["error"], Fix(**answer["fix"]) if answer["fix"] else None)
    return answer["answer"]


def _answer(line: str) -> dict:
    call = json.loads(line)
    if not call["module"].startswith("ti_tui."):
        raise ValueError(f"{call['module']} is not a module of ti_tui")
    import torch  # noqa: F401  (loaded first, so that the call's own run_with_torch works here, not in another helper)

    function = getattr(importlib.import_module(call["module"]), call["function"])
    try:
        return {"answer": function(*call["arguments"])}
    except UserError as error:
        return {"error": str(error), "fix": asdict(error.fix) if error.fix else None}


if __name__ == "__main__":
    print(json.dumps(_answer(sys.stdin.readline())), flush=True)
