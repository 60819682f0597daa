//! `rigor serve-bench URL`: the `llm-serve` load once, against a running server. Every
//! field of the workload is a flag (`rigor serve-bench --help` lists them).

use super::exit;
use super::fields::ServeFlags;
use anyhow::Result;
use rigor::run::workload::llm;
use std::process::ExitCode;

#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 every request succeeded (or the error rate is within --max-error-rate); \
    1 requests failed, none succeeded, or the server died; 2 a usage error."
)]
pub struct Args {
    /// Base URL of the server, e.g. http://127.0.0.1:8000 (https too).
    url: String,
    /// Print the summary and every request as JSON.
    #[arg(long)]
    json: bool,
    /// Also measure the client's floor first: the same load against a trivial endpoint
    /// rigor serves itself on loopback, answering at once (a calibration of this machine
    /// and client, never the server's figures).
    #[arg(long)]
    floor: bool,
    #[command(flatten)]
    fields: ServeFlags,
}

pub fn exec(a: Args) -> Result<ExitCode> {
    let json = a.json;
    let mut fields = a.fields.0;
    fields.insert("url", a.url);
    let opts = llm::Options::from_fields(&fields)?;
    let floor = if a.floor {
        Some(llm::floor::measure(&opts, false)?)
    } else {
        None
    };
    let out = llm::run(&opts, None)?;
    let s = &out.summary;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "summary": s,
                "floor": floor,
                "server_counters": out.server_counters,
                "requests": out.records,
            }))?
        );
    } else {
        println!("{}", s.headline());
        let mut t = comfy_table::Table::new();
        t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(["ms", "n", "mean", "median", "p90", "p95", "p99", "max"]);
        let mut rows = vec![
            ("TTFT", &s.ttft_ms),
            ("ITL", &s.itl_ms),
            ("TPOT", &s.tpot_ms),
            ("E2E", &s.e2e_ms),
        ];
        // Open-loop loads: what a user arriving on schedule waited, and how late sends were.
        if s.e2e_sched_ms.is_some() {
            rows.push(("TTFT from schedule", &s.ttft_sched_ms));
            rows.push(("E2E from schedule", &s.e2e_sched_ms));
            rows.push(("send lag", &s.send_lag_ms));
        }
        // Reasoning models: when the reasoning began and when the answer did.
        if s.ttft_reasoning_ms.is_some() {
            rows.push(("to first reasoning", &s.ttft_reasoning_ms));
            rows.push(("to first answer", &s.ttft_answer_ms));
        }
        for (name, d) in rows {
            match d {
                Some(d) => t.add_row(
                    std::iter::once(name.to_string())
                        .chain(std::iter::once(d.n.to_string()))
                        .chain(
                            [d.mean, d.median, d.p90, d.p95, d.p99, d.max]
                                .map(rigor::analyse::words::fmt_num),
                        ),
                ),
                None => t.add_row([name, "0", "not measured", "", "", "", "", ""]),
            };
        }
        println!("{t}");
        if let Some(why) = &s.tokens_missing {
            println!("token counts: {why}");
        }
        if let Some(fl) = &floor {
            let d = |x: &Option<llm::metrics::Dist>| {
                x.as_ref().map_or("not measured".to_string(), |d| {
                    format!("{:.3} ms median, {:.3} ms p99", d.median, d.p99)
                })
            };
            println!(
                "client floor (the same load against a trivial loopback endpoint rigor serves itself, on this machine): TTFT {}, E2E {}, {:.1} req/s, {} failed",
                d(&fl.ttft_ms),
                d(&fl.e2e_ms),
                fl.req_s,
                fl.failed
            );
        }
        if let Some(c) = s.prompt_cached_fraction {
            println!(
                "prompt tokens served from the server's cache: {:.1}%",
                c * 100.0
            );
        }
        if let Some(g) = s.goodput_req_s {
            println!("goodput: {g:.2} req/s within the SLOs");
        } else if let Some(why) = &s.goodput_missing {
            println!("goodput: not measured: {why}");
        }
        if !s.ttft_by_turn.is_empty() {
            let turns: Vec<String> = s
                .ttft_by_turn
                .iter()
                .map(|(t, d)| format!("turn {t} {:.2} ms (p99 {:.2})", d.median, d.p99))
                .collect();
            println!("TTFT by turn, median: {}", turns.join(", "));
        }
        if let Some(d) = &s.server {
            println!("server: {} (by {})", d.server.name(), d.by);
        }
        if let Some(why) = &s.exact_length {
            println!("output lengths: {why}");
        }
        if let Some(c) = &s.connections {
            println!(
                "connections: {} opened, {} reused; keep-alive: {}",
                c.opened, c.reused, c.keep_alive
            );
        }
        if s.retries > 0 {
            println!(
                "{} request(s) sent again: the first send never reached the server (timed from the second)",
                s.retries
            );
        }
        if !s.notes.is_empty() {
            let notes: Vec<String> = s.notes.iter().map(|(k, n)| format!("{k} {n}")).collect();
            println!(
                "notes (what the server left out; no request failed for it): {}",
                notes.join(", ")
            );
        }
        if let Some(lag) = &s.send_lag_ms
            && lag.p99 > rigor::run::workload::llm::metrics::BEHIND_P99_MS
        {
            let capped = matches!(
                opts.plan.load,
                llm::load::Load::Rate {
                    max_concurrency: Some(m),
                    ..
                } if m > 0
            );
            if capped {
                println!(
                    "requests waited for the --max-concurrency cap (send lag p99 {:.1} ms, max {:.1} ms): TTFT and E2E from schedule include that wait",
                    lag.p99, lag.max
                );
            } else {
                println!(
                    "warning: the client fell behind its schedule (send lag p99 {:.1} ms, max {:.1} ms): the server saw a lighter, later load than asked for; give the client more CPUs or lower the rate",
                    lag.p99, lag.max
                );
            }
        }
        if s.cancelled > 0 {
            println!(
                "{} request(s) still in flight when the duration ended were cancelled; the latencies leave them out (set --grace to let them finish)",
                s.cancelled
            );
        }
        for (kind, n, example) in out.failures() {
            println!("{n} failed ({kind}): {example}");
        }
    }
    match out.failure(opts.max_error_rate, true) {
        Some(why) => {
            eprintln!("serve-bench: {why}");
            Ok(exit::code(exit::FAILED))
        }
        None => Ok(exit::code(exit::OK)),
    }
}
