#!/usr/bin/env python3
"""Per cell, the PCIe bytes each trial received (gpu.pcie_rx_gb), and the time of each
trial's first PCIe counter reading (negative: carried from the trial before), from stores:
    python3 bench/gpu/pcie_first_reading.py A.db [B.db ...]"""
import collections, sqlite3, struct, sys
for db in sys.argv[1:]:
    c = sqlite3.connect(db)
    rows = c.execute("""SELECT t.cell_key, m.value FROM metric m JOIN trial t ON t.id = m.trial_id
                        WHERE m.name = 'gpu.pcie_rx_gb' AND t.phase = 'measure' AND t.status = 'ok'""").fetchall()
    by = collections.defaultdict(list)
    for k, v in rows:
        by[k].append(v)
    print(db, {k: [round(x, 3) for x in v] for k, v in sorted(by.items())})
    firsts = [r[0] for r in c.execute("SELECT t FROM series WHERE name = 'gpu0.pcie_rx_bytes'")]
    t0 = [struct.unpack('<d', b[:8])[0] for b in firsts]
    print("  first PCIe reading's time (ms), per trial:", [round(x * 1e3, 3) for x in t0])
