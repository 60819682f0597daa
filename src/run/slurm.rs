//! Scale-out on Slurm: an experiment's trials as a job array. Each array task runs
//! `rigor run FILE --shard i/N` into its own store in a shared results directory; `merge`
//! combines the shards; resubmitting submits only the shards that are not complete.

use std::path::{Path, PathBuf};

/// What `rigor submit` leaves in the results directory for `status` and `merge`
/// (`rigor-submit.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SubmitRecord {
    pub file: PathBuf,
    pub shards: u32,
    pub jobs: Vec<String>,
    /// Trials of the whole (unsharded) plan: each shard plans every warm-up, so the
    /// shards' own counts add up to more. Absent in records of older versions.
    #[serde(default)]
    pub planned_trials: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("{0} has no rigor-submit.json: is it a directory `rigor submit` wrote?")]
    NoRecord(PathBuf),
    #[error("cannot read {path}: {why}")]
    BadRecord { path: PathBuf, why: String },
    #[error("cannot write {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

const RECORD: &str = "rigor-submit.json";

/// Whether `results` holds a submission.
pub fn has_record(results: &Path) -> bool {
    results.join(RECORD).exists()
}

pub fn read_record(results: &Path) -> Result<SubmitRecord, SlurmError> {
    let path = results.join(RECORD);
    let text = std::fs::read_to_string(&path).map_err(|_| SlurmError::NoRecord(results.into()))?;
    serde_json::from_str(&text).map_err(|e| SlurmError::BadRecord {
        path,
        why: e.to_string(),
    })
}

pub fn write_record(results: &Path, r: &SubmitRecord) -> Result<(), SlurmError> {
    let path = results.join(RECORD);
    let text = serde_json::to_string_pretty(r).unwrap_or_default();
    std::fs::write(&path, text).map_err(|error| SlurmError::Write { path, error })
}

/// What `rigor submit --slurm` was asked for.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The experiment file, absolute.
    pub file: PathBuf,
    /// The shared results directory, absolute.
    pub results: PathBuf,
    pub shards: u32,
    pub partition: Option<String>,
    /// At most this many array tasks at once (`--array=…%K`).
    pub max_parallel: Option<u32>,
    /// Extra `#SBATCH` lines' arguments, as given.
    pub sbatch_args: Vec<String>,
    /// The rigor binary the tasks run, absolute.
    pub rigor: PathBuf,
}

/// The store file of shard `i` of `n` (`i` may be the job script's `$SLURM_ARRAY_TASK_ID`).
pub fn shard_store(results: &Path, i: impl std::fmt::Display, n: u32) -> PathBuf {
    results.join(format!("shard-{i}-of-{n}.db"))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The job script for the given array indices (the shards still to run).
pub fn script(s: &Submission, indices: &[u32]) -> String {
    let mut o = String::from("#!/bin/sh\n");
    o.push_str("#SBATCH --job-name=rigor\n");
    let mut array = indices
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    if let Some(k) = s.max_parallel {
        array.push_str(&format!("%{k}"));
    }
    o.push_str(&format!("#SBATCH --array={array}\n"));
    o.push_str(&format!(
        "#SBATCH --output={}/slurm-%A_%a.out\n",
        s.results.display()
    ));
    if let Some(p) = &s.partition {
        o.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    for a in &s.sbatch_args {
        o.push_str(&format!("#SBATCH {a}\n"));
    }
    o.push_str(&format!(
        "# written by rigor submit: shard $SLURM_ARRAY_TASK_ID of {n} of {file}\n\
         # A shard that is resubmitted resumes: its finished trials are kept.\n\
         exec {rigor} run {file} --shard \"$SLURM_ARRAY_TASK_ID/{n}\" --store \"{store}\" --progress lines\n",
        n = s.shards,
        file = quote(&s.file.display().to_string()),
        rigor = quote(&s.rigor.display().to_string()),
        store = shard_store(&s.results, "$SLURM_ARRAY_TASK_ID", s.shards).display(),
    ));
    o
}

/// Shards whose store does not hold a complete run.
pub fn unfinished(results: &Path, n: u32) -> Vec<u32> {
    progress(results, n)
        .into_iter()
        .filter(|p| p.status != "complete")
        .map(|p| p.index)
        .collect()
}

/// One shard's state, from its store.
pub struct ShardProgress {
    pub index: u32,
    /// Attempts finished (of final trials).
    pub finished: usize,
    pub planned: u64,
    /// The run's status, or "not started".
    pub status: String,
}

pub fn progress(results: &Path, n: u32) -> Vec<ShardProgress> {
    (0..n)
        .map(|index| {
            let store = crate::store::Store::open_read(&shard_store(results, index, n)).ok();
            let run = store.as_ref().and_then(|st| {
                let id = st.last_run_id().ok().flatten()?;
                Some((st, id, st.run(id).ok()?))
            });
            match run {
                None => ShardProgress {
                    index,
                    finished: 0,
                    planned: 0,
                    status: "not started".into(),
                },
                Some((st, id, run)) => ShardProgress {
                    index,
                    finished: st
                        .attempts(id)
                        .map(|a| a.values().filter(|(_, f)| *f).count())
                        .unwrap_or(0),
                    planned: run.planned_trials,
                    status: run.status,
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_script_runs_one_shard_per_array_task() {
        let s = Submission {
            file: "/home/u/exp's.toml".into(),
            results: "/shared/results".into(),
            shards: 4,
            partition: Some("gpu".into()),
            max_parallel: Some(2),
            sbatch_args: vec!["--gres=gpu:1".into(), "--time=02:00:00".into()],
            rigor: "/opt/rigor/bin/rigor".into(),
        };
        assert_eq!(
            script(&s, &[0, 2, 3]),
            "#!/bin/sh\n\
             #SBATCH --job-name=rigor\n\
             #SBATCH --array=0,2,3%2\n\
             #SBATCH --output=/shared/results/slurm-%A_%a.out\n\
             #SBATCH --partition=gpu\n\
             #SBATCH --gres=gpu:1\n\
             #SBATCH --time=02:00:00\n\
             # written by rigor submit: shard $SLURM_ARRAY_TASK_ID of 4 of '/home/u/exp'\\''s.toml'\n\
             # A shard that is resubmitted resumes: its finished trials are kept.\n\
             exec '/opt/rigor/bin/rigor' run '/home/u/exp'\\''s.toml' --shard \"$SLURM_ARRAY_TASK_ID/4\" --store \"/shared/results/shard-$SLURM_ARRAY_TASK_ID-of-4.db\" --progress lines\n"
        );
    }
}
