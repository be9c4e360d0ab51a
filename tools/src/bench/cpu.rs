//! CPU time of node processes: user plus system time of every thread, those that have
//! exited included, from `/proc/PID/stat`. Beside a latency it says whether the nodes were
//! waiting for the network or for the machine's cores.

use anyhow::{Context, Result};
use nix::unistd::{Pid, SysconfVar, sysconf};

/// CPU seconds `pid` has used since it started.
pub fn cpu_seconds(pid: Pid) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let (user, system) =
        parse_times(&stat).with_context(|| format!("{path} is not a stat line"))?;
    Ok((user + system) as f64 / clock_ticks_per_second()?)
}

/// Units of the times in `/proc/PID/stat`.
fn clock_ticks_per_second() -> Result<f64> {
    let ticks = sysconf(SysconfVar::CLK_TCK)
        .context("cannot read the clock tick (sysconf CLK_TCK)")?
        .context("the system has no clock tick (sysconf CLK_TCK)")?;
    Ok(ticks as f64)
}

/// `utime` and `stime` (fields 14 and 15) of a stat line. The command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses, so fields are counted from the
/// last closing parenthesis.
fn parse_times(stat: &str) -> Option<(u64, u64)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let user = fields.next()?.parse().ok()?;
    let system = fields.next()?.parse().ok()?;
    Some((user, system))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (vigia (x) 1) S 1 4242 4242 0 -1 4194560 1800 0 0 0 731 52 0 0 20 0 \
                    3 0 1234 0 0";
        assert_eq!(parse_times(stat), Some((731, 52)));
    }

    #[test]
    fn a_truncated_line_has_no_times() {
        assert_eq!(parse_times("4242 (vigia) S 1 4242"), None);
    }

    #[test]
    fn a_busy_process_is_seen_to_use_cpu() {
        // The clock ticks in hundredths of a second: spin until at least one has passed.
        let started = std::time::Instant::now();
        let mut spin = 0u64;
        while cpu_seconds(nix::unistd::getpid()).expect("own stat line") == 0.0 {
            assert!(
                started.elapsed().as_secs() < 10,
                "no CPU time seen after 10 s"
            );
            for n in 0..100_000u64 {
                spin = spin.wrapping_add(std::hint::black_box(n * n));
            }
        }
        std::hint::black_box(spin);
    }
}
