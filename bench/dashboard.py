"""How the Train step's dashboard copes with a long run: opening on 50,000 events, and answering keys while
events arrive at 50 a second.

    python bench/dashboard.py [--events 50000] [--rate 50] [--presses 60]

1. Open: the wizard (headless, 100x32) on a project whose run wrote `--events` steps. Cold: the run
   is alive, so the wizard opens on Train; timed from creating the app until the whole history is
   drawn. Switch: the wizard is open on another step (it read the run's log once when the project
   opened, for the steps bar); timed from pressing 5 until the whole history is drawn. Beside them,
   the same wizard opened on the Train step of a project with no run. An untimed start first
   imports the wizard's modules, so that the figures compare; `bench/first_paint.py` times a
   start from nothing.
   Beside it, the reference: reading the same events.jsonl into a list of dicts (what a dashboard
   that kept events would hold), its time and the memory that list takes.
2. Keys: the run's trainer is alive (its lock held here), a thread appends step events at `--rate`
   a second, and `<`/`>` are pressed `--presses` times, each switching the panel (so the panel is
   drawn afresh); each press is timed until its action runs (answered), and until the app has drawn
   it and is idle again (settled; this includes the tab underline's animation).
3. Memory: what the process grew by from before the wizard was made until the history was drawn.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))
sys.path.insert(0, str(REPOSITORY / "tests"))

import psutil  # noqa: E402
from run_recording import recorded_run  # noqa: E402
from wizard_support import copy_of_sample, fake_services  # noqa: E402

from ti_tui.project import Project  # noqa: E402
from ti_tui.runs import status  # noqa: E402
from ti_tui.runs.directory import TrainerLock  # noqa: E402
from ti_tui.tui.app import create_app  # noqa: E402

SIZE = (100, 32)


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def reference_read(events_file: Path) -> tuple[float, float]:
    """(seconds, MiB) to read every event into a list of dicts: timed once, then measured once more."""

    def read() -> list:
        with open(events_file, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]

    started = time.perf_counter()
    read()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    events = read()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert events
    return seconds, held / 2**20


async def open_without_a_run(project: Project, data: Path) -> float:
    """The floor: seconds from creating the wizard until its Train step is drawn, for a project with no run."""
    services = fake_services(data)
    services.memory.remember(project.root, "train")
    started = time.perf_counter()
    app = create_app(project, services)
    async with app.run_test(size=SIZE) as pilot:
        while not (getattr(app.screen, "plan_text", "").startswith(("3", "1", "2", "4", "5", "6", "7", "8", "9"))):
            await asyncio.sleep(0.001)
        await pilot.pause()
        return time.perf_counter() - started


async def switch_to_train(project: Project, data: Path, expected: int) -> float:
    """Seconds from pressing 5 in a wizard open on another step until the whole history is drawn."""
    services = fake_services(data)
    services.memory.remember(project.root, "token")
    app = create_app(project, services)
    async with app.run_test(size=SIZE) as pilot:
        while not app.state.steps:  # the project's first look, which reads the run's log once
            await asyncio.sleep(0.001)
        await pilot.pause()
        started = time.perf_counter()
        await pilot.press("5")
        while not (getattr(app.screen, "view", None) is not None and app.screen.view.events_read >= expected):
            await asyncio.sleep(0.001)
        await pilot.pause()
        return time.perf_counter() - started


async def open_and_press(project: Project, data: Path, expected: int, rate: float, presses: int, run) -> dict:
    process = psutil.Process()
    before = process.memory_info().rss
    figures = {}
    started = time.perf_counter()
    app = create_app(project, fake_services(data))  # the run is alive: the wizard opens on Train
    async with app.run_test(size=SIZE) as pilot:
        while not (getattr(app.screen, "view", None) is not None and app.screen.view.events_read >= expected):
            await asyncio.sleep(0.001)
        await pilot.pause()
        figures["open_s"] = time.perf_counter() - started
        figures["grown_mib"] = (process.memory_info().rss - before) / 2**20
        with status.read_history(run) as history:
            series = (history.loss, history.smoothed_loss, history.learning_rate, history.validation, history.longest_vector)
            figures["history_mib"] = sum(len(item.steps) * 8 + len(item.values) * 8 for item in series) / 2**20

        screen = app.screen
        answered: list[float] = []
        switch_panel = screen.action_panel

        def timed_switch(offset: int) -> None:
            answered.append(time.perf_counter())
            switch_panel(offset)

        screen.action_panel = timed_switch
        stop = threading.Event()
        feeder = threading.Thread(target=feed, args=(run.events_file, expected, rate, stop), daemon=True)
        feeder.start()
        latencies, settled = [], []
        for press in range(presses):
            key = "greater_than_sign" if press % 2 == 0 else "less_than_sign"
            pressed = time.perf_counter()
            await pilot.press(key)
            settled.append(time.perf_counter() - pressed)
            latencies.append(answered[-1] - pressed)
            await asyncio.sleep(1 / 20)  # a person's pace, and time for events to arrive between presses
        stop.set()
        feeder.join()
        figures["latencies"], figures["settled"] = latencies, settled
        figures["steps_seen"] = screen.view.step
    return figures


def feed(events_file: Path, after_step: int, rate: float, stop: threading.Event) -> None:
    """Step events appended at `rate` a second, as a trainer writes them."""
    number = after_step
    with open(events_file, "a", encoding="utf-8") as handle:
        while not stop.is_set():
            number += 1
            event = {"v": 1, "seq": 10**6 + number, "t": time.time(), "type": "step", "step": number, "total": 10**6, "loss": 0.1,
                     "loss_smoothed": 0.1, "lr": 0.005, "steps_per_s": rate, "eta_s": 100.0, "norms": [0.4, 0.5]}  # fmt: skip
            handle.write(json.dumps(event) + "\n")
            handle.flush()
            time.sleep(1 / rate)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python bench/dashboard.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="steps in the recorded run")
    parser.add_argument("--rate", type=float, default=50.0, help="events a second while keys are pressed")
    parser.add_argument("--presses", type=int, default=60)
    arguments = parser.parse_args(argv)
    os.environ.setdefault("TI_TUI_IMAGES", "halfcell")

    with tempfile.TemporaryDirectory(prefix="ti-tui-dashboard-") as scratch:
        work = Path(scratch)
        project = Project.open(copy_of_sample(work / "project"))
        run = recorded_run(project, "20260101-000000-long", 10**6, arguments.events, every=5_000, finished=False)
        total_events = count_lines(run.events_file)
        empty = Project.open(copy_of_sample(work / "empty"))
        asyncio.run(open_without_a_run(empty, work / "data-warm-up"))  # untimed: every figure below has the modules imported
        floor_s = asyncio.run(open_without_a_run(empty, work / "data-empty"))
        lock = TrainerLock(run)  # the trainer is alive, as far as any watcher can tell
        try:
            figures = asyncio.run(open_and_press(project, work / "data", total_events, arguments.rate, arguments.presses, run))
        finally:
            lock.release()
        status._HISTORIES.clear()  # what this process has read of the log is forgotten, as in a fresh wizard
        switch_s = asyncio.run(switch_to_train(project, work / "data-switch", count_lines(run.events_file)))
        reference_s, reference_mib = reference_read(run.events_file)
        size_mib = run.events_file.stat().st_size / 2**20
        shutil.rmtree(run.path)

    latencies = sorted(figures["latencies"])
    print(f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"Recorded run: {total_events} events ({size_mib:.1f} MiB of events.jsonl)")
    print(f"Open the wizard on the run (alive, so on Train) until the whole history is drawn: {figures['open_s']:.2f} s")
    print(f"  reference, the same wizard opened on the Train step of a project with no run: {floor_s:.2f} s")
    print(f"Switch to Train in a wizard already open on the project until the whole history is drawn: {switch_s:.2f} s")
    print(f"  reference, reading the events into a list of dicts: {reference_s:.2f} s, {reference_mib:.0f} MiB held")
    print(
        f"  the wizard process grew by {figures['grown_mib']:.0f} MiB while opening; the history's arrays take {figures['history_mib']:.1f} MiB"
    )
    settled = sorted(figures["settled"])
    print(f"Keys under a feed of {arguments.rate:.0f} events/s ({len(latencies)} presses, each switching the panel):")
    print(
        f"  answered (the key's action running): median {statistics.median(latencies) * 1000:.0f} ms, worst {latencies[-1] * 1000:.0f} ms"
    )
    print(f"  settled (drawn, the app idle again): median {statistics.median(settled) * 1000:.0f} ms, worst {settled[-1] * 1000:.0f} ms")
    print(f"  the dashboard had followed the run to step {figures['steps_seen']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
