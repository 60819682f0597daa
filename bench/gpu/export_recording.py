"""Exports one trial's telemetry from a rigor store as a test fixture: the Recording
(series included) and the telemetry metrics, missing readings and flags rigor stored for
it. tests/telemetry_fixture.rs checks that summarising the recording gives those values.

usage: python3 export_recording.py STORE.db > fixture.json"""
import json
import sqlite3
import struct
import sys

db = sqlite3.connect(sys.argv[1])
trial_id, telemetry, flags = db.execute(
    "SELECT id, telemetry, flags FROM trial WHERE status = 'ok' AND telemetry IS NOT NULL "
    "ORDER BY seq DESC LIMIT 1"
).fetchone()
rec = json.loads(telemetry)
rec["series"] = {}
for name, unit, kind, t, v in db.execute(
    "SELECT name, unit, kind, t, v FROM series WHERE trial_id = ?", (trial_id,)
):
    unpack = lambda b: list(struct.unpack(f"<{len(b) // 8}d", b))
    rec["series"][name] = {"unit": unit, "kind": kind, "t": unpack(t), "v": unpack(v)}
tele = lambda n: n.startswith(("gpu", "host."))
metrics = {
    n: v for n, v in db.execute("SELECT name, value FROM metric WHERE trial_id = ?", (trial_id,)) if tele(n)
}
missing = {
    n: r for n, r in db.execute("SELECT name, reason FROM missing_metric WHERE trial_id = ?", (trial_id,)) if tele(n)
}
json.dump({"recording": rec, "metrics": metrics, "missing": missing, "flags": json.loads(flags)}, sys.stdout)
