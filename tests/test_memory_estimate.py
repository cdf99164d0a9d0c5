"""The memory estimate `ti-tui train` prints before the first step."""

from ti_tui.train.memory import CPU_PROCESS_MB, estimate_from_shapes

SD15_PARAMETERS = 859_520_964 + 123_060_480 + 83_653_863
SD15_CHANNELS = [320, 640, 1280, 1280]


def sd15(latent_size=32, batch=1, bytes_per_element=4, on_cpu=False, checkpointing=False):
    return estimate_from_shapes(
        SD15_PARAMETERS * bytes_per_element, SD15_CHANNELS, latent_size, batch, bytes_per_element, on_cpu, checkpointing
    )


def test_activations_grow_with_the_batch_and_the_image_area_and_weights_stay():
    small, wide, big_batch = sd15(), sd15(latent_size=64), sd15(batch=4)
    assert wide.activations_mb == 4 * small.activations_mb and big_batch.activations_mb == 4 * small.activations_mb
    assert small.weights_mb == wide.weights_mb == big_batch.weights_mb


def test_half_precision_halves_it_and_checkpointing_keeps_less():
    full, half = sd15(bytes_per_element=4), sd15(bytes_per_element=2)
    assert half.weights_mb == full.weights_mb / 2 and half.activations_mb == full.activations_mb / 2
    assert sd15(checkpointing=True).activations_mb < full.activations_mb / 2


def test_sd15_on_a_cpu_comes_within_a_tenth_of_what_the_benchmark_measured():
    # bench/RESULTS.md, bench/memory_estimate.py: peak resident size of our trainer, SD 1.5 shapes.
    measured_gib = {(32, 1, 2): 2.85, (64, 4, 2): 6.28, (32, 1, 4): 4.99, (64, 2, 4): 8.08}
    for (latent_size, batch, bytes_per_element), peak in measured_gib.items():
        estimate = sd15(latent_size, batch, bytes_per_element, on_cpu=True)
        assert estimate.process_mb == CPU_PROCESS_MB
        assert abs(estimate.total_mb / 1024 / peak - 1) < 0.10, (latent_size, batch, bytes_per_element)
    assert sd15(on_cpu=True).describe() == "about 5.1 GiB (weights 4.0 + activations 0.4 + process 0.7 GiB)"
