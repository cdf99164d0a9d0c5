"""Opening pickled PyTorch files (.pt, .bin, .ckpt) without letting them run code."""

import pickle
import zipfile
from pathlib import Path

from ti_tui.errors import UserError


def load_plain_torch_file(path: Path, what: str):
    """`torch.load` restricted to tensors and plain containers; `what` ("an embedding") names the file's kind.

    Zip-format files are memory-mapped, so a multi-gigabyte checkpoint is not read just to look at it.
    """
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as error:
        # A pickle that names a function (a "global") wants to call it; damaged bytes fail otherwise.
        if "global" in str(error).lower():
            raise UserError(
                f"{path} was refused: it contains code that would run when it is loaded, which {what} never needs. "
                "Only load it if you trust its source, and prefer a .safetensors version."
            ) from None
        raise UserError(f"{path} is not a PyTorch file, or it is damaged (its pickle is unreadable)") from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError) as error:
        raise UserError(f"{path} is not a PyTorch file, or it is damaged ({type(error).__name__})") from None
