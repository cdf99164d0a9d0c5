"""A training run's folder: what the run is, its checkpoints, requests to its trainer, and its lock.

    runs/<run-id>/
      run.json        what the run is (settings snapshot, images, parent, launches): RunFacts
      events.jsonl    what happened, one JSON object a line, appended by the trainer alone
      trainer.log     the trainer's own output
      trainer.lock    held (flock) by the trainer for its whole life: held means alive
      control/        requests to the trainer: stop, save-now, preview-now, pause
      checkpoints/    <trigger>-<step>.safetensors: embeddings only, so a UI can be pointed at the folder
      resume/         <trigger>-<step>.state.pt: what the trainer needs to go on exactly from that checkpoint
      previews/       step-<step>-p<prompt>-s<seed>[-init].png

Everything about a run can be told from its folder alone, so a wizard that quits, or an SSH link
that drops, loses nothing: a new watcher replays events.jsonl and carries on.
"""

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ti_tui.detached import LifeLock, WorkFolder
from ti_tui.errors import UserError
from ti_tui.findings import Fix
from ti_tui.fsutil import atomic_write_text
from ti_tui.settings import ProjectSettings

RUN_FACTS_VERSION = 1
CONTROL_REQUESTS = ("stop", "save-now", "preview-now", "pause")


@dataclass(frozen=True)
class RunImage:
    """An image the run trains on, as it was when the run was created."""

    image: Path
    caption: str
    sha256: str


@dataclass(frozen=True)
class ParentCheckpoint:
    """The checkpoint a run started from, when it came from another run of the project."""

    run: str
    step: int | None
    checkpoint: Path


@dataclass(frozen=True)
class Launch:
    pid: int
    started: float  # when the launcher started it (time.time())
    process_started: float | None  # the process's own start time, to tell it from a later one with its number
    command: list[str]


@dataclass
class RunFacts:
    """What run.json says: the run is self-contained even if the project changes later."""

    project: Path
    settings: ProjectSettings
    steps: int
    vectors: int
    images: list[RunImage]
    initial_embedding: Path | None = None
    parent: ParentCheckpoint | None = None
    created: float = field(default_factory=time.time)
    launches: list[Launch] = field(default_factory=list)
    # A run continued from a checkpoint numbers its steps on from that checkpoint's step.
    first_step: int = 0

    @property
    def last_step(self) -> int:
        return self.first_step + self.steps

    def to_json(self) -> str:
        data = asdict(self)
        data["settings"] = self.settings.to_toml_data()
        return json.dumps({"v": RUN_FACTS_VERSION, **data}, indent=1, default=os.fspath)

    @classmethod
    def from_json(cls, text: str) -> "RunFacts":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"it holds a JSON {type(data).__name__}, not an object")
        data.pop("v", None)
        initial, parent = data.get("initial_embedding"), data.get("parent")
        return cls(
            project=Path(data["project"]),
            settings=ProjectSettings.model_validate(data["settings"]),
            steps=int(data["steps"]),
            vectors=int(data["vectors"]),
            images=[RunImage(Path(item["image"]), item["caption"], item["sha256"]) for item in data["images"]],
            initial_embedding=Path(initial) if initial else None,
            parent=ParentCheckpoint(parent["run"], parent["step"], Path(parent["checkpoint"])) if parent else None,
            created=float(data.get("created", 0.0)),
            launches=[
                Launch(
                    int(launch["pid"]),
                    float(launch["started"]),
                    _optional_float(launch.get("process_started")),
                    list(launch.get("command", [])),
                )
                for launch in data.get("launches", [])
            ],
            first_step=int(data.get("first_step", 0)),
        )


def _optional_float(value) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Checkpoint:
    step: int
    embedding: Path
    state: Path  # the trainer's state at that step, to resume from exactly

    @property
    def resumable(self) -> bool:
        return self.state.is_file()


class RunDirectory(WorkFolder):
    lock_name = "trainer.lock"

    @property
    def run_file(self) -> Path:
        return self.path / "run.json"

    @property
    def events_file(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def log_file(self) -> Path:
        return self.path / "trainer.log"

    @property
    def control_dir(self) -> Path:
        return self.path / "control"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def resume_dir(self) -> Path:
        return self.path / "resume"

    @property
    def previews_dir(self) -> Path:
        return self.path / "previews"

    def make_folders(self, *folders: Path) -> None:
        """Make those of the run's folders that are missing; a file in the place of one is named, with what to do."""
        for folder in folders:
            if folder.exists() and not folder.is_dir():
                raise UserError(
                    f"{folder} is a file, where run {self.id} keeps a folder: move the file elsewhere (or delete it), then resume the run",
                    Fix("resume", self.id),
                )
            folder.mkdir(exist_ok=True)

    # What the run is ---------------------------------------------------------------------

    def facts(self) -> RunFacts:
        try:
            return RunFacts.from_json(self.run_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{self.path} is not a training run (it has no run.json)") from None
        except IsADirectoryError:
            raise UserError(f"{self.run_file} is a folder, where the file that says what the run is belongs; the run is damaged") from None
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as error:
            reason = "its settings are not valid" if isinstance(error, ValidationError) else f"{type(error).__name__}: {error}"
            raise UserError(f"{self.run_file} cannot be read ({reason}); the run is damaged") from None

    def write_facts(self, facts: RunFacts) -> None:
        """Only the launcher writes run.json; the trainer reads it."""
        atomic_write_text(self.run_file, facts.to_json())

    def record_launch(self, launch: Launch) -> None:
        facts = self.facts()
        facts.launches.append(launch)
        self.write_facts(facts)

    def events(self) -> list[dict]:
        """Every event written so far."""
        from ti_tui.runs.events import RunWatcher

        return RunWatcher(self.events_file).poll()

    # Checkpoints ---------------------------------------------------------------------------

    def checkpoints(self, facts: RunFacts | None = None) -> list[Checkpoint]:
        """The run's checkpoints, oldest first, each with where its resume state is; pass its facts when at hand.

        Only files named for the run's trigger at a step the run can reach are its checkpoints: any
        other file in checkpoints/ (a stray `zorbot-99999….safetensors`) would otherwise pass for its
        last one. Runs saved before resume/ existed kept the state beside the embedding; it is read
        from there when resume/ has none, so that those runs resume too.
        """
        if facts is None:
            try:
                facts = self.facts()
            except UserError:
                facts = None  # a damaged run: its checkpoints are all there is to know of it
        found = []
        for path in self.checkpoints_dir.glob("*.safetensors") if self.checkpoints_dir.is_dir() else []:
            match = re.fullmatch(r"(.+)-(\d+)", path.stem)
            if match and (facts is None or _is_checkpoint_of(facts, match.group(1), int(match.group(2)))):
                state = self.resume_dir / f"{path.stem}.state.pt"
                beside = path.with_name(f"{path.stem}.state.pt")
                found.append(Checkpoint(int(match.group(2)), path, beside if beside.is_file() and not state.is_file() else state))
        return sorted(found, key=lambda checkpoint: checkpoint.step)

    def resumable_checkpoints(self, facts: RunFacts | None = None) -> list[Checkpoint]:
        return [checkpoint for checkpoint in self.checkpoints(facts) if checkpoint.resumable]

    def checkpoint_paths(self, trigger: str, step: int) -> Checkpoint:
        """Where the checkpoint at `step` is saved."""
        name = f"{trigger}-{step}"
        return Checkpoint(step, self.checkpoints_dir / f"{name}.safetensors", self.resume_dir / f"{name}.state.pt")

    # Requests to the trainer, which looks between steps --------------------------------------

    def ask_to_stop(self) -> None:
        """The trainer saves a checkpoint and stops after the current step."""
        self.request("stop")

    def ask_to_pause(self) -> None:
        self.request("pause")

    def ask_to_go_on(self) -> None:
        """Ends a pause."""
        self.withdraw("pause")

    def ask_to_save(self) -> None:
        """A checkpoint now, besides the scheduled ones."""
        self.request("save-now")

    def ask_for_previews(self) -> None:
        self.request("preview-now")

    def request(self, name: str) -> None:
        if name not in CONTROL_REQUESTS:
            raise ValueError(f"unknown control request {name!r}")
        if self.control_dir.exists() and not self.control_dir.is_dir():
            asked = {"save-now": "save now", "preview-now": "draw previews now"}.get(name, name)
            raise UserError(
                f"{self.control_dir} is a file, where run {self.id} takes requests (a folder), so its trainer cannot be asked to {asked}: "
                "move the file elsewhere (or delete it), then ask again"
            )
        self.control_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.control_dir / name, f"{time.time()}\n")

    def withdraw(self, name: str) -> None:
        """A request taken back, or done; with no control folder (or a file in its place) none is pending."""
        if self.control_dir.is_dir():
            (self.control_dir / name).unlink(missing_ok=True)

    def pending_requests(self) -> set[str]:
        if not self.control_dir.is_dir():
            return set()
        return {path.name for path in self.control_dir.iterdir() if path.name in CONTROL_REQUESTS}

    # Liveness, and what stops a trainer working on the run at all ---------------------------------

    def is_locked(self) -> bool:
        # A trainer locks a file; with a folder in its place no trainer can have started.
        return not self.lock_file.is_dir() and super().is_locked()

    def odd_files_problem(self) -> str | None:
        """What stands where the run keeps its lock or its event log, when it is not a file: no trainer can work on the run."""
        for path, what in ((self.lock_file, "its trainer's lock"), (self.events_file, "its event log")):
            if path.exists() and not path.is_file():
                kind = "a folder" if path.is_dir() else "not a file"
                return (
                    f"{path} is {kind}, where run {self.id} keeps {what} (a file), so no trainer can work on the run: "
                    f"move it out of {self.path} (or delete it)"
                )
        return None


def _is_checkpoint_of(facts: RunFacts, name: str, step: int) -> bool:
    return name == facts.settings.token.trigger and facts.first_step <= step <= facts.last_step


class TrainerLock(LifeLock):
    """The trainer's claim on its run, held until the process ends."""

    def __init__(self, run: RunDirectory):
        super().__init__(run.lock_file, f"another trainer is already running in {run.path}")
