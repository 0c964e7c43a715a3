"""OOM errors are recognised by each backend's real exception type and message; nothing else is."""

from __future__ import annotations

import pytest

from keras_bsguard.oom import describe, is_out_of_memory


@pytest.mark.backend("jax")
def test_jax_real_allocation_failure_is_an_oom():
    import jax.numpy as jnp

    with pytest.raises(Exception) as caught:
        jnp.zeros((2**42,), dtype=jnp.uint8).block_until_ready()  # 4 TiB on the host: refused
    assert type(caught.value).__name__ == "JaxRuntimeError"
    assert is_out_of_memory(caught.value)
    assert describe(caught.value).startswith("JaxRuntimeError: RESOURCE_EXHAUSTED")


@pytest.mark.backend("jax")
def test_jax_runtime_error_without_resource_exhausted_is_not_an_oom():
    import jax

    assert not is_out_of_memory(jax.errors.JaxRuntimeError("INVALID_ARGUMENT: shapes do not match"))


@pytest.mark.backend("tensorflow")
def test_tensorflow_resource_exhausted_is_an_oom():
    import tensorflow as tf

    error = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[65536,65536]")
    assert is_out_of_memory(error)
    assert not is_out_of_memory(tf.errors.InvalidArgumentError(None, None, "Incompatible shapes"))


@pytest.mark.backend("torch")
def test_torch_cpu_allocator_failure_is_an_oom():
    import torch

    with pytest.raises(RuntimeError) as caught:
        torch.empty(2**45, dtype=torch.uint8)  # 32 TiB: the CPU allocator refuses at once
    assert is_out_of_memory(caught.value)
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 GiB"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_chained_and_plain_errors():
    try:
        try:
            raise MemoryError("host")
        except MemoryError as inner:
            raise RuntimeError("step failed") from inner
    except RuntimeError as outer:
        assert is_out_of_memory(outer)
    assert not is_out_of_memory(KeyError("RESOURCE_EXHAUSTED"))
    assert not is_out_of_memory(ValueError("out of memory"))
