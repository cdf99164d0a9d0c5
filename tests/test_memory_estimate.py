"""The memory estimate `ti-tui train` prints before the first step."""

from ti_tui.train.memory import CPU_PROCESS_MB, estimate_from_shapes

SD15_PARAMETERS = 859_520_964 + 123_060_480 + 83_653_863
SD15_CHANNELS = [320, 640, 1280, 1280]


def sd15(latent_size=32, batch=1, bytes_per_element=4, on_cpu=False, checkpointing=False):
    return estimate_from_shapes(SD15_PARAMETERS * bytes_per_element, SD15_CHANNELS, latent_size, batch, bytes_per_element, on_cpu, checkpointing)


def test_activations_grow_with_the_batch_and_the_image_area_and_weights_stay():
    small, wide, big_batch = sd15(), sd15(latent_size=64), sd15(batch=4)
    assert wide.activations_mb == 4 * small.activations_mb and big_batch.activations_mb == 4 * small.activations_mb
    assert small.weights_mb == wide.weights_mb == big_batch.weights_mb


def test_half_precision_halves_it_and_checkpointing_keeps_less():
    full, half = sd15(bytes_per_element=4), sd15(bytes_per_element=2)
    assert half.total_mb == full.total_mb / 2
    assert sd15(checkpointing=True).activations_mb < full.activations_mb / 2


def test_sd15_at_256_px_on_a_cpu_comes_to_what_the_benchmark_measured():
    estimate = sd15(on_cpu=True)
    assert estimate.process_mb == CPU_PROCESS_MB
    assert 4.6 < estimate.total_mb / 1024 < 5.0  # bench/RESULTS.md: 4.78 GiB peak resident
    assert estimate.describe().startswith("about 4.8 GiB (weights 4.0 + activations 0.4 + process 0.4 GiB)")
