"""What is wrong and what to do about it, as data, so that each front end can word the fix its own way.

Core code says what is wrong and why in sentences that name no command and no key to press; the
fix travels beside them as an action. The command line prints it as the command to type, the
wizard as the key to press on the step that does it.
"""

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

Action = Literal[
    "edit-setting",  # subject: the setting's dotted key, such as training.steps
    "create-project",  # subject: the folder
    "open-project",  # subject: the folder
    "reload",  # read project.toml again
    "fetch",  # download, once, what the model lacks
    "import-images",
    "prepare",  # crop and resize the images again
    "train",  # start a new run
    "resume",  # subject: the run's id
    "continue-from",  # subject: a checkpoint file; a new run starts from its vectors
    "stop",  # subject: the run's id
    "list-runs",
]


@dataclass(frozen=True)
class Fix:
    action: Action
    subject: str = ""


@dataclass(frozen=True)
class Finding:
    severity: Severity
    what: str  # what is wrong, as a sentence
    why: str = ""  # why it matters or what to do, in words
    fix: Fix | None = None
    check: str = ""  # what found it: a dataset check (blur, size, ...), "setting", "trigger", "caption", ...
    subjects: tuple[str, ...] = ()  # the images or settings it is about
    line: int | None = None  # where in project.toml, when it is about a setting

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line else ""
        return f"{where}{self.what}" + (f" {self.why}" if self.why else "")


def errors(findings: list[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.severity == "error"]
