"""``bsguard probe FILE::NAME``: run a loss at growing batch sizes and measure what it costs.

Unlike ``bsguard lint``, this imports FILE and runs its code.

Exit codes: 0 nothing confirmed and no problem measured; 1 a lint finding confirmed or a problem
measured that the linter did not flag; 2 bad arguments, a target that cannot be loaded, a missing
backend, or a loss that fails at every batch size.

Example::

    $ KERAS_BACKEND=jax bsguard probe examples/probe_losses.py::pairwise_distance_loss
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

EXIT_CLEAN, EXIT_PROBLEMS, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise _Usage(f"{message} (see `bsguard probe --help`)")


class _Usage(Exception):
    pass


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or any(size < 2 for size in sizes):
        raise argparse.ArgumentTypeError("batch sizes must be integers >= 2")
    return sorted(set(sizes))


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a shape like 10 or 64,64,1, got {text!r}") from None
    if not shape or any(part < 1 for part in shape):
        raise argparse.ArgumentTypeError(f"expected a shape like 10 or 64,64,1, got {text!r}")
    return shape


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected a batch size >= 2, got {value}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _memory(text: str) -> int:
    from keras_bsguard.lint.config import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _init(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"--init must be a JSON object: {error.msg}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--init must be a JSON object, e.g. '{\"gamma\": 2}'")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The arguments of ``bsguard probe``."""
    from .kinds import PREDICTIONS, TARGETS

    parser = _Parser(prog="bsguard probe", description=(
        "Measure how a loss's time and memory grow with the batch size, check its behaviour, and "
        "confirm or clear each `bsguard lint` finding in it. This IMPORTS FILE AND RUNS ITS CODE "
        "(bsguard lint never does)."), epilog=(
        "exit codes: 0 nothing confirmed or measured; 1 a finding confirmed or a problem measured; "
        "2 bad arguments, a target that cannot be loaded, or a loss that fails at every size"))
    parser.add_argument("target", metavar="FILE::NAME",
                        help="a loss function, a class (instantiated), Class.method, or a factory call like "
                             "losses.py::focal_loss(gamma=2.0)")
    parser.add_argument("--backend", choices=("jax", "tensorflow", "torch"),
                        help="default: KERAS_BACKEND, else the first installed of tensorflow, jax, torch")
    parser.add_argument("--shape", type=_shape, default=(10,), help="per-sample shape of y_true and y_pred (default 10)")
    parser.add_argument("--target", dest="target_kind", choices=TARGETS,
                        help="kind of y_true (default: from the loss's name, else regression)")
    parser.add_argument("--pred", dest="prediction", choices=PREDICTIONS,
                        help="kind of y_pred (default: from the loss's name and the target)")
    parser.add_argument("--batch-sizes", type=_sizes, metavar="N,N,...",
                        help="batch sizes to measure (default: 8, 16, 32, ... until the time or memory budget)")
    parser.add_argument("--budget-seconds", type=_positive, default=30.0,
                        help="time budget of the default sweep (default 30)")
    parser.add_argument("--max-memory", type=_memory, default=2 << 30, metavar="SIZE",
                        help="stop the default sweep before a size predicted to need more (default 2GB)")
    parser.add_argument("--dtype", choices=("float32", "float64", "float16", "bfloat16"), default="float32")
    parser.add_argument("--init", type=_init, metavar="JSON", help="keyword arguments for a class, as a JSON object")
    parser.add_argument("--order", choices=("auto", "true,pred", "pred,true"), default="auto",
                        help="argument order (default auto: torch-style (input, target) names, else Keras's (y_true, y_pred))")
    parser.add_argument("--project-to", type=_batch_size, default=8192, metavar="N",
                        help="batch size for the projection line (default 8192)")
    parser.add_argument("--output-format", choices=("text", "json"), default="text")
    parser.add_argument("--plot", metavar="PNG", help="write time and memory against batch size (log-log) to this file")
    return parser


def main(argv: list[str]) -> int:
    """Run ``bsguard probe``; returns the exit code (one line on stderr for bad input, never a traceback)."""
    from .target import ProbeInputError

    try:
        args = build_parser().parse_args(argv)
    except _Usage as error:
        _say(str(error))
        return EXIT_ERROR
    try:
        if args.plot:
            import importlib.util

            if importlib.util.find_spec("matplotlib") is None:
                raise ProbeInputError('--plot needs matplotlib: pip install "keras-bsguard[keras]"')
        from .backend import select_backend

        select_backend(args.backend)  # before NumPy, Keras or the user's file is imported
        from .render import plot, table, to_json
        from .runner import has_problem, probe

        quiet = args.output_format == "json" or not sys.stderr.isatty()
        # What the user's module and loss print goes to stderr: stdout is the report (JSON for tools).
        with contextlib.redirect_stdout(sys.stderr):
            result = probe(args.target, backend=args.backend, shape=args.shape, target_kind=args.target_kind,
                           prediction=args.prediction, batch_sizes=args.batch_sizes, dtype=args.dtype,
                           init=args.init, order=args.order, budget_seconds=args.budget_seconds,
                           max_memory=args.max_memory, project_to=args.project_to,
                           say=(lambda text: None) if quiet else (lambda text: print(f"  {text}", file=sys.stderr)))
        print(to_json(result) if args.output_format == "json" else table(result))
        if args.plot:
            plot(result, args.plot)
        return EXIT_PROBLEMS if has_problem(result) else EXIT_CLEAN
    except ProbeInputError as error:
        _say(str(error))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - a bug of ours: one line, not a traceback
        _say(f"internal error: {type(error).__name__}: {' '.join(str(error).split())[:300]} (please report this)")
        return EXIT_ERROR


def _say(message: str) -> None:
    print(f"bsguard: error: {message}", file=sys.stderr)
