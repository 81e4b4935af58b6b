//! Facts about the machine a benchmark ran on, and the process's peak memory, read from
//! `/proc` (Linux). Elsewhere the fields are `None` and the report says so.

use serde::Serialize;

/// The machine, as the benchmark report records it.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model name (`model name` in `/proc/cpuinfo`).
    pub cpu_model: Option<String>,
    /// Logical CPUs the process may use.
    pub logical_cpus: usize,
    /// Physical cores (distinct `core id` per `physical id`), when `/proc/cpuinfo` tells.
    pub physical_cores: Option<usize>,
    /// Total memory in MiB (`MemTotal`).
    pub mem_total_mib: Option<f64>,
    /// Operating system and architecture as compiled.
    pub os: String,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: Option<String>,
}

impl Machine {
    /// Reads the machine description.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| field(l, "model name"))
            .map(str::to_string);
        let mut cores = std::collections::BTreeSet::new();
        let mut physical = "0";
        for line in cpuinfo.lines() {
            if let Some(v) = field(line, "physical id") {
                physical = v;
            } else if let Some(v) = field(line, "core id") {
                cores.insert((physical.to_string(), v.to_string()));
            }
        }
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_total_mib = meminfo
            .lines()
            .find_map(|l| field(l, "MemTotal"))
            .and_then(parse_kib)
            .map(|kib| kib as f64 / 1024.0);
        Self {
            cpu_model,
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            physical_cores: (!cores.is_empty()).then_some(cores.len()),
            mem_total_mib,
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_string()),
        }
    }
}

/// `key : value` of a `/proc` text file.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let (k, v) = line.split_once(':')?;
    (k.trim() == key).then(|| v.trim())
}

/// `123456 kB` -> 123456.
fn parse_kib(v: &str) -> Option<u64> {
    v.split_whitespace().next()?.parse().ok()
}

/// The 1-, 5- and 15-minute load averages (`/proc/loadavg`).
pub fn load_average() -> Option<[f64; 3]> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = s.split_whitespace().map(|x| x.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// CPU time (user + system) this process has used so far, all threads, in seconds, from
/// `/proc/self/stat` (10 ms resolution). Unlike wall time it barely moves when other processes
/// compete for the cores, as long as no thread spins waiting for another.
pub fn process_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name, which may itself hold spaces.
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line; `rest` starts at field 3.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // Linux reports these in USER_HZ = 100 ticks per second on every architecture.
    Some(ticks as f64 / 100.0)
}

/// Peak resident set size of this process in KiB (`VmHWM` in `/proc/self/status`).
pub fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM")
}

/// Current resident set size of this process in KiB (`VmRSS`).
pub fn current_rss_kib() -> Option<u64> {
    status_kib("VmRSS")
}

fn status_kib(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find_map(|l| field(l, key)).and_then(parse_kib)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_fields() {
        assert_eq!(
            field("model name\t: Some CPU", "model name"),
            Some("Some CPU")
        );
        assert_eq!(field("VmHWM:\t  12345 kB", "VmHWM"), Some("12345 kB"));
        assert_eq!(field("VmHWM: 1 kB", "VmRSS"), None);
        assert_eq!(parse_kib("12345 kB"), Some(12345));
        assert_eq!(parse_kib("x"), None);
    }

    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            // Current before peak: other test threads may allocate in between, and the peak
            // only grows, so the later reading bounds the earlier one.
            let current = current_rss_kib().expect("VmRSS on Linux");
            let peak = peak_rss_kib().expect("VmHWM on Linux");
            assert!(peak > 0);
            assert!(current <= peak, "VmRSS {current} kB above VmHWM {peak} kB");
            assert!(load_average().is_some());
            let t0 = process_cpu_s().unwrap();
            let mut x = 0u64;
            let start = std::time::Instant::now();
            while start.elapsed().as_millis() < 100 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
            assert!(x > 0);
            assert!(
                process_cpu_s().unwrap() >= t0 + 0.02,
                "busy loop adds CPU time"
            );
        }
    }
}
