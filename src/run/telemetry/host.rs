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

/// (process group, resident pages) from /proc/<pid>/stat.
pub fn parse_pid_stat(text: &str) -> Option<(i32, u64)> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(2)?.parse().ok()?, f.get(21)?.parse().ok()?))
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

pub fn pgrp_of(pid: u32) -> Option<i32> {
    let t = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_pid_stat(&t).map(|(g, _)| g)
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

/// Resident memory of every process in group `pgid`, KiB: the trial's process tree, as
/// long as none of it moved to a group of its own.
pub fn group_rss_kib(pgid: i32) -> Result<u64, crate::machine::Unavailable> {
    let dir = fs::read_dir("/proc").map_err(|e| format!("cannot list /proc: {e}"))?;
    let mut pages = 0u64;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // Processes come and go while we look; one that vanished holds no memory.
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((g, rss)) = parse_pid_stat(&text)
            && g == pgid
        {
            pages += rss;
        }
    }
    Ok(pages * page_kib())
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
        assert_eq!(parse_pid_stat(s), Some((4240, 2560)));
    }

    #[test]
    fn this_machine_reads() {
        let (busy, total) = read_cpu().unwrap();
        assert!(total > busy);
        let (t, a) = read_meminfo().unwrap();
        assert!(t >= a && t > 0);
        read_net().unwrap();
        let me = std::process::id();
        let g = pgrp_of(me).unwrap();
        assert!(group_rss_kib(g).unwrap() > 0);
    }
}
