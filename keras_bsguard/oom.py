"""Recognise out-of-memory errors of every backend, without importing any backend.

* JAX raises ``jax.errors.JaxRuntimeError`` (``XlaRuntimeError`` in older jaxlib) whose text
  holds ``RESOURCE_EXHAUSTED`` -- at run time, at compile time, and asynchronously when a later
  operation touches the failed result.
* TensorFlow raises ``tf.errors.ResourceExhaustedError`` (``OOM when allocating tensor ...``).
* torch raises ``torch.OutOfMemoryError`` (``torch.cuda.OutOfMemoryError``) on CUDA and a plain
  ``RuntimeError`` from the CPU allocator (``DefaultCPUAllocator: can't allocate memory``).
* A host allocation in numpy or Python raises ``MemoryError``.

Anything else is not an OOM and must propagate untouched.

    >>> is_out_of_memory(MemoryError())
    True
    >>> is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    True
    >>> is_out_of_memory(ValueError("RESOURCE_EXHAUSTED"))  # a ValueError is a bug, not an OOM
    False
"""

from __future__ import annotations

import re

# Exception class names (any module) that are OOMs by type alone.
_OOM_TYPES = frozenset({"ResourceExhaustedError", "OutOfMemoryError", "MemoryError"})
# Runtime-error class names whose *message* decides.
_RUNTIME_TYPES = frozenset({"JaxRuntimeError", "XlaRuntimeError", "RuntimeError", "InternalError",
                            "UnknownError", "AcceleratorError"})
_OOM_TEXT = re.compile(
    r"RESOURCE_EXHAUSTED|out of memory|OOM when allocating|can't allocate memory|"
    r"Failed to allocate|Allocator .* ran out of memory|not enough memory|CUBLAS_STATUS_ALLOC_FAILED|"
    r"cudaErrorMemoryAllocation|MemoryError",
    re.IGNORECASE,
)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` (or an exception it was raised from) is an out-of-memory error."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_oom_itself(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _is_oom_itself(error: BaseException) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    if names & _OOM_TYPES:
        return True
    if names & _RUNTIME_TYPES:
        return bool(_OOM_TEXT.search(str(error)))
    return False


# The line of an OOM message that says what failed to allocate (TF puts it after "Graph execution
# error:" and the node's Python stack; JAX and torch on the first line).
_ALLOCATION_LINE = re.compile(
    r"OOM when allocating|out of memory|can't allocate|Failed to allocate|Tried to allocate|"
    r"ran out of memory|RESOURCE_EXHAUSTED",
    re.IGNORECASE,
)
# TF names devices by their full path: /job:localhost/replica:0/task:0/device:CPU:0 -> CPU:0.
_TF_DEVICE_PATH = re.compile(r"/job:[^/\s]+/replica:\d+/task:\d+/device:")


def describe(error: BaseException, limit: int = 160) -> str:
    """``Type: the line that says what failed to allocate`` (else the first line), shortened, for
    warnings and event logs.

    >>> describe(RuntimeError("Graph execution error:\\n\\nDetected at node zeros\\n"
    ...     "OOM when allocating tensor with shape[4194304,1048576] and type float on "
    ...     "/job:localhost/replica:0/task:0/device:CPU:0 by allocator mklcpu\\n\\t [[{{node zeros}}]]"))
    'RuntimeError: OOM when allocating tensor with shape[4194304,1048576] and type float on CPU:0 by allocator mklcpu'
    """
    lines = [_ANSI.sub("", line).strip() for line in str(error).splitlines()]
    # Keras prefixes errors raised in a layer with "Exception encountered when calling X.call()."
    lines = [line for line in lines if line and not line.startswith("Exception encountered when calling")]
    allocation = [line for line in lines if _ALLOCATION_LINE.search(line)]
    first = _TF_DEVICE_PATH.sub("", (allocation or lines or [""])[0])
    text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
