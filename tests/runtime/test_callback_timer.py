"""The one place that reads Python frames: ``find_callback_list`` finds the ``CallbackList`` that
is dispatching to a callback (Keras calls hooks as ``callback.on_train_begin(logs)`` from
``CallbackList.on_train_begin``; checked against Keras 3.15.1, the version in the test environment)."""

from __future__ import annotations

import keras
from runtime_helpers import mlp, regression_data

from keras_bsguard._callback_timer import find_callback_list


class Finder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.found = []

    def on_train_begin(self, logs=None):
        self.found.append(find_callback_list(self))


def test_finds_the_callback_list_that_fit_dispatches_from():
    finder, other = Finder(), keras.callbacks.History()
    model = mlp()
    model.compile("sgd", "mse")
    x, y = regression_data(n=16)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[finder, other])
    (found,) = finder.found
    assert isinstance(found, keras.callbacks.CallbackList)
    assert any(callback is finder for callback in found.callbacks)


def test_finds_nothing_outside_a_dispatch_or_for_a_callback_not_in_the_list():
    finder = Finder()
    assert find_callback_list(finder) is None  # called directly, no CallbackList on the stack
    stranger = Finder()
    callbacks = keras.callbacks.CallbackList([finder])
    callbacks.on_train_begin()
    assert isinstance(finder.found[0], keras.callbacks.CallbackList)
    assert find_callback_list(stranger) is None


def test_the_other_bsguard_monitors_hooks_are_not_timed_a_users_are():
    """StepTimeMonitor wraps the batch hooks of the other callbacks of a fit, except those of
    keras-bsguard's own monitors (``bsguard_untimed``): a wrapper per hook and step would cost
    about as much as those hooks."""
    from keras_bsguard import GradientNormMonitor, MemoryMonitor, StepTimeMonitor

    class User(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    class Look(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                hooks = ("on_train_batch_begin", "on_train_batch_end")
                self.wrapped = {type(c).__name__: any(h in vars(c) for h in hooks)
                                for c in (gradient, memory, user)}

    step_time, gradient, memory, user, look = (StepTimeMonitor(), GradientNormMonitor(), MemoryMonitor(),
                                               User(), Look())
    model = mlp()
    model.compile("sgd", "mse")
    x, y = regression_data(n=16)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[step_time, gradient, memory, user, look])
    assert look.wrapped == {"GradientNormMonitor": False, "MemoryMonitor": False, "User": True}
    assert "User.on_train_batch_end" in step_time._timer.by_hook
    assert not any(name.startswith(("GradientNorm", "Memory")) for name in step_time._timer.by_hook)
