"""Run a benchmark's worker in a fresh process per Keras backend (Keras picks its backend at
import time) and read back the JSON line it prints last."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_worker(script: str, backend: str, options: list[str]) -> dict | None:
    """``python script --worker *options`` under ``KERAS_BACKEND=backend``; its last stdout line as
    JSON, or None (with the tail of its stderr printed) when it failed."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, script, "--worker", *options], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"{backend}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])
