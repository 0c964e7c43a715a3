"""``bsguard probe``: measure how a custom loss's time and memory scale with the batch size.

It imports the loss's module and runs it on synthetic batches on one backend, compiled the way
Keras compiles a train step (JAX jit, ``tf.function``, eager torch), then ties the measurements
to the linter's findings. Needs keras and a backend (``pip install "keras-bsguard[jax]"``).

Example::

    >>> from keras_bsguard.probe.scaling import fit_exponent
    >>> round(fit_exponent([8, 16, 32], [64, 256, 1024])["value"], 2)
    2.0
"""
