"""The ``bsguard`` command line (ruff's conventions).

    bsguard lint [PATH ...]       lint loss functions (default: .)
    bsguard rule CODE             explain one rule
    bsguard rules                 list every rule (--output-format json for JSON)
    bsguard report RUN.jsonl      render a training run's event log as HTML

Exit codes: 0 no findings, 1 findings, 2 usage, configuration or input error.

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
    def error(self, message: str):  # one clear line instead of a usage dump
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _codes(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="bsguard", description="Keep custom Keras losses and batch sizes from wrecking training.")
    parser.add_argument("--version", action="version", version=f"bsguard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    lint = commands.add_parser("lint", help="lint the loss functions in files or folders")
    lint.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or folders (default: .)")
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
    lint.add_argument("--exclude", type=_codes, action="append", metavar="PATTERNS",
                      help="extra glob patterns of files/folders to skip")
    lint.add_argument("--force-exclude", action="store_true",
                      help="apply excludes to paths passed explicitly too (for pre-commit)")
    lint.add_argument("-j", "--jobs", type=int, default=None, help="parallel processes (default: CPU count)")
    lint.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")

    rule = commands.add_parser("rule", help="explain a rule")
    rule.add_argument("code", metavar="CODE")
    rule.add_argument("--output-format", choices=("text", "json"), default="text")

    rules = commands.add_parser("rules", help="list all rules")
    rules.add_argument("--output-format", choices=("text", "json"), default="text")

    commands.add_parser("report", help="render a run's JSONL event log as HTML (see `bsguard report --help`)",
                        add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "report":  # the runtime report owns its own arguments
        from .report import main as report_main

        return report_main(argv[1:])
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
        print(f"bsguard: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_CLEAN


def _flatten(groups) -> list[str]:
    return [code for group in groups or () for code in group]


def _lint(args) -> int:
    from .lint.api import LintSettings
    from .lint.config import Config, ConfigError, find_config, load_config
    from .lint.discovery import discover
    from .lint.output import render, statistics, summary
    from .lint.rules import UnknownSelector, select_rules
    from .lint.runner import lint_files

    paths = args.paths or [Path(".")]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"path does not exist: {missing[0]}")
    try:
        config_file = args.config or find_config(paths[0].resolve())
        config = load_config(config_file) if config_file else Config(root=Path.cwd().resolve())
    except ConfigError as error:
        raise UsageError(str(error)) from None
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

    files = discover(paths, config, force_exclude=args.force_exclude, extra_excludes=tuple(_flatten(args.exclude)))
    settings = LintSettings(codes=frozenset(r.code for r in rules), loss_patterns=tuple(config.loss_functions))
    cache_dir = None if args.no_cache or os.environ.get("BSGUARD_NO_CACHE") else config.root / ".bsguard_cache"
    result = lint_files(files, settings, cache_dir, jobs=args.jobs)
    findings = [f for f in result.findings if not (config.per_file_ignores and _ignored_for_file(f, config))]

    output_format = args.output_format or os.environ.get("BSGUARD_OUTPUT_FORMAT") or "full"
    if output_format not in ("full", "concise", "json", "sarif", "github"):
        raise UsageError(f"unknown output format {output_format!r}")
    if args.statistics:
        text = statistics(findings, output_format)
    else:
        text = render(findings, output_format)
    if text:
        print(text)
    if not args.quiet and output_format in ("full", "concise") and not args.statistics:
        print(summary(findings), file=sys.stderr if not findings else sys.stdout)
    if findings and not args.exit_zero:
        return EXIT_FINDINGS
    return EXIT_CLEAN


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
        opt_in = " (opt-in)" if rule.opt_in else ""
        print(f"{rule.code} {rule.name} [{rule.severity}]{opt_in}\n\n{rule.explanation()}")
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
    return {"code": rule.code, "name": rule.name, "severity": rule.severity, "summary": rule.summary,
            "opt_in": rule.opt_in, "explanation": rule.explanation()}


if __name__ == "__main__":
    raise SystemExit(main())
