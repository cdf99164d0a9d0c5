"""The other trainer processes of a data-parallel run (torchrun or `accelerate launch`).

With one process every method is a no-op, so the training loop reads the same either way. With
several, they share one data order and average their gradients every step; process 0 alone writes
events, checkpoints and previews, and decides for all when to stop, save or pause.
"""

import torch


class ProcessGroup:
    def __init__(self):
        from accelerate import PartialState

        # Without a GPU, accelerate needs telling that the processes meet on the CPU (gloo).
        self.state = PartialState(cpu=not torch.cuda.is_available())
        self.rank = self.state.process_index
        self.size = self.state.num_processes

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def device(self):
        """The device this process trains on, when there are several; None lets the project choose."""
        return self.state.device if self.size > 1 else None

    def average(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.size > 1:
            torch.distributed.all_reduce(tensor)
            tensor /= self.size
        return tensor

    def decide(self, value):
        """Process 0's `value`, the same for every process."""
        if self.size == 1:
            return value
        holder = [value]
        torch.distributed.broadcast_object_list(holder, src=0)
        return holder[0]

    def gather(self, value) -> list:
        if self.size == 1:
            return [value]
        gathered = [None] * self.size
        torch.distributed.all_gather_object(gathered, value)
        return gathered

    def close(self) -> None:
        if self.size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
