"""The gradient feature behind ``GradientNoiseScale``: two-size gradient norms, per measured step.

Inside the micro-batched train step (see ``keras_bsguard.backends``) the step hands the feature
the accumulated gradient of the whole batch (size ``B``) and the slices' squared gradient norms,
each weighted by its share of the batch and summed. For ``k`` slices of sizes ``b_i`` that sum has
the expectation ``|G|^2 + tr(Sigma) / b`` with ``b = B / k`` exactly, also for uneven slices
(``sum_i (b_i / B) (|G|^2 + tr(Sigma) / b_i)``), while the whole batch's squared norm has
``|G|^2 + tr(Sigma) / B``. The feature writes one row per measured step into a ring buffer on the
device, ``[|g_small|^2, |G_big|^2, B, b]``, in float32 and divided by the square of the dynamic
loss scale under a ``LossScaleOptimizer``; the host turns rows into estimates
(:func:`two_size_estimates`).
"""

from __future__ import annotations

# Columns of a buffer row.
SMALL, BIG, BATCH, MICRO = range(4)
ROW = 4


def two_size_estimates(small: float, big: float, batch: float, micro: float) -> tuple[float, float]:
    """The unbiased estimates ``(|G|^2, tr(Sigma))`` from the squared gradient norms of one step
    at two batch sizes (McCandlish et al. 2018, appendix A.1): ``small`` at batch ``micro``,
    ``big`` at batch ``batch``.

    >>> two_size_estimates(small=5.0, big=3.0, batch=4.0, micro=2.0)
    (1.0, 8.0)
    """
    grad_sq = (batch * big - micro * small) / (batch - micro)
    trace = (small - big) / (1.0 / micro - 1.0 / batch)
    return grad_sq, trace


def _make_noise_buffer(capacity: int):
    """A state buffer (:func:`~keras_bsguard.backends.state_buffer`) of ``capacity`` rows of
    per-step figures, then a row whose first element counts the rows written (wrapped at
    ``capacity``: the next slot) and whose second counts the steps since the last measured one
    (TensorFlow with several steps per call, where the compiled step picks the measured steps
    itself)."""
    from keras_bsguard.backends import state_buffer

    buffer = state_buffer("bsguard_gradient_noise_scale", {"rows": (capacity + 1, ROW)})
    buffer.capacity = int(capacity)
    return buffer


def _squared_norms(grads) -> list:
    from keras import ops

    return [ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads]


class NoiseScaleFeature:
    """Gradient feature of the instrumented train step for :class:`GradientNoiseScale`.

    It asks the step for ``micro_batches`` slices (``wanted_split``) and records each measured
    step's row (``record_split``). Measured steps are every ``every_n_steps``-th:

    * where the backend picks the compiled step on the host (``steps_on_host``: JAX; TensorFlow
      with one step per call), the hub runs a step compiled with the split and this feature at
      steps n, 2n, ... and one compiled without them at the others;
    * eager steps (torch) split only the measured steps, counted on the host (``host_count``);
    * elsewhere (TensorFlow with ``steps_per_execution > 1``) the step splits every batch and
      writes every n-th row, counting steps in the buffer.
    """

    def __init__(self, micro_batches: int, every_n_steps: int = 1, steps_on_host: bool = False,
                 squared_norms=None, write_slot=None):
        self.micro_batches = int(micro_batches)
        self.every_n_steps = int(every_n_steps)
        self.steps_on_host = bool(steps_on_host)
        # Per-tensor squared norms: the adapter's fast path (as GradientNormMonitor's) or ops.
        self.squared_norms = squared_norms or _squared_norms
        self.write_slot = write_slot
        self.buffer = None
        # Eager steps: steps run and rows written, counted on the host (None elsewhere).
        self.host_count = None
        self.host_written = 0

    def build(self, capacity: int) -> None:
        """Create the device buffer (call under the strategy's scope)."""
        self.buffer = _make_noise_buffer(capacity)

    def cache_key(self) -> tuple:
        capacity = self.buffer.capacity if self.buffer is not None else None
        return (self.micro_batches, self.every_n_steps, self.steps_on_host,
                self.host_count is not None, capacity)

    @property
    def counted_on_device(self) -> bool:
        """Whether the compiled step itself picks the measured steps (its counter in the buffer)."""
        return self.host_count is None and not self.steps_on_host and self.every_n_steps > 1

    def wanted_split(self) -> int:
        """The slices the next step must run as (1: the eager step is not measured)."""
        if self.host_count is not None and (self.host_count + 1) % self.every_n_steps:
            return 1
        return self.micro_batches

    def compute(self, grads, variables, loss_scale) -> dict:
        return {}

    def record(self, grads, variables, loss_scale) -> dict:
        """A step that ran unsplit (an unmeasured eager step): counted, nothing written."""
        if self.host_count is not None:
            self.host_count += 1
        return {}

    def record_split(self, grads, variables, loss_scale, split) -> dict:
        """Write the step's row ``[|g_small|^2, |G_big|^2, B, b]`` (``split`` is ``None`` when
        the slices made their own updates: nothing to measure)."""
        from keras import ops

        if split is None or self.buffer is None:
            return self.record(grads, variables, loss_scale)
        present = [g for g in grads if g is not None]
        if not present:
            return self.record(grads, variables, loss_scale)
        squares, count, batch = split
        small = ops.cast(squares, "float32")
        big = ops.sum(ops.stack(self.squared_norms(present)))
        if loss_scale is not None:
            scale = ops.square(ops.cast(loss_scale, "float32"))
            small, big = small / scale, big / scale
        batch = ops.cast(batch, "float32")
        row = ops.stack([small, big, batch, batch / ops.cast(count, "float32")])
        capacity = self.buffer.capacity
        if self.host_count is not None:
            self.host_count += 1
            if self.host_count % self.every_n_steps == 0:
                self.write_slot(self.buffer.rows, self.host_written % capacity, row)
                self.host_written = (self.host_written + 1) % capacity
                self.write_slot(self.buffer.rows, capacity, float(self.host_written))
            return {}
        values = self.buffer.rows.value
        written = values[capacity, 0]
        if self.counted_on_device:
            since = values[capacity, 1] + 1.0
            measured = ops.equal(since, float(self.every_n_steps))
            since = ops.where(measured, 0.0, since)
        else:
            measured, since = True, ops.zeros((), "float32")
        positions = ops.expand_dims(ops.arange(capacity + 1, dtype="float32"), 1)
        values = ops.where(ops.logical_and(ops.equal(positions, written), measured),
                           ops.expand_dims(row, 0), values)
        new_written = ops.where(measured, written + 1.0, written)
        new_written = ops.where(new_written >= float(capacity), 0.0, new_written)
        counters = ops.stack([new_written, since, ops.zeros((), "float32"), ops.zeros((), "float32")])
        values = ops.where(ops.equal(positions, float(capacity)), ops.expand_dims(counters, 0), values)
        self.buffer.rows.assign(values)
        return {}
