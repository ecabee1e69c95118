"""scripts/loadtest.py, briefly: it starts its own single-node stack, sends jobs and
transfers for a few seconds, ends by itself, and nothing accepted is lost.

Outcomes only: the latencies it reports are figures, never asserted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aitbc.ops.harness import ROOT

pytestmark = pytest.mark.faults


def test_bounded_load_loses_nothing(tmp_path):
    try:
        from aitbc.ops.ollama_server import find_ollama
        find_ollama()
    except Exception as err:  # noqa: BLE001
        pytest.skip(str(err))
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "loadtest.py"), "--seconds", "15", "--rate", "1",
                           "--transfer-rate", "4", "--dir", str(tmp_path / "stack")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.stdout, done.stderr[-3000:]
    report = json.loads(done.stdout)
    (ROOT / "build" / "faults").mkdir(parents=True, exist_ok=True)
    (ROOT / "build" / "faults" / "loadtest-last-run.json").write_text(done.stdout)
    assert report["accepted"] > 0 and report["transfers"]["committed_ok"] > 0, report
    assert report["lost"] == 0, report["jobs"]
    assert report["transfers"]["lost"] == 0 and report["transfers"]["dropped"] == 0, report["transfers"]
    assert report["accepted"] == report["completed"] + report["refunded"] + report["jobs"].get("failed_before_chain", 0)
    assert report["chain"]["audit_ok"] and report["chain"]["app_hashes_agree"], report["chain"]
    assert report["left_running"] == [], report["left_running"]
    assert done.returncode == 0, done.stderr[-3000:]
