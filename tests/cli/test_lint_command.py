"""`bsguard lint`: exit codes, selection, formats, noqa, discovery, cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import BAD_LOSS, CLEAN_LOSS, write


def test_findings_exit_1_with_source_snippet(project, run):
    write(project / "losses.py", BAD_LOSS)
    code, out, _ = run("lint", "losses.py", "--no-cache")
    assert code == 1
    assert "losses.py:5:12: BSG501" in out
    assert "5 |     return tf.reduce_sum(tf.square(y_true - y_pred))" in out
    assert "^^^^" in out and "Found 2 findings" in out


def test_clean_file_exits_0(project, run):
    write(project / "ok.py", CLEAN_LOSS)
    code, out, err = run("lint", "ok.py")
    assert code == 0 and out == ""
    assert "All checks passed!" in err


def test_exit_zero_and_quiet(project, run):
    write(project / "losses.py", BAD_LOSS)
    code, out, _ = run("lint", "losses.py", "--exit-zero", "-q", "--output-format", "concise")
    assert code == 0
    assert out.splitlines() == [
        "losses.py:5:12: BSG501 `tf.reduce_sum(tf.square(y_true - y_pred))` sums over the batch axis and is returned "
        "as the loss: it grows with the batch size; reduce over axis=-1 (or take the mean)",
        "losses.py:9:36: BSG402 `tf.math.log(y_pred)` is -inf where its argument reaches 0: clip it or add an epsilon",
    ]


def test_missing_path_is_a_usage_error(project, run):
    code, out, err = run("lint", "nope.py")
    assert code == 2 and out == ""
    assert err.strip() == "bsguard: error: path does not exist: nope.py"


def test_unknown_option_and_selector_are_one_line_errors(project, run):
    write(project / "ok.py", CLEAN_LOSS)
    for argv in (("lint", "--frobnicate"), ("lint", "ok.py", "--select", "BSG999"), ("lint", "ok.py", "--jobs", "0")):
        code, out, err = run(*argv)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and err.startswith("bsguard: error:")


def test_select_ignore_extend_select_and_prefixes(project, run):
    write(project / "losses.py", BAD_LOSS + "\n\ndef mae(y_true, y_pred):\n    return tf.reduce_mean(tf.abs(y_true - y_pred), axis=-1)\n")

    def codes(*extra):
        _, out, _ = run("lint", "losses.py", "--output-format", "json", "--no-cache", *extra)
        return sorted(item["code"] for item in json.loads(out))

    assert codes() == ["BSG402", "BSG501"]
    assert codes("--select", "BSG4") == ["BSG402"]
    assert codes("--ignore", "BSG5") == ["BSG402"]
    assert codes("--select", "BSG4,BSG501") == ["BSG402", "BSG501"]
    assert codes("--extend-select", "BSG303") == ["BSG303", "BSG402", "BSG501"]
    assert codes("--select", "ALL") == ["BSG303", "BSG402", "BSG501"]
    assert codes("--select", "ALL", "--ignore", "BSG303,BSG402") == ["BSG501"]
    assert codes("--select", "batch-sum") == ["BSG501"]


def test_json_is_ruffs_shape_with_severity_and_loss(project, run):
    write(project / "losses.py", BAD_LOSS)
    _, out, _ = run("lint", "losses.py", "--output-format", "json")
    items = json.loads(out)
    assert set(items[0]) >= {"code", "message", "filename", "location", "end_location", "fix", "noqa_row", "url",
                             "severity", "loss"}
    first = items[0]
    assert first["location"] == {"row": 5, "column": 12}
    assert first["end_location"] == {"row": 5, "column": 53}
    assert (first["severity"], first["loss"], first["noqa_row"]) == ("warning", "sse", 5)


def test_github_annotations(project, run):
    write(project / "losses.py", BAD_LOSS)
    _, out, _ = run("lint", "losses.py", "--output-format", "github")
    line = out.splitlines()[0]
    assert line.startswith("::warning file=losses.py,line=5,col=12,endLine=5,endColumn=53,title=BSG501::")
    assert "sums over the batch axis" in line


def test_sarif_is_2_1_0_with_rules_and_locations(project, run):
    write(project / "losses.py", BAD_LOSS)
    _, out, _ = run("lint", "losses.py", "--output-format", "sarif")
    log = json.loads(out)
    assert log["version"] == "2.1.0" and "sarif-2.1.0" in log["$schema"]
    run_ = log["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= {"BSG402", "BSG501"}
    assert all(r["help"]["text"] and r["shortDescription"]["text"] for r in rules)
    result = run_["results"][0]
    assert result["ruleId"] == "BSG501" and rules[result["ruleIndex"]]["id"] == "BSG501"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (5, 12)
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "losses.py"


def test_statistics_counts_per_rule(project, run):
    write(project / "a.py", BAD_LOSS)
    write(project / "b.py", BAD_LOSS)
    code, out, _ = run("lint", ".", "--statistics")
    assert code == 1
    assert out.splitlines() == ["2\tBSG402\tunguarded-log", "2\tBSG501\tbatch-sum"]


def test_noqa_suppresses_on_the_reported_line(project, run):
    source = BAD_LOSS.replace("tf.square(y_true - y_pred))\n", "tf.square(y_true - y_pred))  # noqa: BSG501\n")
    source = source.replace("tf.math.log(y_pred), axis=-1)\n", "tf.math.log(y_pred), axis=-1)  # noqa\n")
    write(project / "losses.py", source)
    assert run("lint", "losses.py")[0] == 0
    other = BAD_LOSS.replace("tf.square(y_true - y_pred))\n", "tf.square(y_true - y_pred))  # noqa: BSG402\n")
    write(project / "losses.py", other)
    _, out, _ = run("lint", "losses.py", "--output-format", "json")
    assert sorted(i["code"] for i in json.loads(out)) == ["BSG402", "BSG501"]


def test_syntax_error_is_reported_and_the_run_goes_on(project, run):
    write(project / "broken.py", "def loss(y_true, y_pred)\n    return y_pred\n")
    write(project / "losses.py", BAD_LOSS)
    (project / "latin.py").write_bytes(b"def loss(y_true, y_pred):\n    return '\xff\xfe'\n")
    code, out, _ = run("lint", ".", "--output-format", "concise", "-q")
    assert code == 1
    assert "broken.py:1:25: BSG000 file does not parse: expected ':'" in out
    assert ("latin.py:2:13: BSG000 file does not decode: byte 0xff at line 2, column 13 is not valid UTF-8; "
            "save the file as UTF-8 or declare its encoding") in out
    assert "losses.py:5:12: BSG501" in out


def test_directories_recurse_and_skip_vcs_venvs_and_build_output(project, run):
    for folder in (".git", ".venv", "build", "dist", "__pycache__", "env_custom", "pkg/sub"):
        write(project / folder / "losses.py", BAD_LOSS)
    write(project / "env_custom" / "pyvenv.cfg", "home = /usr\n")
    code, out, _ = run("lint", "--output-format", "concise", "-q")
    files = {line.split(":")[0] for line in out.splitlines()}
    assert code == 1 and files == {os.path.join("pkg", "sub", "losses.py")}


def test_exclude_and_force_exclude(project, run):
    write(project / "pyproject.toml", '[tool.bsguard]\nexclude = ["generated"]\n')
    write(project / "generated" / "losses.py", BAD_LOSS)
    assert run("lint")[0] == 0
    assert run("lint", "generated/losses.py")[0] == 1  # explicit paths are linted...
    assert run("lint", "generated/losses.py", "--force-exclude")[0] == 0  # ...unless forced
    assert run("lint", "--exclude", "*.py", "--force-exclude", "generated/losses.py")[0] == 0


def test_pyproject_settings_and_per_file_ignores(project, run):
    write(project / "pyproject.toml", textwrap_config())
    write(project / "src" / "losses.py", BAD_LOSS + "\n\ndef objective(a, b):\n    return b.numpy()\n")
    write(project / "tests" / "loss_helpers.py", BAD_LOSS)  # a test_*.py module defines no losses
    _, out, _ = run("lint", "--output-format", "json")
    found = sorted((item["filename"], item["code"]) for item in json.loads(out))
    assert found == [
        (os.path.join("src", "losses.py"), "BSG402"),
        (os.path.join("src", "losses.py"), "BSG701"),
        (os.path.join("tests", "loss_helpers.py"), "BSG402"),
    ]


def textwrap_config() -> str:
    return (
        "[tool.bsguard]\n"
        'select = ["BSG4", "BSG5", "BSG7"]\n'
        'per-file-ignores = { "src/*" = ["BSG501"], "tests/**" = ["BSG5"] }\n'
        'loss-functions = ["objective"]\n'
    )


def test_bad_configuration_is_exit_2(project, run):
    write(project / "ok.py", CLEAN_LOSS)
    write(project / "pyproject.toml", "[tool.bsguard]\nselectt = ['BSG4']\n")
    code, _, err = run("lint", "ok.py")
    assert code == 2 and "unknown key 'selectt'" in err
    write(project / "pyproject.toml", "[tool.bsguard\n")
    code, _, err = run("lint", "ok.py")  # on the search path: its settings may be the ones meant
    assert code == 2 and "invalid TOML in" in err and "pyproject.toml" in err
    code, _, err = run("lint", "ok.py", "--config", "pyproject.toml")
    assert code == 2 and "invalid TOML" in err
    code, _, err = run("lint", "ok.py", "--config", "missing.toml")
    assert code == 2 and "config file not found" in err
    write(project / "pyproject.toml", "[tool.bsguard]\nignore = 'BSG4'\n")
    code, _, err = run("lint", "ok.py")
    assert code == 2 and "must be a list of strings" in err


def test_cache_reuses_results_and_notices_edits(project, run):
    write(project / "losses.py", BAD_LOSS)
    first = run("lint", "losses.py", "--output-format", "json")
    cache_files = list((project / ".bsguard_cache").glob("results-*.json"))
    assert len(cache_files) == 1
    assert run("lint", "losses.py", "--output-format", "json") == first
    write(project / "losses.py", CLEAN_LOSS)
    assert run("lint", "losses.py")[0] == 0
    assert run("lint", "losses.py", "--no-cache")[0] == 0


def test_rule_and_rules_commands(project, run):
    code, out, _ = run("rule", "bsg301")
    assert code == 0 and out.startswith("BSG301 dead-zone [warning]")
    assert "\nBefore:\n" in out and "\nAfter:\n" in out and "hinge" in out and "``" not in out
    code, out, _ = run("rules", "--output-format", "json")
    rules = json.loads(out)
    assert code == 0 and len(rules) == 16 and {r["code"] for r in rules} >= {"BSG000", "BSG101", "BSG702"}
    assert [r["code"] for r in rules if r["opt_in"]] == ["BSG202", "BSG303"]
    code, _, err = run("rule", "BSG999")
    assert code == 2 and "unknown rule code" in err


def test_console_script_runs_without_traceback(project):
    write(project / "losses.py", BAD_LOSS)
    result = subprocess.run([sys.executable, "-m", "keras_bsguard.cli", "lint", "losses.py", "--no-cache"],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "BSG501" in result.stdout and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "keras_bsguard.cli", "lint", "--output-format", "xml"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_bundled_example_shows_the_readme_findings(run):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "losses.py"
    code, out, _ = run("lint", example, "--no-cache", "--output-format", "json")
    items = json.loads(out)
    assert code == 1
    assert sorted({i["code"] for i in items}) == ["BSG101", "BSG201", "BSG301", "BSG401", "BSG402", "BSG501",
                                                 "BSG502", "BSG601", "BSG602", "BSG603", "BSG701"]
    assert len(items) == 14
    assert not {i["loss"] for i in items} & {"stable_focal_loss", "make_dataset"}
