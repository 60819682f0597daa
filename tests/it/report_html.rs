//! The HTML report in a real browser (Debian's `chromium`, headless): it loads from disk
//! with no console errors and no network request, every figure is in the page as SVG, and a
//! screenshot of it is not blank. The screenshot is left in target/report-html/ to look at.

use std::path::{Path, PathBuf};
use std::process::Command;

/// rigor's output; the command must succeed.
fn rigor(dir: &Path, args: &[&str]) -> String {
    let out = crate::common::rigor_in(dir, args);
    let text = crate::common::text(&out);
    assert!(out.status.success(), "rigor {args:?}:\n{text}");
    text
}

fn chromium(profile: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(crate::common::require("chromium", "chromium"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// URLs of the requests a file:// page started, from a Chromium net log.
fn page_requests(netlog: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(netlog).expect("chromium wrote no net log");
    let log: serde_json::Value = serde_json::from_str(&text).expect("net log is JSON");
    let mut urls: Vec<String> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let p = &e["params"];
            let init = p["initiator"].as_str()?;
            (init == "null" || init.starts_with("file:"))
                .then(|| p["url"].as_str().map(String::from))
                .flatten()
        })
        .collect();
    urls.dedup();
    urls
}

#[test]
fn html_report_opens_offline_in_a_real_browser_with_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("e.toml"),
        r#"[experiment]
name = "html"
seed = 7
baseline = "fast"
trials = 4
order = "interleaved"

[[variant]]
name = "fast"
params = { f = "1" }
[[variant]]
name = "slow"
params = { f = "2" }

[[workload]]
name = "nap"
kind = "command"
# The pid varies from trial to trial, so the metric is not a constant.
command = "sleep 0.0{f}; echo '{\"metric\": \"nap_ms\", \"value\": {f}{ms}.'$$', \"unit\": \"ms\", \"better\": \"lower\"}'"
params = { ms = [5, 10] }

[[hypothesis]]
metric = "nap_ms"
variant = "slow"
claim = "slower"
"#,
    )
    .unwrap();
    rigor(d, &["run", "e.toml", "--store", "r.db", "-q"]);
    rigor(
        d,
        &["report", "r.db", "--format", "html,tex", "--out", "out"],
    );
    let html = d.join("out/report.html");
    let page = std::fs::read_to_string(&html).unwrap();
    let figures: Vec<PathBuf> = std::fs::read_dir(d.join("out/figures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    // heatmap, forest, and per metric a distribution (nap_ms, wall_time) and a sweep plot.
    assert!(figures.len() >= 5, "{figures:?}");
    for f in &figures {
        let png = f.with_extension("png");
        assert!(
            std::fs::metadata(&png).unwrap().len() > 5_000,
            "{}",
            png.display()
        );
    }
    assert!(
        !page.contains("<script"),
        "the report must not need scripts"
    );
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));

    let profile = d.join("profile");
    let url = format!("file://{}", html.display());
    let netlog = d.join("netlog.json");
    let shot_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-html");
    std::fs::create_dir_all(&shot_dir).unwrap();
    let shot = shot_dir.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let (_, log) = chromium(
        &profile,
        &[
            &format!("--log-net-log={}", netlog.display()),
            "--window-size=1280,3000",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    // Console messages are logged as CONSOLE(line) "...": a self-contained page has none.
    assert!(!log.contains("CONSOLE"), "console output:\n{log}");
    // No request came from the page. The browser's own background requests carry no
    // initiator ("not an origin"); a file:// page's carry "null". The control page, with
    // one external image, proves the check sees a page's request.
    assert_eq!(
        page_requests(&netlog),
        Vec::<String>::new(),
        "network requests"
    );
    let control = d.join("control.html");
    std::fs::write(
        &control,
        "<img src=\"http://127.0.0.1:9/x.png\"><p>control</p>",
    )
    .unwrap();
    let control_log = d.join("control-netlog.json");
    chromium(
        &profile,
        &[
            &format!("--log-net-log={}", control_log.display()),
            "--dump-dom",
            &format!("file://{}", control.display()),
        ],
    );
    assert_eq!(page_requests(&control_log), ["http://127.0.0.1:9/x.png"]);

    let (dom, _) = chromium(&profile, &["--dump-dom", &url]);
    assert_eq!(
        dom.matches("<figure id=\"fig-").count(),
        figures.len(),
        "every figure file is in the page"
    );
    assert_eq!(dom.matches("<svg").count(), figures.len());
    assert!(dom.contains("SUPPORTED: slow is slower than fast on nap_ms"));
    // The screenshot shows a page, not a blank: plenty of non-white pixels.
    let png = resvg::tiny_skia::Pixmap::decode_png(&std::fs::read(&shot).unwrap()).unwrap();
    let inked = png
        .pixels()
        .iter()
        .filter(|p| p.red() < 200 || p.green() < 200 || p.blue() < 200)
        .count();
    assert!(
        inked * 50 > png.pixels().len(),
        "screenshot nearly blank: {inked} of {} pixels",
        png.pixels().len()
    );
    // The LaTeX tables are booktabs tables with units in the header.
    let tex = std::fs::read_to_string(d.join("out/tables.tex")).unwrap();
    assert!(
        tex.contains("\\toprule") && tex.contains("Mean [ms]"),
        "{tex}"
    );
}
