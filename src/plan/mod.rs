//! Plan: the experiment's cells and the exact, seeded order of every trial.

pub mod invocation;
use crate::define::config::{Experiment, Order, ParamValue};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One (variant, workload, parameter values) combination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// Stable identity across runs and versions: `variant/workload[a=1,b=x]`.
    pub key: String,
    pub variant: String,
    pub workload: String,
    /// Every parameter value of the cell: the workload's sweep point and the variant's own.
    pub params: BTreeMap<String, ParamValue>,
    /// Just the workload's sweep point; cells with equal `sweep` are compared across variants.
    pub sweep: BTreeMap<String, ParamValue>,
}

impl Cell {
    /// `workload[a=1,b=x]`: what a variant is compared on.
    pub fn comparison_key(&self) -> String {
        format!("{}{}", self.workload, fmt_params(&self.sweep))
    }
}

pub fn fmt_params(params: &BTreeMap<String, ParamValue>) -> String {
    if params.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("[{}]", inner.join(","))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Warmup,
    Measure,
    /// A trial of the isolation cell run alone, every other lane idle: compared with the
    /// cell's measured trials beside busy lanes, never pooled with them.
    Isolation,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Warmup => "warmup",
            Phase::Measure => "measure",
            Phase::Isolation => "isolation",
        }
    }
    pub fn parse(s: &str) -> Option<Phase> {
        match s {
            "warmup" => Some(Phase::Warmup),
            "measure" => Some(Phase::Measure),
            "isolation" => Some(Phase::Isolation),
            _ => None,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A trial's identity within a run: which cell, which phase, which repetition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TrialKey {
    pub cell: String,
    pub phase: Phase,
    /// 0-based repetition index within the cell and phase.
    pub index: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedTrial {
    /// Position in the run order, 0-based.
    pub seq: usize,
    /// Index into [`Plan::cells`].
    pub cell: usize,
    pub phase: Phase,
    pub index: u32,
    /// The lane it runs on, 0-based; absent without lanes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lane: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub cells: Vec<Cell>,
    pub trials: Vec<PlannedTrial>,
    pub order: Order,
    pub seed: u64,
    /// Trials run side by side; 1 without lanes.
    #[serde(skip_serializing_if = "is_one")]
    pub lanes: u32,
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

impl Plan {
    pub fn key(&self, t: &PlannedTrial) -> TrialKey {
        TrialKey {
            cell: self.cells[t.cell].key.clone(),
            phase: t.phase,
            index: t.index,
        }
    }

    pub fn measured(&self) -> usize {
        self.trials
            .iter()
            .filter(|t| t.phase == Phase::Measure)
            .count()
    }
}

/// Cells: variants in file order, then workloads in file order, then sweep points in
/// lexicographic order of parameter name and file order of values.
pub fn cells(exp: &Experiment) -> Vec<Cell> {
    let mut out = Vec::new();
    for v in &exp.variants {
        for w in &exp.workloads {
            for sweep in cross_product(&w.params) {
                let mut params = v.params.clone();
                params.extend(sweep.clone());
                out.push(Cell {
                    key: format!("{}/{}{}", v.name, w.name, fmt_params(&params)),
                    variant: v.name.clone(),
                    workload: w.name.clone(),
                    params,
                    sweep,
                });
            }
        }
    }
    out
}

fn cross_product(axes: &BTreeMap<String, Vec<ParamValue>>) -> Vec<BTreeMap<String, ParamValue>> {
    let mut points = vec![BTreeMap::new()];
    for (name, values) in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.insert(name.clone(), v.clone());
                    q
                })
            })
            .collect();
    }
    points
}

/// The full plan. Warm-up trials come first (in the same order scheme), then measured ones.
/// With lanes, on as many lanes as the file names (`gpus = "all"` is counted by the
/// runner, which calls [`build_for`]).
pub fn build(exp: &Experiment) -> Plan {
    build_for(
        exp,
        exp.lanes.as_ref().and_then(|l| l.declared()).unwrap_or(1),
    )
}

/// The plan on `lanes` lanes. With more than one:
/// - each cell's warm-ups turn through the lanes, starting at a lane of their own, so every
///   lane warms up and the experiment runs the trials it runs on one lane (a multiple of
///   the lanes warms every cell on every lane);
/// - measured trials form a randomised complete block design with the lane as the block:
///   each cell's trials 0..L, L..2L, … are spread over the L lanes in a random permutation,
///   so every cell runs equally often on every lane when its trials are a multiple of L;
/// - the isolation check's alone trials of the isolation cell are spread evenly through the
///   measured ones, each on the next lane in turn.
///
/// Within a lane, trials run in plan order, so each lane's order is the experiment's order
/// scheme too. One lane gives exactly the plan without lanes.
pub fn build_for(exp: &Experiment, lanes: usize) -> Plan {
    let lanes = lanes.max(1);
    let cells = cells(exp);
    let n = cells.len();
    let mut rng = ChaCha8Rng::seed_from_u64(exp.seed);
    let mut trials = Vec::new();
    let rounds =
        |phase: Phase, count: u32, rng: &mut ChaCha8Rng, out: &mut Vec<(usize, Phase, u32)>| {
            // Warm-ups of a shuffled run are round-robin: every cell is warm before any
            // measured trial, whatever the shuffle puts first.
            let scheme = match (exp.order, phase) {
                (Order::Shuffled, Phase::Warmup) => Order::Interleaved,
                (order, _) => order,
            };
            match scheme {
                Order::Sequential => {
                    for c in 0..n {
                        for i in 0..count {
                            out.push((c, phase, i));
                        }
                    }
                }
                Order::Interleaved => {
                    for i in 0..count {
                        out.extend((0..n).map(|c| (c, phase, i)));
                    }
                }
                Order::Randomized => {
                    for i in 0..count {
                        let mut round: Vec<usize> = (0..n).collect();
                        round.shuffle(rng);
                        out.extend(round.into_iter().map(|c| (c, phase, i)));
                    }
                }
                Order::Shuffled => {
                    let mut all: Vec<(usize, u32)> = (0..count)
                        .flat_map(|i| (0..n).map(move |c| (c, i)))
                        .collect();
                    all.shuffle(rng);
                    // Repetition indices follow run order within each cell, so index 0 is that
                    // cell's first measured trial whatever the shuffle did.
                    let mut next = vec![0u32; n];
                    for (c, _) in all {
                        out.push((c, phase, next[c]));
                        next[c] += 1;
                    }
                }
            }
        };
    let mut order = Vec::new();
    rounds(Phase::Warmup, exp.warmup, &mut rng, &mut order);
    rounds(Phase::Measure, exp.trials, &mut rng, &mut order);
    for (seq, (cell, phase, index)) in order.into_iter().enumerate() {
        trials.push(PlannedTrial {
            seq,
            cell,
            phase,
            index,
            lane: None,
        });
    }
    if lanes > 1 {
        assign_lanes(&mut trials, n, lanes, exp.seed);
        let isolation = exp.lanes.as_ref().map_or(0, |l| l.isolation);
        add_isolation(&mut trials, isolation_cell(exp, &cells), isolation, lanes);
    }
    Plan {
        cells,
        trials,
        order: exp.order,
        seed: exp.seed,
        lanes: lanes as u32,
    }
}

/// The cell the isolation check runs alone: the baseline's first.
pub fn isolation_cell(exp: &Experiment, cells: &[Cell]) -> usize {
    cells
        .iter()
        .position(|c| c.variant == exp.baseline)
        .unwrap_or(0)
}

/// Warm-ups round-robin from the cell's own lane; measured trials in blocks of `lanes` per
/// cell, each block a seeded permutation of the lanes. Its own random stream: the order
/// does not change.
fn assign_lanes(trials: &mut [PlannedTrial], cells: usize, lanes: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1a4e_5b1c_0c4d_e51a);
    let most = trials
        .iter()
        .map(|t| t.index as usize + 1)
        .max()
        .unwrap_or(0);
    let blocks = most.div_ceil(lanes);
    // perms[cell][block]: drawn cell by cell, block by block, whatever the run order.
    let perms: Vec<Vec<Vec<u32>>> = (0..cells)
        .map(|_| {
            (0..blocks)
                .map(|_| {
                    let mut p: Vec<u32> = (0..lanes as u32).collect();
                    p.shuffle(&mut rng);
                    p
                })
                .collect()
        })
        .collect();
    for t in trials.iter_mut() {
        let i = t.index as usize;
        t.lane = Some(match t.phase {
            Phase::Measure => perms[t.cell][i / lanes][i % lanes],
            _ => ((i + t.cell) % lanes) as u32,
        });
    }
}

/// Inserts `k` (rounded up to a multiple of the lanes) alone trials of `cell` among the
/// measured trials, evenly spaced, on lanes in turn; renumbers `seq`.
fn add_isolation(trials: &mut Vec<PlannedTrial>, cell: usize, k: u32, lanes: usize) {
    if k == 0 {
        return;
    }
    // As many on every lane: the alone trials then have the lanes' mix that the cell's
    // measured trials have, so a lane that is simply slower cannot pass for interference.
    let k = k.div_ceil(lanes as u32) * lanes as u32;
    let first = trials
        .iter()
        .position(|t| t.phase == Phase::Measure)
        .unwrap_or(trials.len());
    let measured = trials.len() - first;
    // After measured trial floor((j + 1) · M / (k + 1)): none first or last, where a lane
    // would be alone anyway (warm-ups are still running, or the tail has drained).
    for j in (0..k).rev() {
        let at = first + ((j as usize + 1) * measured) / (k as usize + 1);
        trials.insert(
            at,
            PlannedTrial {
                seq: 0,
                cell,
                phase: Phase::Isolation,
                index: j,
                lane: Some(j % lanes as u32),
            },
        );
    }
    for (seq, t) in trials.iter_mut().enumerate() {
        t.seq = seq;
    }
}

/// Keeps shard `i` of `n` (0-based) of a plan's measured trials, in plan order: trial
/// `index` of cell `c` goes to shard `(index + c) % n`, so every cell's trials spread evenly
/// over the shards (the nodes they run on). Every shard keeps all warm-up trials: its node
/// needs them as much as any.
///
/// `block` is the number of lanes the file declares (1 without lanes, and with `gpus =
/// "all"`, counted on each node: the split must be the same on every node). A cell with at
/// least one whole block of trials for every shard goes to the shards in whole blocks
/// (`index / block` for `index`): a block is a permutation of the lanes, so each node runs
/// the cell equally often on each of its own lanes. A cell with fewer goes trial by trial,
/// so that it still reaches every node: a cell on only some nodes would compare nodes, not
/// variants.
pub fn shard(plan: &mut Plan, i: u32, n: u32, block: u32) {
    let (block, n) = (block.max(1) as usize, n.max(1) as usize);
    let mut measured = vec![0usize; plan.cells.len()];
    for t in plan.trials.iter().filter(|t| t.phase == Phase::Measure) {
        measured[t.cell] = measured[t.cell].max(t.index as usize + 1);
    }
    plan.trials.retain(|t| {
        // Alone trials always in whole blocks: a node's alone trials then cover its lanes
        // alike, so a slower lane cannot pass for interference.
        let unit = if t.phase == Phase::Isolation || measured[t.cell] / block >= n {
            t.index as usize / block
        } else {
            t.index as usize
        };
        t.phase == Phase::Warmup || (unit + t.cell) % n == i as usize
    });
}

/// What balances a shard's lanes: trials a multiple of lanes × shards, when the file
/// declares the lanes (`declared`); with `gpus = "all"` no count does (see [`shard`]).
pub fn shard_balance_hint(lanes: u32, shards: u32, declared: bool) -> String {
    if declared {
        format!(
            "with {shards} shards, a cell is balanced on each node's lanes when its trials are a multiple of {} (lanes × shards)",
            lanes * shards
        )
    } else {
        "with `gpus = \"all\"` each node counts its own lanes, so shards go trial by trial and a node's lanes are balanced only by chance: name the GPUs (`gpus = [0, 1]`) to balance them".into()
    }
}

/// A note when some cell does not run equally often on every lane.
pub fn lane_balance(plan: &Plan) -> Option<String> {
    if plan.lanes < 2 {
        return None;
    }
    let mut counts = vec![vec![0u32; plan.lanes as usize]; plan.cells.len()];
    for t in plan.trials.iter().filter(|t| t.phase == Phase::Measure) {
        counts[t.cell][t.lane.unwrap_or(0) as usize % plan.lanes as usize] += 1;
    }
    let uneven = counts
        .iter()
        .filter(|c| c.iter().max() != c.iter().min())
        .count();
    (uneven > 0).then(|| {
        format!(
            "{uneven} cell(s) do not run equally often on each of the {} lanes: their trials are not a multiple of {}; the lane is then partly confounded with the variant (set trials to a multiple of the lanes)",
            plan.lanes, plan.lanes
        )
    })
}

/// How long a plan should take, from the median wall time of earlier trials of each cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Trials run plus cooldowns, for the cells that have history.
    pub known: std::time::Duration,
    /// Cells never run before: their trials are not in `known`.
    pub cells_without_history: usize,
    /// Cooldowns alone (between consecutive trials).
    pub cooldowns: std::time::Duration,
    /// The worst case if every trial ran to the timeout.
    pub upper_bound: Option<std::time::Duration>,
}

pub fn estimate(
    plan: &Plan,
    exp: &Experiment,
    history: &std::collections::HashMap<String, Vec<f64>>,
) -> Estimate {
    // With lanes, the lanes' trials overlap: the run takes as long as its busiest lane,
    // plus the alone trials, which overlap nothing.
    let lanes = plan.lanes.max(1) as usize;
    let mut per_lane = vec![(0usize, std::time::Duration::ZERO); lanes];
    let mut alone = (0usize, std::time::Duration::ZERO);
    let mut without = 0;
    let medians: Vec<Option<f64>> = plan
        .cells
        .iter()
        .map(|cell| {
            let h = history.get(&cell.key).filter(|h| !h.is_empty())?;
            let mut h = h.clone();
            h.sort_by(f64::total_cmp);
            Some(crate::stats::percentile(&h, 50.0))
        })
        .collect();
    for (i, m) in medians.iter().enumerate() {
        if m.is_none() && plan.trials.iter().any(|t| t.cell == i) {
            without += 1;
        }
    }
    for t in &plan.trials {
        let slot = if t.phase == Phase::Isolation {
            &mut alone
        } else {
            &mut per_lane[t.lane.unwrap_or(0) as usize % lanes]
        };
        slot.0 += 1;
        if let Some(m) = medians[t.cell] {
            slot.1 += std::time::Duration::from_secs_f64(m);
        }
    }
    let busiest = per_lane.iter().map(|l| l.0).max().unwrap_or(0);
    let gaps = (busiest + alone.0).saturating_sub(1) as u32;
    let cooldowns = exp.cooldown * gaps;
    let known = per_lane.iter().map(|l| l.1).max().unwrap_or_default() + alone.1 + cooldowns;
    Estimate {
        known,
        cells_without_history: without,
        cooldowns,
        upper_bound: exp
            .timeout
            .map(|t| t * (busiest + alone.0) as u32 + cooldowns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::define::config::parse_experiment;
    use std::path::Path;

    fn exp(order: &str, trials: u32, warmup: u32) -> Experiment {
        let text = format!(
            r#"
[experiment]
name = "t"
seed = 7
trials = {trials}
warmup = {warmup}
order = "{order}"
[[variant]]
name = "a"
[[variant]]
name = "b"
[[workload]]
name = "w"
kind = "command"
command = "echo {{size}} {{mode}}"
params = {{ size = [1, 2], mode = "x" }}
"#
        );
        parse_experiment(Path::new("t.toml"), &text).unwrap()
    }

    fn cell_counts(plan: &Plan, phase: Phase) -> Vec<u32> {
        let mut counts = vec![0; plan.cells.len()];
        for t in plan.trials.iter().filter(|t| t.phase == phase) {
            counts[t.cell] += 1;
        }
        counts
    }

    #[test]
    fn cells_are_the_cross_product_with_stable_keys() {
        let plan = build(&exp("sequential", 1, 0));
        let keys: Vec<&str> = plan.cells.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "a/w[mode=x,size=1]",
                "a/w[mode=x,size=2]",
                "b/w[mode=x,size=1]",
                "b/w[mode=x,size=2]"
            ]
        );
        assert_eq!(plan.cells[2].comparison_key(), "w[mode=x,size=1]");
    }

    #[test]
    fn every_order_runs_each_cell_the_planned_number_of_times() {
        for order in ["sequential", "interleaved", "randomized", "shuffled"] {
            let plan = build(&exp(order, 5, 2));
            assert_eq!(plan.trials.len(), 4 * 7, "{order}");
            assert_eq!(cell_counts(&plan, Phase::Measure), vec![5; 4], "{order}");
            assert_eq!(cell_counts(&plan, Phase::Warmup), vec![2; 4], "{order}");
            let first_measure = plan
                .trials
                .iter()
                .position(|t| t.phase == Phase::Measure)
                .unwrap();
            assert!(
                plan.trials[..first_measure]
                    .iter()
                    .all(|t| t.phase == Phase::Warmup),
                "{order}"
            );
            let mut keys: Vec<TrialKey> = plan.trials.iter().map(|t| plan.key(t)).collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), 28, "{order}: trial keys must be unique");
        }
    }

    #[test]
    fn orders_have_their_shapes() {
        let seq = build(&exp("sequential", 3, 0));
        let cells: Vec<usize> = seq.trials.iter().map(|t| t.cell).collect();
        assert_eq!(cells, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
        let inter = build(&exp("interleaved", 3, 0));
        let cells: Vec<usize> = inter.trials.iter().map(|t| t.cell).collect();
        assert_eq!(cells, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
        let rand = build(&exp("randomized", 3, 0));
        for round in rand.trials.chunks(4) {
            let mut c: Vec<usize> = round.iter().map(|t| t.cell).collect();
            c.sort();
            assert_eq!(c, [0, 1, 2, 3], "each round holds every cell once");
        }
    }

    #[test]
    fn random_orders_are_reproducible_from_the_seed_and_change_with_it() {
        for order in ["randomized", "shuffled"] {
            let a = build(&exp(order, 10, 1));
            assert_eq!(a, build(&exp(order, 10, 1)));
            let mut e = exp(order, 10, 1);
            e.seed = 8;
            assert_ne!(a.trials, build(&e).trials, "{order}");
        }
    }

    #[test]
    fn shards_of_a_lane_plan_keep_each_cell_balanced_on_each_node() {
        let e = exp("randomized", 8, 1);
        let full = build_for(&e, 2);
        let key = |t: &PlannedTrial| (t.cell, t.phase, t.index, t.lane);
        let mut union = Vec::new();
        for i in 0..3 {
            let mut p = full.clone();
            shard(&mut p, i, 3, 2);
            assert!(
                lane_balance(&p).is_none(),
                "shard {i}: {:?}",
                lane_balance(&p)
            );
            for c in 0..p.cells.len() {
                let mut on = [0, 0];
                for t in p
                    .trials
                    .iter()
                    .filter(|t| t.cell == c && t.phase == Phase::Measure)
                {
                    on[t.lane.unwrap() as usize] += 1;
                }
                assert_eq!(on[0], on[1], "shard {i}, cell {c}");
            }
            union.extend(
                p.trials
                    .iter()
                    .filter(|t| t.phase != Phase::Warmup)
                    .map(key),
            );
        }
        let mut want: Vec<_> = full
            .trials
            .iter()
            .filter(|t| t.phase != Phase::Warmup)
            .map(key)
            .collect();
        union.sort();
        want.sort();
        assert_eq!(union, want, "every trial in exactly one shard");

        // 4 trials are 2 blocks, too few for 3 shards: trial by trial, every cell on
        // every node; the alone trials of the isolation check still in whole blocks.
        let mut e = exp("randomized", 4, 0);
        e.lanes = Some(crate::define::config::Lanes {
            devices: crate::define::config::LaneDevices::Cpus(vec!["0".into(), "1".into()]),
            numa: false,
            isolation: 2,
        });
        let few = build_for(&e, 2);
        let mut alone = 0;
        for i in 0..3 {
            let mut p = few.clone();
            shard(&mut p, i, 3, 2);
            for c in 0..p.cells.len() {
                assert!(p.trials.iter().any(|t| t.cell == c), "shard {i}, cell {c}");
            }
            let lanes: Vec<u32> = p
                .trials
                .iter()
                .filter(|t| t.phase == Phase::Isolation)
                .map(|t| t.lane.unwrap())
                .collect();
            assert!(
                lanes.is_empty() || lanes.len() == 2 && lanes[0] != lanes[1],
                "{lanes:?}"
            );
            alone += lanes.len();
        }
        assert_eq!(alone, 2);
    }
}
