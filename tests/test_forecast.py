"""What the wizard says of a run before it starts: passes over the images, memory against the device's
free memory (and what to change when it would not fit), and the time, as an estimate."""

from wizard_support import TINY_WORK

from ti_tui.sd.device import DeviceProbe

GIB = 2**30


def forecast_run_counted(project, device):
    from ti_tui.usecases.forecast import forecast_run

    return forecast_run(project, device, count_work_of_model=lambda unet, vae, resolution: TINY_WORK)


def probe(name: str = "cpu", free_gib: float = 8.0) -> DeviceProbe:
    return DeviceProbe(name, name, "float32", int(16 * GIB), int(free_gib * GIB), 100.0)


def test_a_run_that_fits_gets_its_passes_memory_and_time(trainable_project):
    forecast = forecast_run_counted(trainable_project(**{"training.steps": 100}), probe())
    assert forecast.images == 10 and forecast.epochs == 10.0
    assert forecast.memory is not None and forecast.time is not None and forecast.time[1] > 0
    assert forecast.too_big == ""


def test_a_run_too_big_for_the_free_memory_says_so_and_names_the_setting_to_try_first(trainable_project):
    batched = trainable_project("batched", **{"training.batch_size": 4, "dataset.resolution": 512})
    advice = forecast_run_counted(batched, probe("cuda:0", free_gib=0.01)).too_big
    assert "would not fit" in advice and "try training.batch_size = 2 (with training.gradient_accumulation = 2" in advice
    single = trainable_project("single", **{"dataset.resolution": 512})
    assert 'try training.gradient_checkpointing = "on"' in forecast_run_counted(single, probe("cuda:0", free_gib=0.01)).too_big
    assert "try dataset.resolution = 384" in forecast_run_counted(single, probe("cpu", free_gib=0.01)).too_big
