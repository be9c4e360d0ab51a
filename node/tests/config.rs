//! Configuration layering as an operator sees it through `vigia-node config`: defaults, then
//! the file, then `VIGIA_` variables, then flags.

use std::path::Path;
use std::process::Command;

fn vigia_node(config: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigia-node"));
    command.arg("config").arg("--config").arg(config);
    for (key, _) in std::env::vars() {
        if key.starts_with("VIGIA_") {
            command.env_remove(key);
        }
    }
    command
}

fn run(command: &mut Command) -> (bool, String) {
    let output = command.output().expect("vigia-node runs");
    let text = String::from_utf8_lossy(if output.status.success() {
        &output.stdout
    } else {
        &output.stderr
    });
    (output.status.success(), text.into_owned())
}

#[test]
fn example_configuration_loads_with_paths_beside_the_file() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/node.toml");
    let (ok, text) = run(&mut vigia_node(&example));
    assert!(ok, "{text}");
    let configs = std::fs::canonicalize(example.parent().expect("dir")).expect("canonical");
    assert!(text.contains("member = \"PE\""), "{text}");
    assert!(
        text.contains(&format!("{}", configs.join("keys/member.key").display())),
        "{text}"
    );
    assert!(text.contains("sync_interval_secs = 30"), "{text}");
    assert!(text.contains("listen = \"127.0.0.1:8440\""), "{text}");
}

#[test]
fn environment_overrides_the_file_and_flags_override_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("node.toml");
    std::fs::write(
        &file,
        "member = \"PE\"\nroster = \"r.toml\"\nmember_key = \"m\"\nnode_key = \"n\"\n\
         data_dir = \"data\"\nsync_interval_secs = 12\n",
    )
    .expect("write");
    let (ok, text) = run(vigia_node(&file)
        .env("VIGIA_MEMBER", "CL")
        .env("VIGIA_SYNC_INTERVAL_SECS", "7"));
    assert!(ok, "{text}");
    assert!(
        text.contains("member = \"CL\"") && text.contains("sync_interval_secs = 7"),
        "{text}"
    );
    let listen = "/ip4/127.0.0.1/tcp/4999,/ip4/127.0.0.1/udp/4999/quic-v1";
    let (ok, text) = run(vigia_node(&file)
        .env("VIGIA_MEMBER", "CL")
        .env("VIGIA_LISTEN", listen)
        .env("VIGIA_API__LISTEN", "127.0.0.1:9100")
        .args(["--member", "AR"]));
    assert!(ok, "{text}");
    assert!(text.contains("member = \"AR\""), "{text}");
    assert!(
        text.contains("\"/ip4/127.0.0.1/udp/4999/quic-v1\""),
        "{text}"
    );
    assert!(text.contains("listen = \"127.0.0.1:9100\""), "{text}");
}

#[test]
fn bad_settings_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("node.toml");
    let base = "roster = \"r\"\nmember_key = \"m\"\nnode_key = \"n\"\ndata_dir = \"d\"\n";
    for (extra, named) in [
        ("member = \"Peru\"\n", "Peru"),
        (
            "member = \"PE\"\nsync_intervl_secs = 3\n",
            "sync_intervl_secs",
        ),
        (
            "member = \"PE\"\nmax_message_bytes = 10\n",
            "max_message_bytes",
        ),
    ] {
        std::fs::write(&file, format!("{base}{extra}")).expect("write");
        let (ok, text) = run(&mut vigia_node(&file));
        assert!(!ok, "accepted {extra:?}");
        assert!(
            text.contains(named),
            "error for {extra:?} does not name it: {text}"
        );
    }
    let (ok, text) = run(&mut vigia_node(&dir.path().join("missing.toml")));
    assert!(!ok && text.contains("missing.toml"), "{text}");
}

#[test]
fn a_stray_environment_variable_is_named_as_the_source_of_an_unknown_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("node.toml");
    std::fs::write(
        &file,
        "member = \"PE\"\nroster = \"r\"\nmember_key = \"m\"\nnode_key = \"n\"\ndata_dir = \"d\"\n",
    )
    .expect("write");
    let (ok, text) = run(vigia_node(&file).env("VIGIA_LOOP_COUNT", "5"));
    assert!(!ok, "accepted a variable that is no setting: {text}");
    assert!(
        text.contains("VIGIA_LOOP_COUNT") && text.contains("loop_count"),
        "{text}"
    );
    // The client's own variables are no node settings and are left alone.
    let (ok, text) = run(vigia_node(&file)
        .env("VIGIA_NODE", "http://127.0.0.1:8440")
        .env("VIGIA_TOKEN", "vigia_x"));
    assert!(ok, "{text}");
}

#[test]
fn printing_to_a_closed_pipe_ends_quietly_and_successfully() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/node.toml");
    // The reader is gone before anything is printed, as when `head` has exited.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let output = vigia_node(&example)
        .stdout(writer)
        .output()
        .expect("vigia-node runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn a_missing_setting_without_a_file_says_how_to_give_the_configuration() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigia-node"));
    command.args(["token", "create", "--role", "focal", "--label", "ana"]);
    for (key, _) in std::env::vars() {
        if key.starts_with("VIGIA_") {
            command.env_remove(key);
        }
    }
    let (ok, text) = run(&mut command);
    assert!(!ok, "{text}");
    assert!(text.contains("\"member\" is missing"), "{text}");
    assert!(
        text.contains("--config FILE") && text.contains("VIGIA_MEMBER"),
        "{text}"
    );
}

#[test]
fn an_error_is_printed_as_what_failed_then_each_cause_on_its_own_line() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "member = \"PE\"\nsync_interval_secs = \"often\"\n").expect("file");
    let output = vigia_node(&config).output().expect("vigia-node runs");
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stderr);
    let mut lines = text.lines();
    let first = lines.next().expect("a line");
    assert!(first.starts_with("error: "), "{text}");
    assert!(!first.starts_with("vigia-node:"), "{text}");
    let causes: Vec<&str> = lines.collect();
    assert!(!causes.is_empty(), "{text}");
    assert!(
        causes.iter().all(|line| line.starts_with("  caused by: ")),
        "{text}"
    );
}
