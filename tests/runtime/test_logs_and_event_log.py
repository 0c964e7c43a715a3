"""All three monitors together: figures in logs (History, CSVLogger), event log, clean runs."""

from __future__ import annotations

import csv
import json
import math
import warnings

from monitor_helpers import model_warnings
from runtime_helpers import mlp, regression_data

from keras_bsguard import (
    EventLog,
    GradientNormMonitor,
    MemoryMonitor,
    StepTimeMonitor,
)
from keras_bsguard.warnings import StepTimeWarning

KEYS = ("step_time", "data_time", "callback_time", "grad_norm", "memory_peak", "memory_fraction")


def _monitors(event_log, window=5):
    return [
        StepTimeMonitor(window=window, event_log=event_log),
        GradientNormMonitor(window=window, event_log=event_log),
        MemoryMonitor(window=window, event_log=event_log),
    ]


def test_csv_logger_file_holds_the_figures(tmp_path):
    import keras

    model = mlp()
    model.compile("adam", "mse")
    x, y = regression_data(n=160)
    csv_path = tmp_path / "log.csv"
    callbacks = _monitors(EventLog(str(tmp_path / "run.jsonl")))
    callbacks.append(keras.callbacks.CSVLogger(str(csv_path)))
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=callbacks)
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 3
    for row in rows:
        for key in KEYS:
            value = float(row[key])
            assert math.isfinite(value) and value >= 0, (key, row[key])
        assert float(row["grad_norm"]) > 0 and float(row["step_time"]) > 0


def _clean_fit(tmp_path):
    model = mlp()
    model.compile("adam", "mse")
    x, y = regression_data(n=640)
    log = EventLog(str(tmp_path))
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.2,
                            callbacks=_monitors(log))
    return model, (x, y), log, history, model_warnings(records)


def test_clean_run_of_all_monitors_warns_nothing_and_logs_windows(tmp_path):
    model, (x, y), log, history, found = _clean_fit(tmp_path / "first")
    # Gradient and memory verdicts do not depend on the machine: none, on the first run.
    assert not [w for w in found if not issubclass(w.category, StepTimeWarning)], \
        [str(w.message) for w in found]
    # A timing verdict can come from other jobs on a shared CI machine that this process could
    # not see as CPU wait (I/O, memory bandwidth). A false positive of the monitor repeats on every
    # fresh run; disturbances do not (a shared 2-core CI machine once disturbed two runs in a row).
    seen = [found]
    for attempt in range(2):
        if not seen[-1]:
            break
        model, (x, y), log, history, again = _clean_fit(tmp_path / f"again{attempt}")
        seen.append(again)
    assert not seen[-1], [[str(w.message) for w in warned] for warned in seen]
    for key in KEYS:
        assert len(history.history[key]) == 3
    with open(log.path) as handle:
        records = [json.loads(line) for line in handle]
    monitors = {r["monitor"] for r in records if r["type"] == "window"}
    assert monitors == {"step_time", "gradient_norm", "memory"}
    assert len({r["run"] for r in records}) == 3  # one run id per monitor per fit
    # The model is left as it was: Keras's own step, rebuilt lazily on the next fit.
    assert "train_step" not in model.__dict__
    second = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert "grad_norm" not in second.history
