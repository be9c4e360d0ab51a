//! The `vigia` binary as an operator runs it: key generation and the roster signing flow.
//!
//! Every test works in its own temporary directory and runs the built binary there.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

/// The three founding members of the test network: code, name, key directory.
const MEMBERS: [(&str, &str, &str); 3] = [
    ("MX", "México", "keys/mx"),
    ("BR", "Brasil", "keys/br"),
    ("CA", "Canada", "keys/ca"),
];

fn vigia(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigia"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the vigia binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must succeed and returns its standard output.
fn succeed(dir: &Path, args: &[&str]) -> String {
    let output = vigia(dir, args);
    assert!(
        output.status.success(),
        "vigia {args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// Runs a command that must fail and returns its standard error.
fn fail(dir: &Path, args: &[&str]) -> String {
    let output = vigia(dir, args);
    assert!(
        !output.status.success(),
        "vigia {args:?} succeeded: {}",
        stdout(&output)
    );
    stderr(&output)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

/// One string field of the public.toml in key directory `keys`.
fn public_field(keys: &Path, field: &str) -> String {
    let text = fs::read_to_string(keys.join("public.toml")).expect("public.toml exists");
    let table: toml::Table = toml::from_str(&text).expect("public.toml is TOML");
    table[field].as_str().expect("field is a string").to_owned()
}

/// Generates keys for every member and writes an unsigned roster `roster.toml`.
fn unsigned_roster(dir: &Path) {
    for (_, _, keys) in MEMBERS {
        succeed(dir, &["keygen", "--out", keys]);
    }
    let members: Vec<String> = MEMBERS
        .iter()
        .map(|(code, name, keys)| format!("{code}={name}={keys}"))
        .collect();
    let mut args = vec![
        "roster",
        "init",
        "--network",
        "Red de prueba",
        "--quorum",
        "2",
    ];
    args.extend(["--out", "roster.toml"]);
    for member in &members {
        args.extend(["--member", member]);
    }
    args.extend(["--address", "MX=/ip4/127.0.0.1/tcp/4001"]);
    args.extend(["--address", "MX=/ip4/127.0.0.1/udp/4001/quic-v1"]);
    args.extend(["--address", "BR=/dns4/vigia.example.br/tcp/4001"]);
    args.extend(["--address", "CA=/ip6/::1/tcp/4001"]);
    succeed(dir, &args);
}

fn sign(dir: &Path, code: &str, keys: &str) -> String {
    let key = format!("{keys}/member.key");
    succeed(
        dir,
        &[
            "roster",
            "sign",
            "--roster",
            "roster.toml",
            "--member",
            code,
            "--key",
            &key,
        ],
    )
}

#[test]
fn keygen_writes_owner_only_secrets_and_a_public_toml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let printed = succeed(dir.path(), &["keygen", "--out", "keys/mx"]);

    let keys = dir.path().join("keys/mx");
    for secret in ["member.key", "node.key"] {
        let path = keys.join(secret);
        assert_eq!(
            mode(&path),
            0o600,
            "{secret} must be readable by its owner only"
        );
        let text = fs::read_to_string(&path).expect("read");
        assert_eq!(
            text.len(),
            65,
            "{secret} is 64 hex characters and a newline"
        );
        assert!(text.trim_end().chars().all(|c| c.is_ascii_hexdigit()));
    }
    let signing_key = public_field(&keys, "signing_key");
    let peer_id = public_field(&keys, "peer_id");
    assert_eq!(signing_key.len(), 64, "{signing_key}");
    assert!(
        printed.contains(&format!("signing key: {signing_key}")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("peer id:     {peer_id}")),
        "{printed}"
    );
    assert!(
        peer_id.starts_with("12D3KooW"),
        "an ed25519 peer id: {peer_id}"
    );
}

#[test]
fn keygen_refuses_to_overwrite_existing_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    succeed(dir.path(), &["keygen", "--out", "keys"]);
    let before = fs::read(dir.path().join("keys/member.key")).expect("read");

    let error = fail(dir.path(), &["keygen", "--out", "keys"]);
    assert!(
        error.contains("member.key") && error.contains("already exists"),
        "{error}"
    );
    let after = fs::read(dir.path().join("keys/member.key")).expect("read");
    assert_eq!(before, after, "the existing key must be untouched");
}

#[test]
fn roster_signed_by_every_member_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    unsigned_roster(dir.path());
    for (index, (code, _, keys)) in MEMBERS.iter().enumerate() {
        let printed = sign(dir.path(), code, keys);
        assert!(
            printed.contains(&format!("{} of 3 members have signed", index + 1)),
            "{printed}"
        );
    }

    let printed = succeed(dir.path(), &["roster", "verify", "roster.toml"]);
    assert!(
        printed.starts_with("roster OK: network Red de prueba, id "),
        "{printed}"
    );
    assert!(printed.trim_end().ends_with(", 3 members"), "{printed}");
}

#[test]
fn verify_names_the_member_that_has_not_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    unsigned_roster(dir.path());
    sign(dir.path(), "MX", "keys/mx");
    sign(dir.path(), "CA", "keys/ca");

    let error = fail(dir.path(), &["roster", "verify", "roster.toml"]);
    assert!(
        error.contains("member BR has not signed the roster"),
        "{error}"
    );
}

#[test]
fn sign_with_another_members_key_fails_and_leaves_the_roster_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    unsigned_roster(dir.path());
    let before = fs::read(dir.path().join("roster.toml")).expect("read");

    let args = [
        "roster",
        "sign",
        "--roster",
        "roster.toml",
        "--member",
        "MX",
    ];
    let error = fail(
        dir.path(),
        &[&args[..], &["--key", "keys/br/member.key"]].concat(),
    );
    assert!(
        error.contains("keys/br/member.key is not the key of member MX"),
        "{error}"
    );
    let after = fs::read(dir.path().join("roster.toml")).expect("read");
    assert_eq!(before, after);
}

#[test]
fn sign_refuses_a_key_file_that_is_not_64_hex_characters() {
    let dir = tempfile::tempdir().expect("tempdir");
    unsigned_roster(dir.path());
    fs::write(dir.path().join("broken.key"), "not a key\n").expect("write");

    let args = [
        "roster",
        "sign",
        "--roster",
        "roster.toml",
        "--member",
        "MX",
    ];
    let error = fail(dir.path(), &[&args[..], &["--key", "broken.key"]].concat());
    assert!(error.contains("broken.key is not a key file"), "{error}");
    assert!(
        error.contains("expected 64 hexadecimal characters"),
        "{error}"
    );
}

#[test]
fn init_rejects_a_bad_multiaddr_naming_the_member_and_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    succeed(dir.path(), &["keygen", "--out", "keys/mx"]);

    let error = fail(
        dir.path(),
        &[
            "roster",
            "init",
            "--network",
            "Red",
            "--quorum",
            "1",
            "--out",
            "roster.toml",
            "--member",
            "MX=México=keys/mx",
            "--address",
            "MX=/ip4/300.1.2.3/tcp/4001",
        ],
    );
    assert!(error.contains("member MX"), "{error}");
    assert!(
        error.contains("\"/ip4/300.1.2.3/tcp/4001\" is not a valid multiaddr"),
        "{error}"
    );
    assert!(
        !dir.path().join("roster.toml").exists(),
        "no roster is written"
    );
}

#[test]
fn init_rejects_an_address_naming_another_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    succeed(dir.path(), &["keygen", "--out", "keys/mx"]);
    succeed(dir.path(), &["keygen", "--out", "keys/other"]);
    let other = public_field(&dir.path().join("keys/other"), "peer_id");
    let address = format!("MX=/ip4/10.0.0.1/tcp/4001/p2p/{other}");

    let error = fail(
        dir.path(),
        &[
            "roster",
            "init",
            "--network",
            "Red",
            "--quorum",
            "1",
            "--out",
            "roster.toml",
            "--member",
            "MX=México=keys/mx",
            "--address",
            &address,
        ],
    );
    assert!(
        error.contains(&format!("names peer {other}, not its node")),
        "{error}"
    );
}

#[test]
fn init_refuses_an_invalid_roster() {
    let dir = tempfile::tempdir().expect("tempdir");
    succeed(dir.path(), &["keygen", "--out", "keys/mx"]);

    let error = fail(
        dir.path(),
        &[
            "roster",
            "init",
            "--network",
            "Red",
            "--quorum",
            "2",
            "--out",
            "roster.toml",
            "--member",
            "MX=México=keys/mx",
        ],
    );
    assert!(
        error.contains("refusing to write an invalid roster"),
        "{error}"
    );
    assert!(
        error.contains("quorum 2 must be between 1 and the number of members (1)"),
        "{error}"
    );
    assert!(!dir.path().join("roster.toml").exists());
}

#[test]
fn init_refuses_to_replace_a_roster_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    unsigned_roster(dir.path());
    sign(dir.path(), "MX", "keys/mx");
    let before = fs::read(dir.path().join("roster.toml")).expect("read");
    let args = [
        "roster",
        "init",
        "--network",
        "Otra",
        "--quorum",
        "1",
        "--out",
        "roster.toml",
        "--member",
        "MX=México=keys/mx",
    ];

    let error = fail(dir.path(), &args);
    assert!(
        error.contains("roster.toml already exists; pass --force"),
        "{error}"
    );
    assert_eq!(
        before,
        fs::read(dir.path().join("roster.toml")).expect("read")
    );

    succeed(dir.path(), &[&args[..], &["--force"]].concat());
    let replaced = fs::read_to_string(dir.path().join("roster.toml")).expect("read");
    assert!(replaced.contains("Otra"), "{replaced}");
}

#[test]
fn show_reports_each_members_signature_and_the_id_once_complete() {
    let dir = tempfile::tempdir().expect("tempdir");
    unsigned_roster(dir.path());
    sign(dir.path(), "MX", "keys/mx");

    let table = succeed(dir.path(), &["roster", "show", "roster.toml"]);
    assert!(table.contains("network: Red de prueba"), "{table}");
    assert!(table.contains("quorum:  2 of 3 members"), "{table}");
    assert!(
        table.contains("none yet (member BR has not signed the roster)"),
        "{table}"
    );
    let line = |code: &str| {
        table
            .lines()
            .find(|line| line.starts_with(code))
            .expect("member has a line")
            .to_owned()
    };
    assert!(line("MX ").contains(" yes "), "{table}");
    assert!(line("BR ").contains(" no "), "{table}");
    assert!(table.contains("/ip4/127.0.0.1/udp/4001/quic-v1"), "{table}");

    sign(dir.path(), "BR", "keys/br");
    sign(dir.path(), "CA", "keys/ca");
    let json = succeed(dir.path(), &["roster", "show", "roster.toml", "--json"]);
    let view: serde_json::Value = serde_json::from_str(&json).expect("show --json prints JSON");
    assert_eq!(view["network"], "Red de prueba");
    assert_eq!(view["quorum"], 2);
    assert!(
        view["id"].as_str().is_some_and(|id| id.len() == 64),
        "{json}"
    );
    assert!(view["problem"].is_null(), "{json}");
    let members = view["members"].as_array().expect("members");
    assert_eq!(members.len(), 3);
    assert!(
        members.iter().all(|member| member["signature"] == "valid"),
        "{json}"
    );
    assert_eq!(
        members[0]["nodes"][0]["addresses"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn a_roster_changed_after_signing_shows_the_signature_as_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    unsigned_roster(dir.path());
    sign(dir.path(), "MX", "keys/mx");
    let path = dir.path().join("roster.toml");
    let text = fs::read_to_string(&path).expect("read");
    fs::write(&path, text.replace("Red de prueba", "Red cambiada")).expect("write");

    let json = succeed(dir.path(), &["roster", "show", "roster.toml", "--json"]);
    let view: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(view["members"][0]["signature"], "invalid", "{json}");
    let error = fail(dir.path(), &["roster", "verify", "roster.toml"]);
    assert!(
        error.contains("signature of member MX does not verify"),
        "{error}"
    );
}

#[test]
fn output_to_a_closed_pipe_ends_quietly_and_successfully() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The reader is gone before the command writes anything, as when `head` has exited.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_vigia"))
        .current_dir(dir.path())
        .args(["keygen", "--out", "keys"])
        .stdout(writer)
        .output()
        .expect("the vigia binary runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    assert!(
        dir.path().join("keys/member.key").exists(),
        "the work was done"
    );
}

/// The libp2p port of each member in a testnet's manifest.
fn manifest_ports(dir: &Path) -> Vec<i64> {
    let text = fs::read_to_string(dir.join("testnet.toml")).expect("manifest");
    let manifest: toml::Table = toml::from_str(&text).expect("manifest is TOML");
    manifest["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|member| member["p2p_port"].as_integer().expect("p2p_port"))
        .collect()
}

#[test]
fn testnet_init_without_a_base_port_skips_a_range_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Whoever holds it (this test, or a demo left running), the first range is busy.
    let _held = std::net::TcpListener::bind(("127.0.0.1", 21_000));

    succeed(
        dir.path(),
        &["testnet", "init", "--dir", "tn", "--codes", "AR,BR"],
    );
    let ports = manifest_ports(&dir.path().join("tn"));
    assert_eq!(ports.len(), 2);
    assert!(ports[0] > 21_000 && ports[0] % 1_000 == 0, "{ports:?}");
    assert_eq!(ports[1], ports[0] + 1);

    let error = fail(
        dir.path(),
        &[
            "testnet",
            "init",
            "--dir",
            "t2",
            "--codes",
            "AR",
            "--base-port",
            "21000",
        ],
    );
    assert!(
        error.contains("21000 or 21500 on 127.0.0.1 is in use"),
        "{error}"
    );
}

#[test]
fn testnet_init_keeps_each_members_data_and_tokens_to_their_owner() {
    let dir = tempfile::tempdir().expect("tempdir");
    succeed(
        dir.path(),
        &["testnet", "init", "--dir", "tn", "--codes", "AR,BR"],
    );
    for code in ["AR", "BR"] {
        let member = dir.path().join("tn").join(code);
        // The node warns about a data directory other users can read; its own testnet
        // must not make one.
        assert_eq!(mode(&member.join("data")), 0o700, "{code}/data");
        assert_eq!(
            mode(&member.join("tokens.toml")),
            0o600,
            "{code}/tokens.toml"
        );
    }
}

#[test]
fn a_partition_must_put_every_member_on_a_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    succeed(
        dir.path(),
        &["testnet", "init", "--dir", "tn", "--codes", "AR,BR,CL,MX"],
    );

    let error = fail(
        dir.path(),
        &["testnet", "partition", "--dir", "tn", "AR", "CL"],
    );

    assert!(error.contains("BR, MX are in no group"), "{error}");
    assert!(!dir.path().join("tn/partition.toml").exists());
}

#[test]
fn institutions_export_offers_only_the_formats_that_hold_institutions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let help = succeed(dir.path(), &["institutions", "export", "--help"]);
    assert!(help.contains("csv") && help.contains("json"), "{help}");
    assert!(!help.contains("vcard"), "{help}");
    let error = fail(dir.path(), &["institutions", "export", "--format", "vcard"]);
    assert!(error.contains("invalid value 'vcard'"), "{error}");
}

#[test]
fn json_output_and_a_file_format_other_than_json_conflict() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Refused before any request: nothing listens on port 9 (discard).
    let node = ["--node", "http://127.0.0.1:9", "--token", "t"];
    let export = ["contacts", "export", "--format", "csv", "--json"];
    let error = fail(dir.path(), &[&node[..], &export[..]].concat());
    assert!(
        error.contains("--json conflicts with --format csv"),
        "{error}"
    );
}
