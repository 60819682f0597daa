//! Tidy CSV: one row per trial attempt × metric, ready for pandas or R.
//!
//! `included` is true exactly for the rows the statistics used; failed attempts appear too
//! (with whatever rigor measured of them) so nothing is hidden.

use crate::analyse::included;
use crate::store::RunData;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;

pub fn write_csv<W: Write>(data: &RunData, out: W) -> Result<(), csv::Error> {
    let params: BTreeSet<String> = data
        .cells
        .iter()
        .flat_map(|c| c.params.keys().cloned())
        .collect();
    let cells: HashMap<&str, &crate::plan::Cell> =
        data.cells.iter().map(|c| (c.key.as_str(), c)).collect();
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<String> = [
        "run_id",
        "experiment",
        "trial_id",
        "cell",
        "variant",
        "workload",
    ]
    .map(String::from)
    .to_vec();
    header.extend(params.iter().map(|p| format!("param_{p}")));
    header.extend(
        [
            "phase",
            "index",
            "seq",
            "attempt",
            "final",
            "status",
            "included",
            "metric",
            "value",
            "unit",
            "better",
            "n_samples",
            "reason",
        ]
        .map(String::from),
    );
    w.write_record(&header)?;
    for t in &data.trials {
        let cell = cells.get(t.cell_key.as_str());
        let mut base: Vec<String> = vec![
            data.run.id.to_string(),
            data.run.experiment.clone(),
            t.id.to_string(),
            t.cell_key.clone(),
            cell.map(|c| c.variant.clone()).unwrap_or_default(),
            cell.map(|c| c.workload.clone()).unwrap_or_default(),
        ];
        for p in &params {
            base.push(
                cell.and_then(|c| c.params.get(p))
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
            );
        }
        base.extend([
            t.phase.as_str().to_string(),
            t.index.to_string(),
            t.seq.to_string(),
            t.attempt.to_string(),
            t.is_final.to_string(),
            t.status.as_str().to_string(),
            included(t).to_string(),
        ]);
        let reason = t.reason.clone().unwrap_or_default();
        if t.metrics.is_empty() {
            let mut row = base.clone();
            row.extend(["", "", "", "", "", &reason].map(String::from));
            w.write_record(&row)?;
        }
        for m in &t.metrics {
            let mut row = base.clone();
            row.extend([
                m.name.clone(),
                format!("{:?}", m.value),
                m.unit.clone().unwrap_or_default(),
                m.better.clone().unwrap_or_default(),
                m.n_samples.to_string(),
                reason.clone(),
            ]);
            w.write_record(&row)?;
        }
    }
    w.flush()?;
    Ok(())
}
