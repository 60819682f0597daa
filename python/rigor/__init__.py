"""rigor from Python: the results of a run as pandas DataFrames, and the command line.

    import rigor
    r = rigor.load("rigor-results/quickstart.db")
    r.metrics.groupby(["variant", "metric"]).value.mean()

`load` reads a results store (SQLite; its schema is documented in docs/store.md) and
returns a `Results` of DataFrames. `run` and `report` call the `rigor` binary that came
with this package. Nothing here measures or computes statistics: the binary does, and a
notebook gets the same numbers as `rigor report`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

if TYPE_CHECKING:  # pragma: no cover
    import pandas

__all__ = ["Results", "SchemaError", "SCHEMA_VERSIONS", "binary", "load", "report", "run"]

#: Store schema versions this module reads (SQLite's `user_version`; docs/store.md).
SCHEMA_VERSIONS = (4, 5)

PathLike = Union[str, "os.PathLike[str]"]


class SchemaError(RuntimeError):
    """The store's schema is one this module does not read."""


def binary() -> str:
    """The `rigor` executable: `$RIGOR_BIN`, else the one installed with this package, else
    the first on `PATH`."""
    env = os.environ.get("RIGOR_BIN")
    if env:
        return env
    exe = "rigor" + (".exe" if sys.platform == "win32" else "")
    # Where pip, uv and pipx put a wheel's scripts: this environment's, then the user's.
    dirs = [sysconfig.get_path("scripts")]
    dirs += [sysconfig.get_path("scripts", s) for s in ("posix_user", "nt_user") if s in sysconfig.get_scheme_names()]
    for d in dirs:
        candidate = Path(d) / exe
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(exe)
    if found:
        return found
    raise FileNotFoundError(
        "the rigor binary was not found: install rigor (pip install rigor-bench), put it on PATH, "
        "or set RIGOR_BIN to its path"
    )


def _pd():
    try:
        import pandas
    except ImportError as e:  # pragma: no cover
        raise ImportError("rigor.load needs pandas: pip install 'rigor-bench[pandas]'") from e
    return pandas


@dataclass
class Results:
    """One run of a results store, as tidy DataFrames.

    - `run`: the run (experiment, status, seed, planned trials, the experiment file's text).
    - `cells`: one row per cell (variant × workload × sweep point), parameters as columns
      `param.NAME`.
    - `trials`: one row per trial attempt: cell, variant, workload, phase (`warmup`,
      `measure`, or `isolation` for the isolation check's trials run alone), index, attempt,
      `final`, `status` (`ok`, `failed`, `timeout`), `reason`, `included` (counts in the
      statistics: a final, successful, measured trial), wall time, notes, validity flags,
      and with lanes `lane` and `lane_device` (NaN / None without lanes; a lane index is
      per machine: in a merged Slurm run, join `session_id` to `environment` for the host).
    - `metrics`: one row per trial and metric (derived metrics included), with unit,
      direction, and `included` — exactly the values `rigor report` uses. Read through the
      binary (`rigor report --format csv`), which computes the derived ones.
    - `missing`: metrics a trial could not measure, with the reason.
    - `requests`: `llm-serve` runs: one row per request (times in s from the load's start,
      `ttft_ms`, `e2e_ms`, tokens, error, and `chunks_s` as a list of arrival times).
    - `series`: telemetry, long form: trial, series name, unit, kind, `t` (s) and `value`.
    - `environment`: one row per session (each `rigor run` invocation): rigor's version, the
      command line, and the machine as flattened columns (`environment.gpus`…).
    """

    path: str
    run_id: int
    run: "pandas.Series"
    cells: "pandas.DataFrame"
    trials: "pandas.DataFrame"
    metrics: "pandas.DataFrame"
    missing: "pandas.DataFrame"
    requests: "pandas.DataFrame"
    series: "pandas.DataFrame"
    environment: "pandas.DataFrame"
    schema_version: int

    def __repr__(self) -> str:
        return (
            f"<rigor.Results {self.path}#{self.run_id} {self.run['experiment']!r}: "
            f"{len(self.trials)} trials, {len(self.metrics)} metric values, "
            f"{len(self.requests)} requests, {self.series['name'].nunique() if len(self.series) else 0} series>"
        )


def _connect(path: Path) -> "tuple[sqlite3.Connection, int]":
    if not path.is_file():
        raise FileNotFoundError(f"no results store at {path}")
    # Read-only, so that loading never changes a store another process may be writing.
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as e:
        conn.close()
        raise SchemaError(f"{path}: not a rigor results store ({e})") from e
    if version not in SCHEMA_VERSIONS:
        conn.close()
        if version > max(SCHEMA_VERSIONS):
            raise SchemaError(
                f"{path}: written by a newer rigor (store schema {version}; this rigor.load reads "
                f"{', '.join(map(str, SCHEMA_VERSIONS))}): pip install -U rigor-bench"
            )
        if version == 0:
            raise SchemaError(f"{path}: not a rigor results store (no schema version)")
        raise SchemaError(
            f"{path}: written by an older rigor (store schema {version}; this rigor.load reads "
            f"{', '.join(map(str, SCHEMA_VERSIONS))}). `rigor report` reads it as it is; to load it here, "
            f"let this rigor upgrade it in place by resuming its run once: `rigor run EXPERIMENT --store {path}`"
        )
    return conn, version


def _floats(blob: Optional[bytes]) -> list:
    import struct

    if not blob:
        return []
    return list(struct.unpack(f"<{len(blob) // 8}d", blob))


def _json_list(s: Optional[str]) -> list:
    return json.loads(s) if s else []


def load(path: PathLike, run: Optional[int] = None, *, series: bool = True) -> Results:
    """Reads run `run` of the store at `path` (default: its latest run).

    `series=False` skips the telemetry series, which can be large."""
    pd = _pd()
    p = Path(path)
    conn, version = _connect(p)
    try:
        runs = pd.read_sql_query("SELECT * FROM run ORDER BY id", conn)
        if runs.empty:
            raise ValueError(f"{p}: the store holds no run yet")
        run_id = int(runs["id"].iloc[-1]) if run is None else int(run)
        if run_id not in set(runs["id"]):
            raise ValueError(f"{p}: no run {run_id}; its runs are {', '.join(map(str, runs['id']))}")
        run_row = runs.set_index("id").loc[run_id]

        cells = pd.read_sql_query(
            "SELECT key AS cell, variant, workload, params, sweep, position FROM cell WHERE run_id = ? "
            "ORDER BY position",
            conn,
            params=(run_id,),
        )
        params = pd.json_normalize([json.loads(s) for s in cells.pop("params")]) if len(cells) else pd.DataFrame()
        params.columns = [f"param.{c}" for c in params.columns]
        cells["sweep"] = [json.loads(s) for s in cells["sweep"]]
        cells = pd.concat([cells.reset_index(drop=True), params.reset_index(drop=True)], axis=1)

        trials = pd.read_sql_query(
            "SELECT t.id AS trial_id, t.session_id, t.cell_key AS cell, c.variant, c.workload, t.phase, "
            "t.idx AS \"index\", t.seq, t.attempt, t.final, t.status, t.reason, t.exit_code, t.signal, "
            "t.started_at, t.wall_s, t.notes, t.flags"
            + (", t.lane, t.lane_device" if version >= 5 else ", NULL AS lane, NULL AS lane_device")
            + " FROM trial t JOIN cell c "
            "ON c.run_id = t.run_id AND c.key = t.cell_key WHERE t.run_id = ? ORDER BY t.seq, t.attempt",
            conn,
            params=(run_id,),
        )
        trials["final"] = trials["final"].astype(bool)
        trials["included"] = trials["final"] & (trials["status"] == "ok") & (trials["phase"] == "measure")
        trials["notes"] = [_json_list(s) for s in trials["notes"]]
        trials["flags"] = [_json_list(s) for s in trials["flags"]]
        trials["started_at"] = pd.to_datetime(trials["started_at"], utc=True, errors="coerce")

        missing = pd.read_sql_query(
            "SELECT m.trial_id, m.name AS metric, m.reason FROM missing_metric m JOIN trial t "
            "ON t.id = m.trial_id WHERE t.run_id = ? ORDER BY m.trial_id, m.name",
            conn,
            params=(run_id,),
        )

        req = pd.read_sql_query(
            "SELECT r.* FROM request r JOIN trial t ON t.id = r.trial_id WHERE t.run_id = ? "
            "ORDER BY r.trial_id, r.idx",
            conn,
            params=(run_id,),
        )
        if len(req):
            req["warmup"] = req["warmup"].astype(bool)
            req["chunks_s"] = [_floats(b) for b in req["chunks_s"]]
            detail = pd.json_normalize([json.loads(d) if d else {} for d in req.pop("detail")])
            req = pd.concat([req.reset_index(drop=True), detail.reset_index(drop=True)], axis=1)
            ok = req["error"].isna()
            req["ttft_ms"] = ((req["first_token_s"] - req["sent_s"]) * 1e3).where(ok)
            req["e2e_ms"] = ((req["end_s"] - req["sent_s"]) * 1e3).where(ok)
        req = req.rename(columns={"idx": "index"})

        if series:
            rows = []
            for trial_id, name, unit, kind, t, v in conn.execute(
                "SELECT s.trial_id, s.name, s.unit, s.kind, s.t, s.v FROM series s JOIN trial t "
                "ON t.id = s.trial_id WHERE t.run_id = ? ORDER BY s.trial_id, s.name",
                (run_id,),
            ):
                ts, vs = _floats(t), _floats(v)
                rows.append(pd.DataFrame({"trial_id": trial_id, "name": name, "unit": unit, "kind": kind,
                                          "t": ts, "value": vs}))
            ser = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
                columns=["trial_id", "name", "unit", "kind", "t", "value"])
        else:
            ser = pd.DataFrame(columns=["trial_id", "name", "unit", "kind", "t", "value"])

        sessions = pd.read_sql_query(
            "SELECT id AS session_id, started_at, ended_at, status, rigor_version, command_line, environment "
            "FROM session WHERE run_id = ? ORDER BY id",
            conn,
            params=(run_id,),
        )
        env = pd.json_normalize([json.loads(e) for e in sessions.pop("environment")]) if len(sessions) else pd.DataFrame()
        env.columns = [f"environment.{c}" for c in env.columns]
        environment = pd.concat([sessions.reset_index(drop=True), env.reset_index(drop=True)], axis=1)
    finally:
        conn.close()

    metrics = _metrics(p, run_id, pd)
    return Results(
        path=str(p),
        run_id=run_id,
        run=run_row,
        cells=cells,
        trials=trials,
        metrics=metrics,
        missing=missing,
        requests=req,
        series=ser,
        environment=environment,
        schema_version=version,
    )


def _metrics(path: Path, run_id: int, pd) -> "pandas.DataFrame":
    """Every trial's metrics as the report sees them, derived ones included, from the binary."""
    with tempfile.TemporaryDirectory(prefix="rigor-load-") as tmp:
        out = subprocess.run(
            [binary(), "report", str(path), "--run", str(run_id), "--format", "csv", "--out", tmp],
            capture_output=True,
            text=True,
        )
        csv = Path(tmp) / "trials.csv"
        if out.returncode != 0 or not csv.is_file():
            raise RuntimeError(f"rigor report could not read {path}: {out.stderr.strip() or out.stdout.strip()}")
        # Only an empty field is missing (a parameter may be the string "NA").
        m = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    if "included" in m:
        m["included"] = m["included"].astype(str).str.lower() == "true"
    keep = [c for c in ("trial_id", "cell", "variant", "workload", "phase", "index", "attempt", "status",
                        "included", "metric", "value", "unit", "better", "n_samples") if c in m.columns]
    params = [c for c in m.columns if c.startswith("param_")]
    m = m[keep + params].rename(columns={c: "param." + c[len("param_"):] for c in params})
    # A failed trial with no metric has a row of its own (empty metric): it is in `trials`.
    m = m[m["metric"].notna()].reset_index(drop=True)
    # Each parameter as the cells table types it: numbers where every value is one.
    for c in m.columns:
        if c.startswith("param."):
            conv = pd.to_numeric(m[c], errors="coerce")
            if conv.notna().sum() == m[c].notna().sum():
                m[c] = conv
    return m


def run(experiment: PathLike, *args: str, store: Optional[PathLike] = None, check: bool = True,
        quiet: bool = True) -> subprocess.CompletedProcess:
    """`rigor run EXPERIMENT [--store STORE] ARGS…`; raises on failure unless `check=False`.
    Its output is captured (`.stdout`, `.stderr`)."""
    cmd = [binary(), "run", str(experiment), "--progress", "none"]
    if store is not None:
        cmd += ["--store", str(store)]
    if quiet:
        cmd.append("--quiet")
    cmd += list(args)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if check and out.returncode != 0:
        raise subprocess.CalledProcessError(out.returncode, cmd, out.stdout, out.stderr)
    return out


def report(store: PathLike, *, format: Union[str, Sequence[str]] = "md", out: Optional[PathLike] = None,
           args: Sequence[str] = ()) -> str:
    """`rigor report STORE --format … [--out DIR]`: with `out`, the directory written; without,
    the report's text (Markdown by default)."""
    fmt = format if isinstance(format, str) else ",".join(format)
    cmd = [binary(), "report", str(store), "--format", fmt, *args]
    if out is not None:
        cmd += ["--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise subprocess.CalledProcessError(res.returncode, cmd, res.stdout, res.stderr)
    return str(out) if out is not None else res.stdout


def _main() -> Any:  # `python -m rigor …` runs the binary
    os.execv(binary(), [binary(), *sys.argv[1:]])
