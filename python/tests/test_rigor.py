"""rigor's Python module against stores made by the real binary (scripts/test-python runs
these in a fresh venv with the wheel installed)."""

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import rigor

ROOT = Path(__file__).resolve().parents[2]
LLM = ROOT / "target" / "llm"


def experiment(tmp_path, text):
    f = tmp_path / "exp.toml"
    f.write_text(text)
    return f


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    d = tmp_path_factory.mktemp("quickstart")
    store = d / "q.db"
    rigor.run(ROOT / "examples" / "quickstart.toml", store=store)
    return store


def test_the_binary_is_the_installed_one():
    out = subprocess.run([rigor.binary(), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("rigor ")


def test_quickstart_loads_with_every_planned_trial_and_metric(quickstart):
    r = rigor.load(quickstart)
    assert r.run["experiment"] == "quickstart" and r.run["status"] == "complete"
    measured = r.trials[r.trials.included]
    # planned_trials counts the warm-up ones (one per cell) too.
    assert len(r.trials[r.trials.final]) == int(r.run["planned_trials"]) == 36
    assert len(measured) == 30 and (r.trials[r.trials.final].phase == "warmup").sum() == 6
    assert set(r.cells.variant) == {"sha256", "md5", "blake2b"}
    assert {"param.algo", "param.mb"} <= set(r.cells.columns)
    # The tidy metrics are the stored values, one per trial and metric.
    m = r.metrics
    assert not m.duplicated(["trial_id", "metric"]).any()
    con = sqlite3.connect(quickstart)
    stored = dict(((t, n), v) for t, n, v in con.execute("SELECT trial_id, name, value FROM metric"))
    for row in m.itertuples():
        if (row.trial_id, row.metric) in stored:
            assert row.value == pytest.approx(stored[(row.trial_id, row.metric)], rel=1e-12)
    wall = m[(m.metric == "wall_time") & m.included]
    assert len(wall) == 30 and (wall.value > 0).all()
    assert set(m.variant) == {"sha256", "md5", "blake2b"}
    # The same per-cell means as the report's JSON.
    rep = json.loads(rigor.report(quickstart, format="json"))
    means = wall.groupby("cell").value.mean()
    for c in rep["analysis"]["cells"]:
        assert means[c["cell"]["key"]] == pytest.approx(c["metrics"]["wall_time"]["stats"]["mean"], rel=1e-9)
    assert r.schema_version == 5
    assert r.trials.lane.isna().all() and r.trials.lane_device.isna().all()
    # Environment and telemetry come along.
    assert r.environment.rigor_version.iloc[0] in subprocess.run(
        [rigor.binary(), "--version"], capture_output=True, text=True).stdout
    assert len(r.series) and r.series.name.str.startswith("host.").all()
    for _, s in r.series.groupby(["trial_id", "name"]):
        assert s.t.is_monotonic_increasing


def test_derived_missing_and_failed_trials_are_kept_apart(tmp_path):
    prog = tmp_path / "p.py"
    prog.write_text(
        "import json, sys\n"
        "n = int(sys.argv[1])\n"
        "if n == 3: sys.exit('planted failure')\n"
        "print(json.dumps({'metric': 'items', 'value': 10 * n, 'better': 'higher'}))\n"
        "print(json.dumps({'metric': 'secs', 'value': 2.0 * n, 'unit': 's', 'better': 'lower'}))\n"
        "print(json.dumps({'metric': 'joules', 'missing': 'no energy counter here'}))\n"
    )
    exp = experiment(tmp_path, f"""
[experiment]
name = "mixed"
trials = 2
retries = 0
[telemetry]
host = false
[[workload]]
name = "w"
kind = "command"
command = ["{sys.executable}", "{prog}", "{{n}}"]
params.n = [1, 2, 3]
[[workload.metric]]
name = "joules"
better = "lower"
required = false
[[derived]]
name = "rate"
expr = "items / secs"
unit = "items/s"
better = "higher"
""")
    store = tmp_path / "m.db"
    rigor.run(exp, store=store, check=False)
    r = rigor.load(store, series=False)
    failed = r.trials[r.trials.status != "ok"]
    assert len(failed) == 2 and not failed.included.any()
    assert failed.reason.str.contains("planted failure|exit", regex=True).all()
    rate = r.metrics[r.metrics.metric == "rate"]
    assert len(rate) == 4 and (rate.value == 5.0).all()  # 10n / 2n, derived per trial
    assert not r.metrics[r.metrics.metric == "joules"].value.notna().any()
    assert (r.missing[r.missing.metric == "joules"].reason == "no energy counter here").sum() == 4
    assert len(r.series) == 0


def test_schema_versions_are_checked_with_a_clear_message(quickstart, tmp_path):
    for version, words in [(99, "newer rigor"), (3, "older rigor"), (0, "not a rigor results store")]:
        copy = tmp_path / f"v{version}.db"
        shutil.copy(quickstart, copy)
        con = sqlite3.connect(copy)
        con.execute(f"PRAGMA user_version = {version}")
        con.commit()
        con.close()
        with pytest.raises(rigor.SchemaError, match=words):
            rigor.load(copy)
    with pytest.raises(FileNotFoundError):
        rigor.load(tmp_path / "absent.db")
    (tmp_path / "text.db").write_text("not a database")
    with pytest.raises(rigor.SchemaError, match="not a rigor results store"):
        rigor.load(tmp_path / "text.db")
    # A path with a space and a '#' still opens (read-only URI).
    odd = tmp_path / "a b#c.db"
    shutil.copy(quickstart, odd)
    assert rigor.load(odd, series=False).run["experiment"] == "quickstart"


def test_llm_serve_requests_load_one_row_per_request(tmp_path):
    # Like the Rust suite, nothing is skipped: the real server is built by tests/llm/setup.sh.
    assert (LLM / "bin" / "llama-server").exists(), "no llama.cpp server: run tests/llm/setup.sh (scripts/test does)"
    exp = experiment(tmp_path, f"""
[experiment]
name = "serve"
trials = 1
[[workload]]
name = "serve"
kind = "llm-serve"
server_command = "{LLM}/bin/llama-server -m {LLM}/tiny.gguf --host 127.0.0.1 --port {{port}} -c 2048 -np 4"
endpoint = "completions"
concurrency = 4
requests = 24
warmup_requests = 4
input_len = 16
output_len = 8
records = true
""")
    store = tmp_path / "s.db"
    rigor.run(exp, store=store)
    r = rigor.load(store)
    q = r.requests
    assert len(q) == 28 and q.warmup.sum() == 4
    ok = q[q.error.isna()]
    assert len(ok) == 28 and (ok.output_tokens == 8).all()
    assert (ok.ttft_ms > 0).all() and (ok.e2e_ms >= ok.ttft_ms).all()
    assert all(len(c) >= 1 for c in ok.chunks_s)
    # The trial's own figures agree with the rows: no failure, and its request rate is the
    # measured requests over the load's duration.
    m = r.metrics.set_index("metric").value
    assert m["llm.error_rate"] == 0
    measured = ok[~ok.warmup]
    span = measured.end_s.max() - measured.sent_s.min()
    assert m["llm.req_s"] == pytest.approx(24 / span, rel=0.05)
