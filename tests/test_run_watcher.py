"""Watching a run without torch: every event once, in order, live or replayed, whatever the log went through."""

import json
import os
import subprocess
import sys

import pytest

from ti_tui.runs import RunWatcher
from ti_tui.usecases.training import create_run, start_trainer

# Runs in a fresh process, as the wizard's watcher does: it follows the run to its end and reports
# what it saw, and whether anything imported a model library on the way.
WATCH = """
import json, sys
from ti_tui.runs import RunDirectory, follow_run
seen = [(event["seq"], event["type"]) for event in follow_run(RunDirectory(sys.argv[1]))]
loaded = [name for name in ("torch", "diffusers", "transformers", "accelerate") if name in sys.modules]
print(json.dumps({"seen": seen, "loaded": loaded}))
"""


def watch(run) -> dict:
    return json.loads(
        subprocess.run([sys.executable, "-c", WATCH, str(run.path)], capture_output=True, text=True, timeout=300, check=True).stdout
    )


def in_the_log(run) -> list[list]:
    return [[event["seq"], event["type"]] for event in run.events()]


@pytest.fixture
def short_run(trainable_project):
    return create_run(trainable_project(**{"training.save_every": 3, "training.validation_every": 3}), steps=6)


@pytest.mark.slow
def test_a_watcher_without_torch_sees_a_live_run_from_its_start_to_its_end(short_run):
    trainer = start_trainer(short_run)
    watcher = subprocess.Popen([sys.executable, "-c", WATCH, str(short_run.path)], stdout=subprocess.PIPE, text=True)
    report = json.loads(watcher.communicate(timeout=300)[0])
    assert trainer.wait(timeout=60) == 0
    assert report["loaded"] == []
    seen = report["seen"]
    assert [seq for seq, _ in seen] == list(range(1, len(seen) + 1))  # each once, in order, none missed
    assert seen[0][1] == "started" and seen[-1][1] == "finished"
    assert [kind for _, kind in seen].count("step") == 6
    assert seen == in_the_log(short_run)


@pytest.mark.slow
def test_a_watcher_started_after_the_end_replays_the_whole_run_and_stops(short_run):
    assert start_trainer(short_run).wait(timeout=300) == 0
    report = watch(short_run)
    assert report["seen"] == in_the_log(short_run) and report["seen"][-1][1] == "finished"

    with open(short_run.events_file, "a") as log:
        log.write('{"v": 1, "seq": 999, "t": 1.0, "type": "ste')  # a crash in the middle of a line
    assert watch(short_run)["seen"] == report["seen"]


def test_a_replaced_or_shortened_log_passes_on_only_what_is_new(tmp_path):
    log = tmp_path / "events.jsonl"

    def line(sequence: int) -> str:
        return json.dumps({"seq": sequence, "type": "step", "step": sequence}) + "\n"

    log.write_text(line(1) + line(2))
    watcher = RunWatcher(log)
    assert [event["seq"] for event in watcher.poll()] == [1, 2]

    replacement = tmp_path / "copy.jsonl"
    replacement.write_text(line(1) + line(2) + line(3))
    os.replace(replacement, log)  # another file in its place, holding what was read and more
    assert [event["seq"] for event in watcher.poll()] == [3]

    log.write_text(line(4))  # cut shorter, then written on
    assert [event["seq"] for event in watcher.poll()] == [4]
    with open(log, "a") as handle:
        handle.write(line(5))
    assert [event["seq"] for event in watcher.poll()] == [5]
    assert watcher.poll() == []
