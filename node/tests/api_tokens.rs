//! `vigia-node token create|list|revoke` against the token file of a running node: a token
//! made on the command line works at the next request, and stops working once revoked.

mod api_support;

use std::path::Path;
use std::process::{Command, Output};

use api_support::Network;
use reqwest::StatusCode;

fn config_file(data_dir: &Path) -> std::path::PathBuf {
    // The token commands read only `data_dir`; the other settings must be present to make
    // a valid configuration, not to exist.
    let text = format!(
        "member = \"PE\"\nroster = \"roster.toml\"\nmember_key = \"member.key\"\n\
         node_key = \"node.key\"\ndata_dir = {data_dir:?}\n"
    );
    let path = data_dir.join("node.toml");
    std::fs::write(&path, text).expect("config written");
    path
}

fn vigia_node(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigia-node"))
        .args(["token"])
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .expect("vigia-node runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

async fn me_status(base: &str, token: &str) -> (StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("answered");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn a_command_line_token_works_on_the_running_node_until_revoked() {
    let network = Network::single();
    let node = network.start(0).await;
    let config = config_file(&network.data_dir(0));

    let created = vigia_node(
        &config,
        &["create", "--role", "admin", "--label", "guardia nocturna"],
    );
    let token = stdout(&created).trim().to_owned();
    assert!(token.starts_with("vigia_"), "{token}");
    let (status, me) = me_status(&node.client.base, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["label"], "guardia nocturna");
    assert_eq!(me["role"], "admin");

    let listed = stdout(&vigia_node(&config, &["list"]));
    assert!(
        listed.contains("guardia nocturna") && listed.contains("admin"),
        "{listed}"
    );
    assert!(!listed.contains(&token), "the list never shows a token");
    let on_disk = std::fs::read_to_string(network.tokens_path(0)).expect("token file");
    assert!(!on_disk.contains(&token), "only the hash is stored");

    stdout(&vigia_node(&config, &["revoke", "guardia nocturna"]));
    let (status, error) = me_status(&node.client.base, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"]["code"], "unauthorized");

    let bad_role = vigia_node(&config, &["create", "--role", "root", "--label", "x"]);
    assert!(!bad_role.status.success());
    let duplicate = vigia_node(&config, &["create", "--role", "focal", "--label", "focal"]);
    assert!(!duplicate.status.success(), "labels are unique");
    node.stop().await;
}
