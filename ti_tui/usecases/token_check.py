"""The Token step's questions, answered with the project's real tokenizer in a process of its own.

The tokenizer comes from transformers, which takes seconds to import, and a wizard must never
wait for that. So `TokenChecker` keeps one helper process (`python -m ti_tui.usecases.token_check
PROJECT`) that loads the tokenizer once and answers each question, a JSON line in and a JSON line
out, in milliseconds.
"""

import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from ti_tui.errors import UserError
from ti_tui.findings import Finding, Fix


@dataclass(frozen=True)
class TokenQuestion:
    trigger: str
    init_text: str
    image_count: int
    kind: str


@dataclass(frozen=True)
class TokenReport:
    trigger_pieces: list[str]  # how the tokenizer splits the trigger
    findings: list[Finding]  # what is wrong with it as a new word; empty when it is a good one
    suggestions: list[str]  # made-up words that pass every check
    init_pieces: list[str]  # the init text's tokens: one starting vector each, or shared
    suggested_vectors: int
    vectors_reason: str
    problem: str = ""  # why there is no answer (no tokenizer); the rest is then empty

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "TokenReport":
        data = json.loads(text)
        findings = [
            Finding(**{**finding, "fix": Fix(**finding["fix"]) if finding.get("fix") else None, "subjects": tuple(finding["subjects"])})
            for finding in data.pop("findings")
        ]
        return cls(findings=findings, **data)

    @classmethod
    def unanswered(cls, problem: str) -> "TokenReport":
        return cls([], [], [], [], 0, "", problem)


def answer(tokenizer, question: TokenQuestion) -> TokenReport:
    from ti_tui.sd.tokens import check_trigger, suggest_triggers, suggest_vector_count

    count, reason = suggest_vector_count(question.image_count, question.kind)
    findings = check_trigger(question.trigger, tokenizer)
    return TokenReport(
        trigger_pieces=tokenizer.tokenize(question.trigger) if question.trigger else [],
        findings=findings,
        suggestions=suggest_triggers(question.trigger or "word", tokenizer) if findings else [],
        init_pieces=tokenizer.tokenize(question.init_text) if question.init_text.strip() else [],
        suggested_vectors=count,
        vectors_reason=reason,
    )


def project_tokenizer(project_root: Path):
    """The tokenizer of the project's model, found offline as training finds it."""
    from ti_tui.project import Project
    from ti_tui.sd.loading import model_family
    from ti_tui.sd.source import classify_model_source
    from ti_tui.sd.tokenizer import find_tokenizer, load_tokenizer, missing_tokenizer_advice

    project = Project.open(project_root)
    settings = project.settings.model
    source = classify_model_source(settings.base, project.root)
    folder = project.resolve(settings.tokenizer) if settings.tokenizer else None
    family = model_family(source)
    location = find_tokenizer(source, folder, family)
    if location is None:
        raise UserError(f"no tokenizer for {settings.base}: {missing_tokenizer_advice(source, folder, family)}", Fix("fetch"))
    return load_tokenizer(location.folder)


class TokenChecker:
    """Asks the helper process; started on the first question, ended with `close`. Questions from
    several threads wait their turn: one question, then its answer, on the pipe at a time."""

    def __init__(self, project_root: Path):
        self.project_root = project_root
        self.process: subprocess.Popen | None = None
        self.turn = threading.Lock()

    def ask(self, question: TokenQuestion) -> TokenReport:
        with self.turn:
            return self._ask(question)

    def _ask(self, question: TokenQuestion) -> TokenReport:
        if self.process is None or self.process.poll() is not None:
            command = [sys.executable, "-m", "ti_tui.usecases.token_check", os.fspath(self.project_root)]
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            self.process.stdin.write(json.dumps(asdict(question)) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            return TokenReport.unanswered("the tokenizer's helper process ended unexpectedly")
        return TokenReport.from_json(line)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def main(argv: list[str]) -> int:
    try:
        tokenizer = project_tokenizer(Path(argv[0]))
    except UserError as error:
        tokenizer, problem = None, str(error)
    for line in sys.stdin:
        question = TokenQuestion(**json.loads(line))
        report = answer(tokenizer, question) if tokenizer is not None else TokenReport.unanswered(problem)
        print(report.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
