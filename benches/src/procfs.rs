//! CPU time and memory of a process from `/proc`, and the process listening on a TCP port.

use std::fs;
use std::io;

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 if that fails).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime (fields 14 and 15) in ticks, from the text of `/proc/<pid>/stat`. The command
/// name (field 2) may contain spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state): utime is field 14 = fields[11]
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn parse_status_bytes(status: &str, key: &str) -> Option<u64> {
    let line = status
        .lines()
        .find(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU seconds (all threads, user + system) of a process.
pub fn cpu_seconds(pid: u32, ticks_per_s: f64) -> io::Result<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks =
        parse_stat_cpu_ticks(&stat).ok_or_else(|| io::Error::other("malformed /proc/pid/stat"))?;
    Ok(ticks as f64 / ticks_per_s)
}

/// CPU seconds of the calling thread: `/proc/thread-self/schedstat` (ns, the first field) when
/// the kernel keeps it, else utime + stime of `/proc/thread-self/stat` (clock ticks).
pub fn thread_cpu_seconds(ticks_per_s: f64) -> io::Result<f64> {
    let from_schedstat = fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| parse_schedstat_ns(&s))
        .filter(|ns| *ns > 0);
    if let Some(ns) = from_schedstat {
        return Ok(ns as f64 / 1e9);
    }
    let stat = fs::read_to_string("/proc/thread-self/stat")?;
    let ticks = parse_stat_cpu_ticks(&stat)
        .ok_or_else(|| io::Error::other("malformed /proc/thread-self/stat"))?;
    Ok(ticks as f64 / ticks_per_s)
}

/// The time on CPU (ns) from the text of a `schedstat` file.
pub fn parse_schedstat_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// A `kB` field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
pub fn status_bytes(pid: u32, key: &str) -> io::Result<Option<u64>> {
    Ok(parse_status_bytes(
        &fs::read_to_string(format!("/proc/{pid}/status"))?,
        key,
    ))
}

/// Socket inodes in LISTEN state (`0A`) on `port`, from the text of `/proc/net/tcp{,6}`.
pub fn parse_listen_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            (local_port == port && *f.get(3)? == "0A").then(|| f.get(9)?.parse().ok())?
        })
        .collect()
}

/// The process listening on `port` (IPv4 or IPv6), if it is visible to us.
pub fn pid_listening_on(port: u16) -> Option<u32> {
    let inodes: Vec<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .flat_map(|t| parse_listen_inodes(&t, port))
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = fs::read_link(fd.path()) {
                if wanted.iter().any(|w| link.as_os_str() == w.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_cpu_ticks() {
        let cases = [
            (
                "1234 (sextant) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 9 0",
                Some(287),
            ),
            ("7 (a b) c)) R 1 1 1 0 -1 0 0 0 0 0 5 6 0 0", Some(11)),
            ("7 (short) R 1", None),
            ("garbage", None),
        ];
        for (stat, want) in cases {
            assert_eq!(parse_stat_cpu_ticks(stat), want, "{stat}");
        }
    }

    #[test]
    fn parses_status_fields() {
        let status = "Name:\tsextant\nVmHWM:\t  524288 kB\nVmRSS:\t  262144 kB\nVmRSSx:\t1 kB\n";
        assert_eq!(parse_status_bytes(status, "VmHWM"), Some(512 << 20));
        assert_eq!(parse_status_bytes(status, "VmRSS"), Some(256 << 20));
        assert_eq!(parse_status_bytes(status, "VmSwap"), None);
    }

    #[test]
    fn finds_listening_sockets_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 00000000:4A38 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0";
        assert_eq!(parse_listen_inodes(table, 8080), vec![4242]);
        assert_eq!(parse_listen_inodes(table, 19000), vec![4444]);
        assert!(parse_listen_inodes(table, 9095).is_empty());
    }

    #[test]
    fn parses_schedstat() {
        let cases = [
            ("548877082 5955878 57\n", Some(548_877_082)),
            ("", None),
            ("x 1 2", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_schedstat_ns(text), want, "{text:?}");
        }
    }

    #[test]
    fn reads_our_own_process() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {}
        assert!(thread_cpu_seconds(clock_ticks()).unwrap() > 0.0);
        let pid = std::process::id();
        assert!(cpu_seconds(pid, clock_ticks()).unwrap() >= 0.0);
        assert!(status_bytes(pid, "VmRSS").unwrap().unwrap() > 0);
    }
}
