//! `testnet/netns.sh`: members in network namespaces of their own, on a private bridge,
//! cut from each other by the network rather than by their nodes.
//!
//! It needs root and a kernel that allows network namespaces (CI has both). Anywhere else
//! the test prints why it did nothing and passes.

mod testnet_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use testnet_support::{Testnet, describe, run, wait_until};

/// The script under test.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testnet/netns.sh")
}

/// Why this machine cannot run the test, if it cannot.
fn reason_to_skip() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0");
    if !root {
        return Some("not root".into());
    }
    if Path::new("/sys/class/net/vgbr0").exists() {
        return Some("bridge vgbr0 exists: another netns.sh testnet runs here".into());
    }
    let probe = format!("vg-probe-{}", std::process::id());
    let added = Command::new("ip").args(["netns", "add", &probe]).output();
    match added {
        Ok(output) if output.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &probe]).output();
            None
        }
        Ok(output) => Some(format!(
            "`ip netns add` fails: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(err) => Some(format!("no `ip` command: {err}")),
    }
}

/// Runs `netns.sh COMMAND DIR ARGS…` with the testnet's own `vigia`, whatever its outcome.
fn netns(net: &Testnet, command: &str, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(script())
        .arg(command)
        .arg(net.dir())
        .args(args)
        .env("VIGIA", net.binary())
        .output()
        .expect("bash runs")
}

/// Takes the namespaces down when dropped; declared after the [`Testnet`] so it drops first.
struct Namespaces<'a>(&'a Testnet);

impl Drop for Namespaces<'_> {
    fn drop(&mut self) {
        let down = netns(self.0, "down", &[]);
        if !down.status.success() {
            eprintln!("netns.sh down failed: {}", describe(&down));
        }
    }
}

/// Network namespaces and links of netns.sh that exist now.
fn leftovers() -> Vec<String> {
    let namespaces = Command::new("ip").args(["netns", "list"]).output();
    let links = Command::new("ip").args(["-brief", "link"]).output();
    let text: String = [namespaces, links]
        .into_iter()
        .map(|output| String::from_utf8_lossy(&output.expect("ip runs").stdout).into_owned())
        .collect();
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with("vg-") || name.starts_with("vgh-") || *name == "vgbr0")
        .map(str::to_owned)
        .collect()
}

#[test]
fn first_address_gives_each_member_its_own_address_in_roster_config_and_manifest() {
    let net = Testnet::init(
        "first_address_gives_each_member_its_own_address_in_roster_config_and_manifest",
        3,
        &["--first-address", "10.77.0.10"],
    );
    let read = |path: &str| std::fs::read_to_string(net.dir().join(path)).expect(path);
    let roster = read("roster.toml");
    let manifest = read("testnet.toml");
    for (index, code) in net.codes().iter().enumerate() {
        let address = format!("10.77.0.{}", 10 + index);
        assert!(roster.contains(&format!("/ip4/{address}/tcp/")), "{roster}");
        assert!(roster.contains(&format!("/ip4/{address}/udp/")), "{roster}");
        assert!(
            manifest.contains(&format!("address = \"{address}\"")),
            "{manifest}"
        );
        let config = read(&format!("{code}/node.toml"));
        assert!(
            config.contains(&format!("listen = \"{address}:")),
            "{config}"
        );
    }
    assert!(!roster.contains("127.0.0.1"), "{roster}");
    let verify = run(
        net.binary(),
        &[
            "roster",
            "verify",
            &format!("{}/roster.toml", net.dir().display()),
        ],
    );
    assert!(verify.status.success(), "{}", describe(&verify));
}

#[test]
fn members_in_namespaces_miss_alerts_across_a_real_cut_and_converge_after_heal() {
    if let Some(reason) = reason_to_skip() {
        eprintln!("skipped: netns.sh needs root and network namespaces ({reason})");
        return;
    }
    let net = Testnet::init(
        "members_in_namespaces_miss_alerts_across_a_real_cut_and_converge_after_heal",
        3,
        &["--first-address", "10.77.0.10"],
    );
    let namespaces = Namespaces(&net);
    let up = netns(&net, "up", &[]);
    assert!(up.status.success(), "netns.sh up: {}", describe(&up));
    net.verify(20);
    let [issuer, reached, cut_off] = &net.codes()[..] else {
        panic!("three members");
    };

    // 1. Cut off by the network, one member misses what the others receive.
    let cut = netns(&net, "cut", &[cut_off]);
    assert!(cut.status.success(), "netns.sh cut: {}", describe(&cut));
    net.issue_alert(issuer, "across-cut", "Alerta durante el corte");
    wait_until(
        &format!("{reached} holds the alert"),
        Duration::from_secs(15),
        || net.holds_alert(reached, "across-cut"),
    );
    let differs = net.testnet("verify", &["--timeout", "1"]);
    assert!(!differs.status.success(), "verify passed across a cut");
    assert!(
        !net.holds_alert(cut_off, "across-cut"),
        "{cut_off} is cut off"
    );

    // 2. Healed, it catches up.
    let heal = netns(&net, "heal", &[]);
    assert!(heal.status.success(), "netns.sh heal: {}", describe(&heal));
    net.verify(30);
    assert!(net.holds_alert(cut_off, "across-cut"));

    // 3. Down leaves nothing behind.
    drop(namespaces);
    let left = leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
}
