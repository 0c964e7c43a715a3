"""Time spent in the other callbacks' batch hooks, on the thread that runs the ``fit`` loop.

Keras calls ``callbacks.on_train_batch_end(...)`` after each train-function call and
``callbacks.on_train_batch_begin(...)`` before the next (``keras.callbacks.CallbackList``). The
time these hooks take on the training thread is neither step time nor input wait. At
``on_train_begin`` the timer finds the ``CallbackList`` that is calling its owner and, for this
``fit`` only, wraps:

* the train-batch hooks of every *other* callback that overrides one (``on_train_batch_begin``,
  ``on_train_batch_end``, or the older ``on_batch_begin``/``on_batch_end`` they call): the seconds
  each takes on the training thread add up in :attr:`seconds`, and per hook in :attr:`by_hook`.
  Callbacks with ``bsguard_untimed = True`` (the other keras-bsguard monitors, whose hooks take
  about a microsecond per step on the training thread, about what timing them would add) are
  left alone;
* with ``blocks=True`` (torch), the ``CallbackList``'s own two hooks, to know where the batch-end
  block finished and the next batch-begin block started: the torch fit loop pulls the next batch
  between the two. Where the input wait is timed inside the train function (JAX, TensorFlow)
  they are left alone: one Python frame less per hook and step.

Hooks that Keras runs on its callback worker threads (asynchronous dispatch, when every callback
is ``async_safe``) are not on the training thread and are not counted. :meth:`uninstall` puts
every method back. Wrapped methods that outlive their fit (a ``fit`` that raised skips
``on_train_end``) pass straight through and are removed by the next :meth:`install`.

    >>> import keras
    >>> class Slow(keras.callbacks.Callback):
    ...     def on_train_batch_end(self, batch, logs=None):
    ...         pass
    >>> owner, slow = keras.callbacks.Callback(), Slow()
    >>> callbacks = keras.callbacks.CallbackList([owner, slow])
    >>> timer = CallbackTimer(owner)
    >>> timer.install(callbacks)
    True
    >>> callbacks.on_train_batch_end(0, {})
    >>> sorted(timer.by_hook), timer.by_hook["Slow.on_train_batch_end"][1]
    (['Slow.on_train_batch_end'], 1)
    >>> timer.uninstall(); "on_train_batch_end" in vars(slow)
    False
"""

from __future__ import annotations

import inspect
import threading
import time

import keras

_HOOKS = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}
_MISSING = object()


def find_callback_list(owner, frame=None):
    """The ``keras.callbacks.CallbackList`` that is running one of ``owner``'s hooks now (found
    among the calling frames), or ``None``. Keras has no public handle on it; this reads the
    ``self`` of the calling frames, which holds for ``CallbackList``'s dispatch in Keras 3.15.1
    (tests/runtime/test_callback_timer.py pins it)."""
    frame = frame or inspect.currentframe()
    for _ in range(12):
        if frame is None:
            return None
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, keras.callbacks.CallbackList) and any(
            callback is owner for callback in candidate.callbacks
        ):
            return candidate
        frame = frame.f_back
    return None


def _overrides(callback, hook: str) -> bool:
    if hook in vars(callback):
        return True
    base = keras.callbacks.Callback
    kind = type(callback)
    return getattr(kind, hook) is not getattr(base, hook) or (
        getattr(kind, _HOOKS[hook]) is not getattr(base, _HOOKS[hook])
    )


def _unwrap(target, name: str) -> None:
    """Remove our wrappers (this timer's or a stale one's) from ``target.name``."""
    current = vars(target).get(name)
    while getattr(current, "_bsguard_timed", False):
        previous = current._bsguard_previous
        if previous is _MISSING:
            vars(target).pop(name, None)
        else:
            setattr(target, name, previous)
        current = vars(target).get(name)


class CallbackTimer:
    """Seconds spent in other callbacks' train-batch hooks on the ``fit`` thread; see the module
    doc. ``active`` is False when no ``CallbackList`` was found (callbacks called by hand)."""

    def __init__(self, owner):
        self.owner = owner
        self.active = False
        self.seconds = 0.0  # cumulative, training thread only (written by that thread alone)
        self.by_hook: dict[str, list] = {}  # "Class.hook" -> [seconds, calls]
        self.end_block_done: float | None = None  # CallbackList.on_train_batch_end returned
        self.begin_block_start: float | None = None  # CallbackList.on_train_batch_begin entered
        self._thread = None
        self._patched: list[tuple[object, str]] = []

    def install(self, callback_list=None, blocks: bool = True) -> bool:
        """Wrap the hooks of ``callback_list`` (default: the one calling the owner now), and with
        ``blocks`` the list's own two batch hooks (:attr:`end_block_done`,
        :attr:`begin_block_start`)."""
        self.uninstall()
        callback_list = callback_list or find_callback_list(self.owner, inspect.currentframe().f_back)
        if callback_list is None:
            return False
        self._thread = threading.get_ident()
        self.seconds, self.by_hook = 0.0, {}
        self.end_block_done = self.begin_block_start = None
        for callback in callback_list.callbacks:
            if callback is self.owner or getattr(callback, "bsguard_untimed", False):
                continue
            for hook in _HOOKS:
                _unwrap(callback, hook)
                if _overrides(callback, hook):
                    self._patch(callback, hook, self._timed(callback, hook))
        for hook in _HOOKS:
            _unwrap(callback_list, hook)
        if blocks:
            self._patch(callback_list, "on_train_batch_begin", self._begin_block(callback_list))
            self._patch(callback_list, "on_train_batch_end", self._end_block(callback_list))
        self.active = True
        return True

    def uninstall(self) -> None:
        for target, name in self._patched:
            _unwrap(target, name)
        self._patched = []
        self.active = False

    def on_fit_thread(self) -> bool:
        """Whether the caller runs on the thread that runs ``fit`` (and times the hooks)."""
        return threading.get_ident() == self._thread

    def slowest(self, since: dict | None = None, top: int = 3) -> list[tuple[str, float]]:
        """``(hook, seconds per call)`` of the hooks that took longest per call since the
        ``since`` snapshot (of :meth:`snapshot`), slowest first."""
        since = since or {}
        rates = []
        for name, (seconds, calls) in list(self.by_hook.items()):
            old_seconds, old_calls = since.get(name, (0.0, 0))
            if calls > old_calls:
                rates.append((name, (seconds - old_seconds) / (calls - old_calls)))
        return sorted(rates, key=lambda pair: -pair[1])[:top]

    def snapshot(self) -> dict:
        return {name: tuple(entry) for name, entry in list(self.by_hook.items())}

    # ------------------------------------------------------------------------------ wrappers
    def _patch(self, target, name: str, wrapper) -> None:
        wrapper._bsguard_timed = True
        wrapper._bsguard_previous = vars(target).get(name, _MISSING)
        setattr(target, name, wrapper)
        self._patched.append((target, name))

    def _timed(self, callback, hook: str):
        original = getattr(callback, hook)
        entry = self.by_hook.setdefault(f"{type(callback).__name__}.{hook}", [0.0, 0])
        timer, thread, clock = self, self._thread, time.perf_counter

        def timed_hook(*args, **kwargs):
            if not timer.active or threading.get_ident() != thread:
                return original(*args, **kwargs)
            start = clock()
            try:
                return original(*args, **kwargs)
            finally:
                seconds = clock() - start
                timer.seconds += seconds
                entry[0] += seconds
                entry[1] += 1

        return timed_hook

    def _begin_block(self, callback_list):
        original, timer, clock = callback_list.on_train_batch_begin, self, time.perf_counter

        def on_train_batch_begin(*args, **kwargs):
            if timer.active:
                timer.begin_block_start = clock()
            return original(*args, **kwargs)

        return on_train_batch_begin

    def _end_block(self, callback_list):
        original, timer, clock = callback_list.on_train_batch_end, self, time.perf_counter

        def on_train_batch_end(*args, **kwargs):
            try:
                return original(*args, **kwargs)
            finally:
                if timer.active:
                    timer.end_block_done = clock()

        return on_train_batch_end
