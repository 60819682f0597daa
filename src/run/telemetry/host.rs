//! Host readings from /proc: CPU time, memory, network bytes, and the resident memory of a
//! trial's process group. Parsers are pure functions of the file text.

use std::fs;

/// (busy, total) CPU time in ticks over all CPUs, from /proc/stat's `cpu` line. Guest
/// time is already inside user time, so it is not added again.
pub fn parse_cpu(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if f.len() < 5 {
        return None;
    }
    let total: u64 = f.iter().sum();
    let idle = f[3] + f[4];
    Some((total - idle, total))
}

/// (MemTotal, MemAvailable) in KiB.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((get("MemTotal:")?, get("MemAvailable:")?))
}

/// (received, transmitted) bytes summed over every interface but loopback.
pub fn parse_net_dev(text: &str) -> Option<(u64, u64)> {
    let mut rx = 0u64;
    let mut tx = 0u64;
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 9 {
            return None;
        }
        rx = rx.checked_add(f[0].parse().ok()?)?;
        tx = tx.checked_add(f[8].parse().ok()?)?;
    }
    // A machine with only loopback has honestly moved 0 bytes over the network.
    Some((rx, tx))
}

/// One process's line of /proc/<pid>/stat: what the trial's tree is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidStat {
    pub ppid: u32,
    pub pgrp: i32,
    /// Resident pages.
    pub rss: u64,
}

/// (parent, process group, resident pages) from /proc/<pid>/stat.
pub fn parse_pid_stat(text: &str) -> Option<PidStat> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(PidStat {
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        rss: f.get(21)?.parse().ok()?,
    })
}

fn pid_stat(pid: u32) -> Option<PidStat> {
    parse_pid_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

pub fn read_cpu() -> Result<(u64, u64), crate::machine::Unavailable> {
    let t = fs::read_to_string("/proc/stat").map_err(|e| format!("cannot read /proc/stat: {e}"))?;
    parse_cpu(&t).ok_or_else(|| "/proc/stat has no readable `cpu` line".into())
}

pub fn read_meminfo() -> Result<(u64, u64), crate::machine::Unavailable> {
    let t = fs::read_to_string("/proc/meminfo")
        .map_err(|e| format!("cannot read /proc/meminfo: {e}"))?;
    parse_meminfo(&t).ok_or_else(|| "/proc/meminfo lacks MemTotal or MemAvailable".into())
}

pub fn read_net() -> Result<(u64, u64), crate::machine::Unavailable> {
    let t = fs::read_to_string("/proc/net/dev")
        .map_err(|e| format!("cannot read /proc/net/dev: {e}"))?;
    parse_net_dev(&t).ok_or_else(|| "/proc/net/dev is not in the expected format".into())
}

/// /proc/stat, /proc/meminfo and /proc/net/dev held open and re-read in place: a sample is
/// taken before and after every trial, and opening three files each time, and reading all
/// of /proc/stat (a line per CPU) for its first line, was most of its cost.
pub struct HostReader {
    stat: Option<std::fs::File>,
    meminfo: Option<std::fs::File>,
    net: Option<std::fs::File>,
    buf: Vec<u8>,
}

impl HostReader {
    pub fn open() -> HostReader {
        let f = |p: &str| std::fs::File::open(p).ok();
        HostReader {
            stat: f("/proc/stat"),
            meminfo: f("/proc/meminfo"),
            net: f("/proc/net/dev"),
            buf: vec![0; 4096],
        }
    }

    /// The first `limit` bytes of a file (all of it when `limit` is None), from offset 0:
    /// /proc regenerates its text on every read from the start.
    fn read(
        file: &Option<std::fs::File>,
        buf: &mut Vec<u8>,
        limit: Option<usize>,
        path: &str,
    ) -> Result<String, crate::machine::Unavailable> {
        use std::os::unix::fs::FileExt;
        let Some(f) = file else {
            return fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}").into());
        };
        let mut len = 0;
        loop {
            if len == buf.len() {
                if limit.is_some_and(|l| len >= l) {
                    break;
                }
                buf.resize(buf.len() * 2, 0);
            }
            let end = limit.map_or(buf.len(), |l| l.min(buf.len()));
            let n = f
                .read_at(&mut buf[len..end], len as u64)
                .map_err(|e| format!("cannot read {path}: {e}"))?;
            len += n;
            if n == 0 || limit.is_some_and(|l| len >= l) {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
    }

    pub fn cpu(&mut self) -> Result<(u64, u64), crate::machine::Unavailable> {
        // The `cpu` line comes first and fits in 512 bytes.
        let t = Self::read(&self.stat, &mut self.buf, Some(512), "/proc/stat")?;
        match parse_cpu(&t) {
            Some(v) => Ok(v),
            None => read_cpu(),
        }
    }

    pub fn meminfo(&mut self) -> Result<(u64, u64), crate::machine::Unavailable> {
        // MemTotal and MemAvailable are the first and third lines.
        let t = Self::read(&self.meminfo, &mut self.buf, Some(512), "/proc/meminfo")?;
        match parse_meminfo(&t) {
            Some(v) => Ok(v),
            None => read_meminfo(),
        }
    }

    pub fn net(&mut self) -> Result<(u64, u64), crate::machine::Unavailable> {
        let t = Self::read(&self.net, &mut self.buf, None, "/proc/net/dev")?;
        parse_net_dev(&t).ok_or_else(|| "/proc/net/dev is not in the expected format".into())
    }
}

/// Whether `pid` belongs to the trial whose process group is `pgid`: in that group, or a
/// descendant of a process in it. A server the trial starts in a group of its own (so
/// that it can be stopped as a whole) is still the trial's.
pub fn in_trial(pid: u32, pgid: i32) -> bool {
    let mut at = pid;
    // Bounded: a parent chain deeper than this is not a process tree anyone builds.
    for _ in 0..64 {
        let Some(st) = pid_stat(at) else {
            return false;
        };
        if st.pgrp == pgid {
            return true;
        }
        if st.ppid <= 1 {
            return false;
        }
        at = st.ppid;
    }
    false
}

pub fn comm_of(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

fn page_kib() -> u64 {
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 { p as u64 / 1024 } else { 4 }
}

/// Resident memory of the trial's processes, KiB: those in group `pgid` and their
/// descendants in groups of their own (see [`in_trial`]).
pub fn group_rss_kib(pgid: i32) -> Result<u64, crate::machine::Unavailable> {
    let dir = fs::read_dir("/proc").map_err(|e| format!("cannot list /proc: {e}"))?;
    let mut all = std::collections::HashMap::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // Processes come and go while we look; one that vanished holds no memory.
        if let Some(st) = pid_stat(pid) {
            all.insert(pid, st);
        }
    }
    Ok(tree_rss_pages(&all, pgid) * page_kib())
}

/// The resident pages of the processes in group `pgid` and of all their descendants.
fn tree_rss_pages(all: &std::collections::HashMap<u32, PidStat>, pgid: i32) -> u64 {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    for (&pid, st) in all {
        children.entry(st.ppid).or_default().push(pid);
    }
    let mut stack: Vec<u32> = all
        .iter()
        .filter(|(_, st)| st.pgrp == pgid)
        .map(|(&p, _)| p)
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut pages = 0;
    while let Some(p) = stack.pop() {
        if !seen.insert(p) {
            continue;
        }
        pages += all.get(&p).map_or(0, |st| st.rss);
        stack.extend(children.get(&p).into_iter().flatten().copied());
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_line_gives_busy_and_total() {
        let stat = "cpu  100 5 50 800 20 3 2 10 7 0\ncpu0 1 2 3 4 5 6 7 8 9 0\n";
        // total = 100+5+50+800+20+3+2+10 = 990; idle = 800 + 20.
        assert_eq!(parse_cpu(stat), Some((170, 990)));
        assert_eq!(parse_cpu("intr 1 2 3\n"), None);
    }

    #[test]
    fn meminfo_and_net_dev_parse_and_skip_loopback() {
        let mi = "MemTotal:       24576000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(parse_meminfo(mi), Some((24_576_000, 20_000_000)));
        let nd = "Inter-|   Receive |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 5000 10 0 0 0 0 0 0 5000 10 0 0 0 0 0 0\n  eth0: 1200 3 0 0 0 0 0 0 800 2 0 0 0 0 0 0\n  ens5: 34 1 0 0 0 0 0 0 66 1 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(nd), Some((1234, 866)));
        assert_eq!(parse_net_dev("a\nb\n  eth0: 1 2\n"), None);
    }

    #[test]
    fn pid_stat_survives_parentheses_in_the_name() {
        let s = "4242 (my (odd) prog) S 1 4240 4240 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 12345 1000000 2560 18446744073709551615";
        assert_eq!(
            parse_pid_stat(s),
            Some(PidStat {
                ppid: 1,
                pgrp: 4240,
                rss: 2560
            })
        );
    }

    #[test]
    fn a_descendant_in_a_group_of_its_own_is_the_trials() {
        // 10 leads group 10; 11 (its child) started 12 in group 12, which started 13;
        // 20 is another tenant.
        let st = |ppid, pgrp, rss| PidStat { ppid, pgrp, rss };
        let all = [
            (10, st(1, 10, 1)),
            (11, st(10, 10, 2)),
            (12, st(11, 12, 40)),
            (13, st(12, 12, 100)),
            (20, st(1, 20, 1000)),
        ]
        .into_iter()
        .collect();
        assert_eq!(tree_rss_pages(&all, 10), 143);
        assert_eq!(tree_rss_pages(&all, 20), 1000);
    }

    #[test]
    fn a_reader_held_open_reads_what_a_fresh_read_does() {
        let mut r = HostReader::open();
        for _ in 0..3 {
            let (busy, total) = r.cpu().unwrap();
            let (b2, t2) = read_cpu().unwrap();
            assert!(b2 >= busy && t2 >= total && total > 0);
            assert_eq!(r.meminfo().unwrap().0, read_meminfo().unwrap().0);
            let (rx, _) = r.net().unwrap();
            assert!(read_net().unwrap().0 >= rx);
        }
    }

    #[test]
    fn this_machine_reads() {
        let (busy, total) = read_cpu().unwrap();
        assert!(total > busy);
        let (t, a) = read_meminfo().unwrap();
        assert!(t >= a && t > 0);
        read_net().unwrap();
        let me = std::process::id();
        let g = pid_stat(me).unwrap().pgrp;
        assert!(group_rss_kib(g).unwrap() > 0);
        assert!(in_trial(me, g));
        assert!(!in_trial(me, -7));
    }
}
