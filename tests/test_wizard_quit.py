"""Quitting the wizard: back at the shell at once, whatever its helpers are doing; a run it started goes on."""

import subprocess
import sys
from dataclasses import replace

import pytest
from conftest import wait_for
from wizard_support import CPU, copy_of_sample, fake_services, until

from ti_tui.detached import spawn_detached
from ti_tui.project import Project
from ti_tui.tui.app import create_app

HELPER_SECONDS = 120  # far longer than a quit may take: a quit that waits for the helper fails below


@pytest.mark.slow  # starts a trainer or helper process
async def test_quitting_ends_the_helpers_in_flight_and_leaves_a_detached_trainer(tmp_path):
    """Quitting on Train while the device was being examined blanked the screen until the helper
    process, importing torch, had answered: some 20 s on a busy machine."""
    project = Project.open(copy_of_sample(tmp_path / "project"))
    helpers: list[subprocess.Popen] = []

    def probe_in_a_slow_helper(device: str, precision: str):
        helper = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({HELPER_SECONDS})"])
        helpers.append(helper)
        helper.wait()
        return CPU

    trainer, _ = spawn_detached([sys.executable, "-c", f"import time; time.sleep({HELPER_SECONDS})"], tmp_path / "trainer.log", tmp_path)
    try:
        app = create_app(project, replace(fake_services(tmp_path / "data"), probe_device=probe_in_a_slow_helper))
        async with app.run_test(size=(80, 24)) as pilot:
            app.open_step("train")
            await until(pilot, lambda: helpers, "the device examined in a helper")
            await pilot.press("ctrl+q")
        wait_for(lambda: helpers[0].poll() is not None, what="the helper to end")
        assert helpers[0].returncode < 0, "the helper ran to its end: the quit waited for it"
        assert trainer.poll() is None, "the detached trainer was ended with the wizard"
    finally:
        trainer.kill()
        trainer.wait()


async def test_two_workers_asking_for_the_device_at_once_start_one_probe(tmp_path):
    """app.device_for checked, then probed, then stored: two screens' workers asking at once each started a helper."""
    import threading

    project = Project.open(copy_of_sample(tmp_path / "project"))
    probes, both_asked = [], threading.Barrier(2)

    def probe(device: str, precision: str):
        probes.append(device)
        return CPU

    app = create_app(project, replace(fake_services(tmp_path / "data"), probe_device=probe))
    answers = []

    def ask() -> None:
        both_asked.wait()
        answers.append(app.device_for(project, before_probing=lambda: threading.Event().wait(0.2)))

    workers = [threading.Thread(target=ask) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert answers == [CPU, CPU] and len(probes) == 1
