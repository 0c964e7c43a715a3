"""``bsguard report``: renders an event log to one HTML file; bad input is one line, exit 2."""

from __future__ import annotations

import html
import os
import re
import stat
import subprocess
import sys
import warnings
from pathlib import Path

from keras_bsguard.event_log import EventLog
from keras_bsguard.report import main


def _write_run(path):
    log = EventLog(str(path))
    for monitor in ("step_time", "gradient_norm", "memory"):
        log.write({"type": "run", "monitor": monitor, "run": "r1", "backend": "jax"})
    for step in range(10, 110, 10):
        slow = step > 60
        log.write({"type": "window", "monitor": "step_time", "run": "r1", "step": step,
                   "step_time": 0.002, "data_time": 0.010 if slow else 0.0001})
        log.write({"type": "window", "monitor": "gradient_norm", "run": "r1", "step": step,
                   "grad_norm": 1.0 / step, "grad_norm_max": 2.0 / step})
        log.write({"type": "window", "monitor": "memory", "run": "r1", "step": step,
                   "memory_peak": 800.0 + step, "source": "host_rss"})
    log.write({"type": "event", "monitor": "step_time", "run": "r1", "step": 70,
               "kind": "data_time_drift", "message": "Training slowed down: input wait grew.\n  "
               "Evidence: <b>x100</b>"})
    return log.path


def test_report_writes_html_with_embedded_plots_and_prints_summary(tmp_path, capsys):
    events = _write_run(tmp_path / "run.jsonl")
    out = tmp_path / "report.html"
    png = tmp_path / "report.png"
    assert main([events, "-o", str(out), "--png", str(png)]) == 0
    html = out.read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "&lt;b&gt;x100&lt;/b&gt;" in html  # event text is escaped
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "data_time_drift" in printed and "step_time" in printed and "wrote" in printed


def test_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path, capsys):
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for argv in ([str(tmp_path / "missing.jsonl")], [str(garbage)], [str(empty)], [],
                 ["a.jsonl", "--bogus"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("bsguard report: error:") and err.count("\n") == 1, err


def test_runs_as_a_module(tmp_path):
    events = _write_run(tmp_path / "run.jsonl")
    done = subprocess.run([sys.executable, "-m", "keras_bsguard.report", events, "-o",
                           str(tmp_path / "r.html")], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.html").exists()
    bad = subprocess.run([sys.executable, "-m", "keras_bsguard.report", str(tmp_path / "nope")],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# ---- no matplotlib, atomic writes ----------------------------------------------------------


def _folder_state(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_without_matplotlib_one_line_names_the_extra_and_nothing_is_written(tmp_path, capsys,
                                                                             monkeypatch):
    from keras_bsguard import cli

    events = _write_run(tmp_path / "run.jsonl")
    out, png = tmp_path / "report.html", tmp_path / "report.png"
    out.write_bytes(b"<html>the good report of yesterday</html>")
    png.write_bytes(b"\x89PNG old")
    before = _folder_state(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert cli.main(["report", events, "-o", str(out), "--png", str(png)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("bsguard report: error: the report needs matplotlib")
    assert 'pip install "keras-bsguard[keras]"' in captured.err
    assert _folder_state(tmp_path) == before  # old files byte-identical, no temporary file


def test_a_failure_while_writing_leaves_the_old_report_untouched(tmp_path, capsys, monkeypatch):
    from keras_bsguard import report

    events = _write_run(tmp_path / "run.jsonl")
    out = tmp_path / "report.html"
    out.write_bytes(b"old report")
    before = _folder_state(tmp_path)

    def full_disk(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report.os, "replace", full_disk)
    assert main([events, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"bsguard report: error: cannot write {out}: No space left on device\n"
    assert _folder_state(tmp_path) == before
    monkeypatch.undo()

    def broken_plot(records):
        raise RuntimeError("boom")

    monkeypatch.setattr(report.report_plots, "build_figures", broken_plot)
    assert main([events, "-o", str(out)]) == 2  # a failure while rendering: nothing written
    err = capsys.readouterr().err
    assert err.startswith("bsguard report: error: internal error: RuntimeError: boom")
    assert _folder_state(tmp_path) == before


def test_a_new_report_replaces_the_old_one_and_keeps_its_mode(tmp_path):
    events = _write_run(tmp_path / "run.jsonl")
    out = tmp_path / "report.html"
    out.write_text("old")
    os.chmod(out, 0o640)
    assert main([events, "-o", str(out)]) == 0
    assert out.read_text().startswith("<!doctype html>")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "run.jsonl"]


def test_the_output_may_not_replace_the_event_log(tmp_path, capsys):
    events = _write_run(tmp_path / "run.jsonl")
    before = Path(events).read_bytes()
    assert main([events, "-o", events]) == 2
    assert "would replace the event log" in capsys.readouterr().err
    assert Path(events).read_bytes() == before


# ---- torn and malformed lines --------------------------------------------------------------


def test_a_torn_last_line_is_skipped_with_a_note(tmp_path, capsys):
    events = _write_run(tmp_path / "run.jsonl")
    lines = Path(events).read_text().count("\n")
    with open(events, "a") as handle:  # the run was killed while writing its next record
        handle.write('{"type": "window", "monitor": "memory", "run": "r1", "step": 11')
    out = tmp_path / "report.html"
    assert main([events, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == (f"bsguard report: note: {events}:{lines + 1}: skipped the last line: it "
                            f"is cut off (incomplete, no newline at the end; the run was probably "
                            f"stopped while writing it)\n")
    page = out.read_text()
    assert f"Note: {events}:{lines + 1}: skipped the last line" in page
    assert page.count("data:image/png;base64,") == 3
    assert "wrote" in captured.out


def test_a_torn_multibyte_character_on_the_last_line_is_a_torn_line_too(tmp_path, capsys):
    events = _write_run(tmp_path / "run.jsonl")
    with open(events, "ab") as handle:
        handle.write('{"type": "event", "message": "\u00e9'.encode()[:-1])  # half of a UTF-8 char
    assert main([events, "-o", str(tmp_path / "r.html")]) == 0
    assert "skipped the last line" in capsys.readouterr().err


def test_a_bad_line_in_the_middle_or_a_bad_terminated_last_line_is_an_error(tmp_path, capsys):
    events = _write_run(tmp_path / "run.jsonl")
    lines = Path(events).read_text().splitlines(keepends=True)
    middle = tmp_path / "middle.jsonl"
    middle.write_text("".join(lines[:5]) + '{"type": "window", "mon\n' + "".join(lines[5:]))
    out = tmp_path / "report.html"
    out.write_text("old")
    assert main([str(middle), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bsguard report: error: {middle}:6: not a JSON object") \
        and err.count("\n") == 1, err
    assert out.read_text() == "old"
    terminated = tmp_path / "terminated.jsonl"  # a complete line that is not JSON: not a torn write
    terminated.write_text("".join(lines) + "{oops}\n")
    assert main([str(terminated), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{terminated}:{len(lines) + 1}: not a JSON object" in err and err.count("\n") == 1
    assert out.read_text() == "old"


# ---- the HTML ------------------------------------------------------------------------------


def test_every_image_has_alt_text_describing_the_plot_and_labels_are_human(tmp_path):
    events = _write_run(tmp_path / "run.jsonl")
    out = tmp_path / "report.html"
    assert main([events, "-o", str(out)]) == 0
    page = out.read_text()
    images = re.findall(r"<h2>([^<]*)</h2><img alt=\"([^\"]*)\" src='data:image/png", page)
    assert [title for title, _ in images] == ["Step time and input wait", "Gradient norm", "Memory"]
    for title, alt in images:
        assert alt != title and len(alt) > 100, alt
        assert "training steps" in alt and "10 windows, steps 10 to 100" in alt, alt
    step_alt, grad_alt, memory_alt = (html.unescape(alt) for _, alt in images)
    assert "input wait per step 0.1 ms in the first window, 10 ms in the last" in step_alt
    assert "input wait grew at step 70" in step_alt
    assert "axis from 0 MiB" in memory_alt and "host memory (RSS) from 810 MiB to 900 MiB" in memory_alt
    assert "gradient norm" in grad_alt
    table = page[page.index("<table>"):page.index("</table>")]
    assert "<td>step time</td>" in table and "<td>gradient norm</td>" in table
    assert "input wait grew" in table and "step_time" not in table and "host_rss" not in table
    assert "<h3>step 70 &middot; step time &middot; input wait grew (data_time_drift)</h3>" in page


# ---- a real run ----------------------------------------------------------------------------


def test_report_of_a_real_fit_with_the_three_monitors(tmp_path, capsys):
    from runtime_helpers import mlp, regression_data

    from keras_bsguard import GradientNormMonitor, MemoryMonitor, StepTimeMonitor

    log = EventLog(str(tmp_path / "run.jsonl"))
    model = mlp()
    model.compile("adam", "mse")
    x, y = regression_data(n=320)
    with warnings.catch_warnings():  # a timing warning on a busy machine is not this test's matter
        warnings.simplefilter("ignore")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[
            StepTimeMonitor(window=5, event_log=log), GradientNormMonitor(window=5, event_log=log),
            MemoryMonitor(window=5, event_log=log)])
    out = tmp_path / "report.html"
    assert main([log.path, "-o", str(out), "--png", str(tmp_path / "all.png")]) == 0
    page = out.read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "no finite gradient norm" not in page  # a clean run: no window is marked
    assert "host memory (RSS)" in page or "device memory" in page
    assert (tmp_path / "all.png").read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().err == ""
