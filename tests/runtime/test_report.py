"""``bsguard report``: renders an event log to one HTML file; bad input is one line, exit 2."""

from __future__ import annotations

import subprocess
import sys

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
                           str(tmp_path / "r.html")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.html").exists()
    bad = subprocess.run([sys.executable, "-m", "keras_bsguard.report", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
