//! Telemetry summarising on samples recorded on a real GPU: an H100 running the bf16 GEMM
//! probe with 10 ms sampling (bench/gpu.sh wrote the fixture with
//! bench/gpu/export_recording.py). The metrics, missing readings and flags rigor stored
//! for that trial must come back from the recording alone.

use rigor::define::config::Telemetry;
use rigor::run::telemetry::{Recording, summarize};
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
struct Fixture {
    recording: Recording,
    metrics: BTreeMap<String, f64>,
    missing: BTreeMap<String, String>,
    flags: Vec<String>,
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string("tests/fixtures/telemetry/h100-gemm-10ms.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn recorded_h100_samples_summarise_to_the_stored_metrics() {
    let f = fixture();
    let s = summarize(&f.recording, &Telemetry::default());
    let got: BTreeMap<String, f64> = s
        .metrics
        .iter()
        .map(|(n, v)| (n.clone(), v.value))
        .collect();
    // Every metric stored when the fixture was recorded is still computed, to the same
    // value; metrics added since (the cadence, the integrated energy, NVML's average
    // power, which that recording lacks) are checked below and in the next test.
    for name in f.metrics.keys() {
        assert!(got.contains_key(name), "{name} is no longer computed");
    }
    let new: Vec<&String> = got.keys().filter(|k| !f.metrics.contains_key(*k)).collect();
    assert_eq!(
        new,
        [
            "gpu.energy_integrated_j",
            "telemetry.sample_ms.mean",
            "telemetry.samples"
        ]
    );
    assert_eq!(got["telemetry.samples"], f.recording.ticks as f64);
    // The counter and the power samples tell the same energy, within 5% on this steady load.
    let (counter, integrated) = (got["gpu.energy_j"], got["gpu.energy_integrated_j"]);
    assert!(
        (integrated / counter - 1.0).abs() < 0.05,
        "counter {counter} J, integrated {integrated} J"
    );
    for (name, want) in &f.metrics {
        let v = got[name];
        assert!(
            (v - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{name}: {v} vs stored {want}"
        );
    }
    let missing: BTreeMap<String, String> = s.missing.into_iter().collect();
    for (name, why) in &f.missing {
        assert_eq!(missing.get(name), Some(why), "{name}");
    }
    assert_eq!(s.flags, f.flags);
}

#[test]
fn recorded_h100_samples_are_physically_plausible() {
    let f = fixture();
    let s = summarize(&f.recording, &Telemetry::default());
    let m = |n: &str| {
        s.metrics
            .iter()
            .find(|x| x.0 == n)
            .map(|x| x.1.value)
            .unwrap()
    };
    // A 700 W card doing bf16 products: energy is power × time within the trial's span.
    let span = f.recording.series["gpu0.power_w"]
        .t
        .last()
        .copied()
        .unwrap();
    let (e, p) = (m("gpu.energy_j"), m("gpu.power_w.mean"));
    assert!(
        e > 0.0 && p > 50.0 && p <= 700.0,
        "energy {e} J, power {p} W"
    );
    assert!(
        (e / (p * span) - 1.0).abs() < 0.25,
        "energy {e} J vs {p} W × {span} s"
    );
    assert!(m("gpu.temp_c.max") > 20.0 && m("gpu.temp_c.max") < 95.0);
    assert!(m("gpu.sm_clock_mhz.mean") > 500.0);
    let frac = m("gpu.throttled_fraction");
    assert!((0.0..=1.0).contains(&frac));
    // The GEMM process was the trial's own: no foreign-process flag.
    assert!(f.recording.processes.iter().all(|p| p.ours));
    assert!(s.flags.iter().all(|f| !f.starts_with("foreign-process")));
    // The trial was sampled about every 10 ms.
    assert!(f.recording.ticks > 100);
}

#[test]
fn recorded_h100_samples_draw_the_telemetry_figure() {
    let f = fixture();
    let plain = rigor::report::figures::timeline("gemm #1", &f.recording.series, &[])
        .unwrap()
        .expect("GPU series give a figure");
    // A measurement window is shaded in every panel.
    let window = [rigor::trial::WindowSpan {
        window: String::new(),
        begin_s: 0.2,
        end_s: 0.4,
    }];
    let svg = rigor::report::figures::timeline("gemm #1", &f.recording.series, &window)
        .unwrap()
        .expect("GPU series give a figure");
    let rects = |s: &str| s.matches("<rect").count();
    assert!(
        rects(&svg) > rects(&plain),
        "no shaded window: {} rects with it, {} without",
        rects(&svg),
        rects(&plain)
    );
    for panel in [
        "power_w [W]",
        "temp_c",
        "sm_clock_mhz",
        "mem_used_mib",
        "pcie_rx_bytes [GB/s]",
    ] {
        assert!(svg.contains(panel), "no {panel} panel");
    }
    // Host series alone draw nothing: the figure is about the GPU.
    let host: BTreeMap<_, _> = f
        .recording
        .series
        .iter()
        .filter(|(k, _)| k.starts_with("host."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(
        rigor::report::figures::timeline("x", &host, &[])
            .unwrap()
            .is_none()
    );
    let png = rigor::report::figures::to_png(&svg, 1.0).unwrap();
    assert!(png.len() > 10_000);
    // Left to look at, beside the HTML report's screenshot.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-html");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("telemetry-h100.png"), png).unwrap();
}
