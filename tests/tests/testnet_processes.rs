//! A testnet of real `vigia-node` processes, run and broken through `vigia testnet` as a
//! tester would: it converges, survives a killed member, a partition with writes on both
//! sides, and a member whose store was wiped.
//!
//! Each test has its own directory and port range and takes its network down when it ends,
//! pass or fail (see `testnet_support`).

mod testnet_support;

use std::time::Duration;

use testnet_support::{Testnet, describe, wait_until};

/// How long `verify` may wait for agreement: gossip delivers in milliseconds, a missed
/// entry waits at most for the next heads exchange (5 s in a testnet).
const AGREE_SECS: u64 = 20;
/// How long an alert may take to reach a member, by gossip or the next heads exchange.
const DELIVERY: Duration = Duration::from_secs(15);

#[test]
fn five_members_converge_under_verify() {
    let net = Testnet::init("five_members_converge_under_verify", 5, &[]);
    net.succeed("up", &[]);

    let report = net.verify(AGREE_SECS);

    assert!(report.contains("5 running members agree"), "{report}");
}

#[test]
fn alert_reaches_every_live_member_while_one_is_down_and_the_restarted_one_catches_up() {
    let net = Testnet::init(
        "alert_reaches_every_live_member_while_one_is_down_and_the_restarted_one_catches_up",
        5,
        &[],
    );
    net.succeed("up", &[]);
    let [issuer, live @ .., down] = &net.codes()[..] else {
        panic!("five members");
    };

    // 1. One member crashes; another issues an alert; every live member receives it.
    net.succeed("kill", &[down]);
    net.issue_alert(issuer, "while-down", "Alerta con un miembro caído");
    for code in live {
        wait_until(&format!("{code} holds the alert"), DELIVERY, || {
            net.holds_alert(code, "while-down")
        });
    }
    net.verify(AGREE_SECS);

    // 2. Restarted, it catches up on its own: nobody writes after it returns.
    let heads_before = net.heads(issuer);
    net.succeed("start", &[down]);
    let report = net.verify(AGREE_SECS);
    assert!(report.contains("5 running members agree"), "{report}");
    assert!(net.alert_ids(down).contains(&"while-down".to_owned()));
    assert_eq!(
        net.heads(down),
        heads_before,
        "nothing was written after the restart, so the heads are those from before it"
    );
}

#[test]
fn partition_two_three_with_writes_on_both_sides_fails_verify_until_healed() {
    let net = Testnet::init(
        "partition_two_three_with_writes_on_both_sides_fails_verify_until_healed",
        5,
        &[],
    );
    net.succeed("up", &[]);
    let codes = net.codes();
    let (left, right) = codes.split_at(2);
    net.succeed("partition", &[&left.join(","), &right.join(",")]);
    // The nodes apply their block lists after answering; write only once they have.
    for (side, others) in [(left, right), (right, left)] {
        for code in side {
            let own_side_only = || {
                let reachable = net.reachable(code);
                others.iter().all(|other| !reachable.contains(other))
            };
            wait_until(&format!("{code} is cut off"), DELIVERY, own_side_only);
        }
    }

    // 1. Each side writes, and each side agrees within itself.
    let (left_writer, right_writer) = (&left[0], &right[1]);
    net.issue_alert(left_writer, "left", "Alerta del lado izquierdo");
    net.issue_alert(right_writer, "right", "Alerta del lado derecho");
    for (side, id) in [(left, "left"), (right, "right")] {
        for code in side {
            wait_until(&format!("{code} holds alert {id}"), DELIVERY, || {
                net.holds_alert(code, id)
            });
        }
    }
    for code in left {
        assert!(
            !net.holds_alert(code, "right"),
            "{code} is cut off from the right"
        );
    }
    for code in right {
        assert!(
            !net.holds_alert(code, "left"),
            "{code} is cut off from the left"
        );
    }

    // 2. Cut, the network does not verify, and verify names the feeds that differ.
    let cut = net.testnet("verify", &["--timeout", "1"]);
    assert!(!cut.status.success(), "verify passed while partitioned");
    let report = String::from_utf8_lossy(&cut.stdout);
    for writer in [left_writer, right_writer] {
        assert!(
            report.contains(&format!("feed {writer}:")),
            "{}",
            describe(&cut)
        );
    }

    // 3. Healed, everyone converges on both sides' writes.
    net.succeed("heal", &[]);
    net.verify(AGREE_SECS);
    for code in &codes {
        let ids = net.alert_ids(code);
        assert!(ids.contains(&"left".to_owned()), "{code}: {ids:?}");
        assert!(ids.contains(&"right".to_owned()), "{code}: {ids:?}");
    }
}

#[test]
fn wiped_member_recovers_its_feed_from_peers_and_continues_its_sequence_without_forks() {
    let net = Testnet::init(
        "wiped_member_recovers_its_feed_from_peers_and_continues_its_sequence_without_forks",
        3,
        &[],
    );
    net.succeed("up", &[]);
    let codes = net.codes();
    let wiped = codes[0].as_str();
    net.issue_alert(wiped, "before-wipe", "Alerta antes del borrado");
    net.verify(AGREE_SECS);
    let old_head = net.heads(wiped)[wiped].clone();

    // 1. The store goes, the keys and tokens stay.
    net.succeed("kill", &[wiped]);
    std::fs::remove_file(net.store(wiped)).expect("remove the store");
    assert!(net.dir().join(wiped).join("data/tokens.json").exists());

    // 2. Restarted, it holds its own feed again before it writes anything: it can only have
    // come from its peers.
    net.succeed("start", &[wiped]);
    assert_eq!(net.heads(wiped)[wiped], old_head, "own feed recovered");
    assert!(net.alert_ids(wiped).contains(&"before-wipe".to_owned()));

    // 3. Its next entry continues the sequence, and nobody sees a fork.
    let alert = net.issue_alert(wiped, "after-wipe", "Alerta después del borrado");
    assert_eq!(alert["entry"]["seq"], old_head.seq + 1, "{alert}");
    net.verify(AGREE_SECS);
    for code in &codes {
        assert!(net.forks(code).is_empty(), "{code} sees forks");
        assert!(net.holds_alert(code, "after-wipe"), "{code}");
    }
}

#[test]
fn up_again_keeps_a_directory_edited_since_the_first_start() {
    let net = Testnet::init(
        "up_again_keeps_a_directory_edited_since_the_first_start",
        2,
        &[],
    );
    let first = net.succeed("up", &[]);
    assert_eq!(first.matches("directory loaded").count(), 2, "{first}");
    let code = &net.codes()[0];
    let listed = net.get(code, &format!("/v1/contacts?member={code}&per_page=1"));
    let id = listed["items"][0]["id"]
        .as_str()
        .expect("a contact")
        .to_owned();
    let path = format!("/v1/contacts/{code}/{id}");
    let mut contact = net.get(code, &path);
    contact["role"] = "Rol editado a mano".into();
    net.put(code, &path, &contact);

    let again = net.succeed("up", &[]);

    assert_eq!(
        again.matches("directory kept as it is").count(),
        2,
        "{again}"
    );
    assert_eq!(net.get(code, &path)["role"], "Rol editado a mano");
}

#[test]
fn a_member_started_during_a_partition_waits_only_for_its_own_side() {
    let net = Testnet::init(
        "a_member_started_during_a_partition_waits_only_for_its_own_side",
        3,
        &[],
    );
    net.succeed("up", &[]);
    let codes = net.codes();
    let (alone, side) = (&codes[0], &codes[1..]);
    net.succeed("partition", &[alone, &side.join(",")]);
    let restarted = &side[1];
    net.succeed("kill", &[restarted]);

    let started = net.succeed("start", &[restarted]);

    assert!(
        started.contains("on its side of the partition"),
        "{started}"
    );
    let reachable = net.reachable(restarted);
    assert!(reachable.contains(&side[0]), "{reachable:?}");
    assert!(!reachable.contains(alone), "{reachable:?}");
    // Healed, it reaches the other side again: its block list came from the partition.
    net.succeed("heal", &[]);
    wait_until(&format!("{restarted} reaches {alone}"), DELIVERY, || {
        net.reachable(restarted).contains(alone)
    });
}
