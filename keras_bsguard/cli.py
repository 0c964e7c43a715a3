"""The ``bsguard`` command line (ruff's conventions).

    bsguard lint [PATH ...]       lint loss functions (default: .)
    bsguard rule CODE             explain one rule
    bsguard rules                 list every rule (--output-format json for JSON)
    bsguard report RUN.jsonl      render a training run's event log as HTML
    bsguard probe FILE::NAME      measure a loss at growing batch sizes (runs the file's code)

Exit codes: 0 no findings, 1 findings, 2 usage, configuration or input error (and, with
``--strict``, nothing linted or a file or folder that could not be read).

Example::

    $ bsguard lint examples/losses.py --output-format concise --select BSG4
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """Bad arguments, configuration or paths: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One clear line instead of a usage dump."""
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _codes(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _size(text: str) -> int:
    from .lint.config import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``bsguard`` and its subcommands."""
    from . import __version__

    parser = _Parser(prog="bsguard", description="Keep custom Keras losses and batch sizes from wrecking training.")
    parser.add_argument("--version", action="version", version=f"bsguard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    lint = commands.add_parser("lint", help="lint the loss functions in files or folders")
    lint.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                      help="files, folders or - for stdin (default: .)")
    lint.add_argument("--select", type=_codes, action="append", metavar="CODES",
                      help="rule codes/prefixes to enable, replacing the default set (e.g. BSG4,BSG701 or ALL)")
    lint.add_argument("--extend-select", type=_codes, action="append", metavar="CODES",
                      help="rule codes/prefixes to enable on top of the selection (e.g. BSG303)")
    lint.add_argument("--ignore", type=_codes, action="append", metavar="CODES", help="rule codes/prefixes to disable")
    lint.add_argument("--output-format", choices=("full", "concise", "json", "sarif", "github"), default=None,
                      help="how findings are printed (default: full)")
    lint.add_argument("--statistics", action="store_true", help="print a count per rule instead of the findings")
    lint.add_argument("--exit-zero", action="store_true", help="exit with 0 even when there are findings")
    lint.add_argument("--no-cache", action="store_true", help="neither read nor write the result cache")
    lint.add_argument("--config", type=Path, metavar="FILE", help="settings file (pyproject.toml or bsguard.toml)")
    lint.add_argument("--exclude", "--extend-exclude", dest="exclude", type=_codes, action="append",
                      metavar="PATTERNS", help="extra glob patterns of files/folders to skip")
    lint.add_argument("--force-exclude", action="store_true",
                      help="apply excludes to paths passed explicitly too (for pre-commit)")
    lint.add_argument("--max-file-size", type=_size, metavar="SIZE",
                      help="skip larger files with a notice, e.g. 5MB (default: 5MB; 0: no limit)")
    lint.add_argument("--stdin-filename", metavar="NAME",
                      help="the name of the file read from stdin (`-`): for messages, config and excludes")
    lint.add_argument("--strict", action="store_true",
                      help="exit 2 when no file was linted or a file or folder could not be read")
    lint.add_argument("-j", "--jobs", type=int, default=None, help="parallel processes (default: CPU count)")
    lint.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")

    rule = commands.add_parser("rule", help="explain a rule")
    rule.add_argument("code", metavar="CODE")
    rule.add_argument("--output-format", choices=("text", "json"), default="text")

    rules = commands.add_parser("rules", help="list all rules")
    rules.add_argument("--output-format", choices=("text", "json"), default="text")

    commands.add_parser("report", help="render a run's JSONL event log as HTML (see `bsguard report --help`)",
                        add_help=False)
    commands.add_parser("probe", help="run a loss at growing batch sizes and measure it (see `bsguard probe --help`)",
                        add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``bsguard``; returns the exit code (never raises for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "probe":  # runs the user's code: its own arguments, messages and exit codes
        from .probe.cli import main as probe_main

        return probe_main(argv[1:])
    if argv and argv[0] == "report":  # the runtime report owns its own arguments and messages
        from .report import main as report_main

        try:
            return report_main(argv[1:])
        except KeyboardInterrupt:  # its files are replaced atomically: none is left half-written
            return 130
    try:
        args = build_parser().parse_args(argv)
        if args.command == "lint":
            return _lint(args)
        if args.command == "rule":
            return _rule(args)
        if args.command == "rules":
            return _rules(args)
        build_parser().print_help()
        return EXIT_ERROR
    except UsageError as error:
        _say("error", str(error))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say
        _silence_stdout()
        return EXIT_CLEAN
    except Exception as error:  # noqa: BLE001 - a bug of ours: one line, not a traceback
        _say("error", f"internal error: {type(error).__name__}: {error} (please report this)")
        return EXIT_ERROR


def _say(level: str, message: str) -> None:
    """One ``bsguard: LEVEL: message`` line on stderr, control characters escaped."""
    from .lint.text import escape_text

    try:
        print(f"bsguard: {level}: {escape_text(message)}", file=sys.stderr)
    except (BrokenPipeError, ValueError):
        pass


def _silence_stdout() -> None:
    """After a broken pipe: send what is left to /dev/null so that exiting does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _flatten(groups) -> list[str]:
    return [code for group in groups or () for code in group]


def _lint(args) -> int:
    from .lint.api import LintSettings
    from .lint.rules import UnknownSelector, select_rules
    from .lint.runner import DEFAULT_MAX_FILE_SIZE

    stdin = _reads_stdin(args)
    paths, unreadable = ([], []) if stdin else _existing_paths(args.paths or [Path(".")])
    config = _config(args, paths, stdin)
    try:
        select = _flatten(args.select) or config.select
        rules = select_rules(select, ignore=[*config.ignore, *_flatten(args.ignore)],
                             extend_select=[*config.extend_select, *_flatten(args.extend_select)])
        for codes in config.per_file_ignores.values():
            select_rules(codes)  # validates every code
    except UnknownSelector as error:
        raise UsageError(str(error)) from None
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    output_format = args.output_format or os.environ.get("BSGUARD_OUTPUT_FORMAT") or "full"
    if output_format not in ("full", "concise", "json", "sarif", "github"):
        raise UsageError(f"unknown output format {output_format!r}")

    settings = LintSettings(codes=frozenset(r.code for r in rules), loss_patterns=tuple(config.loss_functions))
    limit = next(size for size in (args.max_file_size, config.max_file_size, DEFAULT_MAX_FILE_SIZE) if size is not None)
    if stdin:
        run = _lint_stdin(args, config, settings, limit)
    else:
        run = _lint_paths(args, config, paths, settings, limit)
    run.unreadable[:0] = unreadable
    findings = [f for f in run.findings if not (config.per_file_ignores and _ignored_for_file(f, config))]
    level = "error" if args.strict else "warning"
    for line in run.notes:
        _say("warning", line)
    for line in run.unreadable:
        _say(level, f"cannot read {line}")
    if run.linted == 0 and not run.unreadable:
        _say(level, f"no Python files found in {_listed(run.where)}")
        if args.strict:
            return EXIT_ERROR
    code = _exit_code(args, findings, run)
    try:
        _print_findings(args, findings, output_format, run)
    except BrokenPipeError:  # `bsguard lint | head`: the findings still decide the exit code
        _silence_stdout()
    return code


def _exit_code(args, findings, run) -> int:
    if args.strict and run.unreadable:
        return EXIT_ERROR
    if findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


class _Run:
    """What one ``bsguard lint`` saw: findings, how many files were linted, what it could not read."""

    def __init__(self, where: list[str]) -> None:
        self.where = where
        self.findings: list = []
        self.linted = 0
        self.notes: list[str] = []
        self.unreadable: list[str] = []
        self.sources: dict = {}


def _reads_stdin(args) -> bool:
    dash = [p for p in args.paths if str(p) == "-"]
    if dash and len(args.paths) > 1:
        raise UsageError("`-` (stdin) cannot be combined with other paths")
    return bool(dash) or (bool(args.stdin_filename) and not args.paths)


def _existing_paths(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """The paths that exist; a missing one is a usage error, an unreachable one a note."""
    kept, unreadable = [], []
    for path in paths:
        try:
            os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise UsageError(f"path does not exist: {path}") from None
        except OSError as error:
            unreadable.append(f"{path}: {(error.strerror or str(error)).lower()}")
            continue
        kept.append(path)
    return kept, unreadable


def _config(args, paths: list[Path], stdin: bool):
    from .lint.config import Config, ConfigError, find_config, load_config

    if stdin:
        start = Path(args.stdin_filename).resolve() if args.stdin_filename else Path.cwd().resolve()
    else:
        start = (paths[0] if paths else Path(".")).resolve()
    try:
        config_file = args.config or find_config(start)
        return load_config(config_file) if config_file else Config(root=Path.cwd().resolve())
    except ConfigError as error:
        raise UsageError(str(error)) from None


def _lint_paths(args, config, paths: list[Path], settings, limit: int) -> _Run:
    from .lint.discovery import discover
    from .lint.runner import lint_files

    run = _Run([str(p) for p in args.paths or [Path(".")]])
    files = discover(paths, config, force_exclude=args.force_exclude, extra_excludes=tuple(_flatten(args.exclude)),
                     notes=run.notes, unreadable=run.unreadable)
    cache_dir = None if args.no_cache or os.environ.get("BSGUARD_NO_CACHE") else config.root / ".bsguard_cache"
    result = lint_files(files, settings, cache_dir, jobs=args.jobs, max_file_size=limit)
    run.findings, run.linted = result.findings, result.files_checked
    run.unreadable.extend(result.unreadable)
    run.notes.extend(_too_large(name, size, limit) for name, size in result.too_large)
    return run


def _lint_stdin(args, config, settings, limit: int) -> _Run:
    from .lint.api import lint_data
    from .lint.discovery import is_force_excluded

    name = args.stdin_filename or "-"
    run = _Run([name])
    if args.stdin_filename and args.force_exclude and is_force_excluded(Path(name), config,
                                                                        tuple(_flatten(args.exclude))):
        return run
    data = sys.stdin.buffer.read()
    if limit and len(data) > limit:
        run.notes.append(_too_large(name, len(data), limit))
        return run
    run.findings, run.linted, run.sources = lint_data(data, name, settings), 1, {name: data}
    return run


def _too_large(name: str, size: int, limit: int) -> str:
    return f"skipped {name}: {_human(size)} is over max-file-size ({_human(limit)})"


def _human(size: int) -> str:
    """A byte count as people write it: 812 bytes, 3.1 KB, 5 MB."""
    for unit, scale in (("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def _listed(paths: list[str]) -> str:
    """Paths for a one-line message: the first three, then a count."""
    shown = ", ".join(paths[:3]) or "."
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def _print_findings(args, findings, output_format: str, run: _Run) -> None:
    from .lint.output import render, statistics, summary

    text = statistics(findings, output_format) if args.statistics else render(findings, output_format, run.sources)
    if text:
        print(text, flush=True)
    if not args.quiet and output_format in ("full", "concise") and not args.statistics and run.linted:
        print(summary(findings), file=sys.stderr if not findings else sys.stdout, flush=True)


def _ignored_for_file(finding, config) -> bool:
    ignored = config.ignored_codes_for(Path(finding.filename))
    return any(code.upper() == "ALL" or finding.code.startswith(code.upper()) for code in ignored)


def _rule(args) -> int:
    import json

    from .lint.rules import RULES_BY_CODE

    rule = RULES_BY_CODE.get(args.code.upper())
    if rule is None:
        raise UsageError(f"unknown rule code {args.code!r} (see `bsguard rules`)")
    if args.output_format == "json":
        print(json.dumps(_rule_json(rule), indent=2))
    else:
        from .lint.rule_text import plain

        opt_in = " (opt-in)" if rule.opt_in else ""
        print(f"{rule.code} {rule.name} [{rule.severity}]{opt_in}\n\n{plain(rule.explanation())}")
    return EXIT_CLEAN


def _rules(args) -> int:
    import json

    from .lint.rules import ALL_RULES

    if args.output_format == "json":
        print(json.dumps([_rule_json(rule) for rule in ALL_RULES], indent=2))
        return EXIT_CLEAN
    for rule in ALL_RULES:
        default = "opt-in " if rule.opt_in else "default"
        print(f"{rule.code}  {rule.name:<20} {rule.severity:<8} {default}  {rule.summary}")
    return EXIT_CLEAN


def _rule_json(rule) -> dict:
    from .lint.rule_text import markdown

    return {"code": rule.code, "name": rule.name, "severity": rule.severity, "summary": rule.summary,
            "opt_in": rule.opt_in, "explanation": markdown(rule.explanation())}


if __name__ == "__main__":
    raise SystemExit(main())
