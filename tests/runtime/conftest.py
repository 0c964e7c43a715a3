"""Runtime tests run once per Keras backend, each backend in its own pytest process.

``KERAS_BACKEND`` picks the backend (it must be set before keras is imported). Tests marked
``@pytest.mark.backend("jax", ...)`` are *deselected* (not skipped) in the other backends'
processes.
"""

from __future__ import annotations

import os
import warnings

import pytest

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")

if BACKEND == "tensorflow":
    # Two logical CPUs for the tf.distribute test; must happen before TensorFlow initialises.
    import tensorflow as tf

    _cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )

import keras  # noqa: E402


def pytest_collection_modifyitems(config, items):
    selected, deselected = [], []
    for item in items:
        marker = item.get_closest_marker("backend")
        if marker is not None and BACKEND not in marker.args:
            deselected.append(item)
        else:
            selected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


@pytest.fixture
def record_warnings(recwarn):
    """Every warning raised during the test, from any thread (pytest's ``recwarn``)."""
    warnings.simplefilter("always")
    return recwarn
