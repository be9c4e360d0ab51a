//! The `vigia` client commands as a focal point and an IT team run them, against real nodes
//! started in this process: search, show, export and import, put and remove, alerts from
//! issue to acknowledgement, the live watch, the network view, and every way of naming the
//! node and token.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Network, PATIENCE, TestNode, Workspace, stderr, stdout, succeeded};
use unicode_width::UnicodeWidthStr;

/// Institutions and contacts of Perú with accents in all four languages, several phones and
/// e-mails, office hours and 24/7 duty.
fn load_directory(workspace: &Workspace, node: &TestNode) {
    let institutions = [
        (
            "pe-pnp",
            json!({
                "name": "Policía Nacional del Perú",
                "names": { "en": "Peruvian National Police", "es": "Policía Nacional del Perú" },
                "kind": "police",
                "address": "Av. España 450, Lima",
                "phones": ["+5114181234"],
                "emails": ["mesa@pnp.gob.example.pe"],
            }),
        ),
        (
            "pe-uif",
            json!({
                "name": "Unidad de Inteligencia Financiera",
                "kind": "financial_intelligence_unit",
            }),
        ),
    ];
    for (id, body) in institutions {
        let file = workspace.write(&format!("{id}.json"), &body.to_string());
        let file = file.to_str().expect("UTF-8 path");
        workspace.admin(node, &["institutions", "put", "PE", id, "--file", file]);
    }
    let contacts = [
        (
            "pe-pnp-001",
            json!({
                "given_names": "José María",
                "family_names": "Quispe Mamani",
                "institution_id": "pe-pnp",
                "role": "Oficial de enlace",
                "emails": ["jquispe@pnp.gob.example.pe", "guardia@pnp.gob.example.pe"],
                "phones": ["+5114181234", "+51999888777"],
                "languages": ["es", "qu"],
                "always_on": true,
                "notes": "Enlace con la Policía Federal en São Paulo",
            }),
        ),
        (
            "pe-uif-001",
            json!({
                "given_names": "Ana Lucía",
                "family_names": "Ñañez Peña",
                "institution_id": "pe-uif",
                "role": "Analista financiera",
                "emails": ["analisis@uif.gob.example.pe"],
                "phones": ["+5116123456"],
                "languages": ["es", "pt"],
                "always_on": false,
                "hours": { "time_zone": "America/Lima", "from": "08:00", "to": "17:00" },
            }),
        ),
        (
            "pe-pnp-002",
            json!({
                "given_names": "François",
                "family_names": "Lefèvre",
                "institution_id": "pe-pnp",
                "role": "Agent de liaison",
                "emails": ["flefevre@pnp.gob.example.pe"],
                "phones": ["+5114185555"],
                "languages": ["fr", "en"],
                "always_on": true,
            }),
        ),
    ];
    for (id, body) in contacts {
        let file = workspace.write(&format!("{id}.json"), &body.to_string());
        let file = file.to_str().expect("UTF-8 path");
        let said = workspace.admin(node, &["contacts", "put", "PE", id, "--file", file]);
        assert!(said.starts_with("created contact PE"), "{said}");
    }
}

fn single_node_with_directory() -> (Network, TestNode, Workspace) {
    let network = Network::single();
    let node = network.start(0);
    network.wait_ready(&node);
    let workspace = Workspace::new();
    load_directory(&workspace, &node);
    (network, node, workspace)
}

fn alert_args(title: &str) -> Vec<String> {
    [
        "alerts",
        "issue",
        "--title",
        title,
        "--severity",
        "severe",
        "--urgency",
        "immediate",
        "--certainty",
        "likely",
        "--tlp",
        "amber",
        "--expires-in",
        "120",
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect()
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn search_ignores_accents_and_case_in_all_four_languages() {
    let (network, node, workspace) = single_node_with_directory();
    for (words, found) in [
        (vec!["jose", "peru"], "José María"),
        (vec!["JOSÉ"], "José María"),
        (vec!["sao", "paulo"], "José María"),
        (vec!["nanez"], "Ana Lucía"),
        (vec!["francois", "lefevre"], "François"),
        (vec!["peruvian"], "José María"),
    ] {
        let mut args = vec!["contacts", "search"];
        args.extend(&words);
        let table = workspace.focal(&node, &args);
        assert!(
            table.contains(found),
            "{words:?} should find {found}:\n{table}"
        );
    }
    let json = workspace.focal(&node, &["contacts", "search", "--json", "jose", "peru"]);
    let answer: Value = serde_json::from_str(&json).expect("--json prints the node's JSON");
    assert_eq!(answer["total"], 1);
    assert_eq!(answer["items"][0]["id"], "pe-pnp-001");
    let filtered = workspace.focal(
        &node,
        &[
            "contacts",
            "search",
            "--kind",
            "police",
            "--always-on",
            "--language",
            "fr",
        ],
    );
    assert!(
        filtered.contains("François") && !filtered.contains("José"),
        "{filtered}"
    );
    network.stop(node);
}

#[test]
fn search_tables_align_names_with_accents_by_display_width() {
    let (network, node, workspace) = single_node_with_directory();
    let table = workspace.focal(&node, &["contacts", "search", "--member", "pe"]);
    let lines: Vec<&str> = table.lines().take(4).collect();
    let column = |line: &str, cell: &str| {
        let at = line
            .find(cell)
            .unwrap_or_else(|| panic!("{cell} in {line}"));
        line[..at].width()
    };
    let header = column(lines[0], "institution");
    for line in &lines[1..] {
        let cell = ["Policía", "Unidad"]
            .into_iter()
            .find(|name| line.contains(name))
            .expect("an institution");
        assert_eq!(column(line, cell), header, "misaligned:\n{table}");
    }
    assert!(table.contains("3 contacts"), "{table}");
    network.stop(node);
}

#[test]
fn show_gives_every_phone_email_language_and_the_office_hours() {
    let (network, node, workspace) = single_node_with_directory();
    let shown = workspace.focal(&node, &["contacts", "show", "pe", "pe-uif-001"]);
    assert!(shown.contains("Ana Lucía Ñañez Peña"), "{shown}");
    assert!(shown.contains("08:00–17:00 (America/Lima)"), "{shown}");
    assert!(shown.contains("es, pt"), "{shown}");
    let shown = workspace.focal(&node, &["contacts", "show", "PE", "pe-pnp-001"]);
    assert!(shown.contains("+5114181234, +51999888777"), "{shown}");
    assert!(shown.contains("guardia@pnp.gob.example.pe"), "{shown}");
    assert!(
        shown.contains("Policía Nacional del Perú (police, pe-pnp)"),
        "{shown}"
    );
    let institution = workspace.focal(&node, &["institutions", "show", "PE", "pe-pnp"]);
    assert!(
        institution.contains("Peruvian National Police"),
        "{institution}"
    );
    let listed = workspace.focal(&node, &["institutions", "list", "--kind", "police"]);
    assert!(
        listed.contains("pe-pnp") && !listed.contains("pe-uif"),
        "{listed}"
    );
    let missing = workspace.run(&node, &node.focal, &["contacts", "show", "PE", "nadie"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("404"), "{}", stderr(&missing));
    network.stop(node);
}

#[test]
fn csv_export_imports_back_without_changing_anything() {
    let (network, node, workspace) = single_node_with_directory();
    for kind in ["institutions", "contacts"] {
        let file = format!("{kind}.csv");
        let wrote = workspace.focal(&node, &[kind, "export", "--format", "csv", "--out", &file]);
        assert!(wrote.contains(&format!("to {file}")), "{wrote}");
        let checked = workspace.admin(&node, &["import", &file, "--dry-run"]);
        assert!(checked.contains("0 to create, 0 to change"), "{checked}");
        let imported = workspace.admin(&node, &["import", &file]);
        assert!(imported.contains("0 entries published"), "{imported}");
    }
    let contacts = std::fs::read_to_string(workspace.path().join("contacts.csv")).expect("file");
    assert!(
        contacts.starts_with('\u{feff}'),
        "a file for spreadsheets starts with a BOM"
    );
    assert!(contacts.contains("Ñañez Peña"));
    network.stop(node);
}

#[test]
fn an_edited_csv_file_imports_its_changes() {
    let (network, node, workspace) = single_node_with_directory();
    let exported = workspace.focal(&node, &["contacts", "export", "--format", "csv"]);
    let edited = exported.replace("Analista financiera", "Jefa de análisis");
    let file = workspace.write("edited.csv", &edited);
    let imported = workspace.admin(&node, &["import", file.to_str().expect("UTF-8")]);
    assert!(
        imported.contains("1 updated") && imported.contains("1 entries"),
        "{imported}"
    );
    let shown = workspace.focal(&node, &["contacts", "show", "PE", "pe-uif-001"]);
    assert!(shown.contains("Jefa de análisis"), "{shown}");
    network.stop(node);
}

#[test]
fn vcard_export_reads_back_in_a_strict_vcard_parser() {
    let (network, node, workspace) = single_node_with_directory();
    let wrote = workspace.focal(
        &node,
        &[
            "contacts", "export", "--format", "vcard", "--member", "PE", "--out", "pe.vcf",
        ],
    );
    assert!(wrote.contains("wrote 3 contacts of PE"), "{wrote}");
    let text = std::fs::read_to_string(workspace.path().join("pe.vcf")).expect("file");
    let cards = vcard4::parse(&text).expect("a strict RFC 6350 parser reads the export");
    assert_eq!(cards.len(), 3);
    let jose = cards
        .iter()
        .find(|card| {
            card.formatted_name
                .iter()
                .any(|name| name.value == "José María Quispe Mamani")
        })
        .expect("José's card");
    assert_eq!(jose.tel.len(), 2);
    assert_eq!(jose.email.len(), 2);
    assert_eq!(jose.org.len(), 1);
    assert_eq!(jose.role.len(), 1);
    assert_eq!(jose.lang.len(), 2);
    assert_eq!(
        jose.org[0].value,
        vec!["Policía Nacional del Perú".to_owned()]
    );
    assert_eq!(jose.role[0].value, "Oficial de enlace");
    for card in &cards {
        card.validate().expect("each card is valid vCard 4.0");
    }
    let francois = cards
        .iter()
        .find(|card| {
            card.formatted_name
                .iter()
                .any(|name| name.value == "François Lefèvre")
        })
        .expect("François's card");
    assert_eq!(francois.lang.len(), 2);
    network.stop(node);
}

#[test]
fn json_export_lists_every_contact_as_the_api_shows_it() {
    let (network, node, workspace) = single_node_with_directory();
    let exported = workspace.focal(&node, &["contacts", "export", "--format", "json"]);
    let contacts: Value = serde_json::from_str(&exported).expect("JSON");
    let ids: Vec<&str> = contacts
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|contact| contact["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.contains(&"pe-pnp-002"));
    network.stop(node);
}

#[test]
fn put_replaces_and_remove_deletes_the_node_s_own_records() {
    let (network, node, workspace) = single_node_with_directory();
    let shown = workspace.focal(&node, &["contacts", "show", "PE", "pe-pnp-002", "--json"]);
    let mut contact: Value = serde_json::from_str(&shown).expect("JSON");
    let file = workspace.write("same.json", &contact.to_string());
    let same = workspace.admin(
        &node,
        &[
            "contacts",
            "put",
            "PE",
            "pe-pnp-002",
            "--file",
            file.to_str().expect("UTF-8"),
        ],
    );
    assert!(
        same.starts_with("unchanged contact PE pe-pnp-002"),
        "{same}"
    );
    contact["role"] = json!("Officier de liaison");
    let file = workspace.write("changed.json", &contact.to_string());
    let changed = workspace.admin(
        &node,
        &[
            "contacts",
            "put",
            "PE",
            "pe-pnp-002",
            "--file",
            file.to_str().expect("UTF-8"),
        ],
    );
    assert!(
        changed.starts_with("replaced contact PE pe-pnp-002"),
        "{changed}"
    );
    let removed = workspace.admin(&node, &["contacts", "remove", "PE", "pe-pnp-002"]);
    assert!(
        removed.starts_with("removed contact PE pe-pnp-002"),
        "{removed}"
    );
    let search = workspace.focal(&node, &["contacts", "search", "francois"]);
    assert!(search.contains("no contact matches"), "{search}");
    let busy = workspace.run(
        &node,
        &node.admin,
        &["institutions", "remove", "PE", "pe-uif"],
    );
    assert_eq!(
        busy.status.code(),
        Some(1),
        "an institution with contacts stays"
    );
    assert!(stderr(&busy).contains("409"), "{}", stderr(&busy));
    network.stop(node);
}

#[test]
fn import_with_a_bad_row_names_its_line_and_column_and_exits_1() {
    let (network, node, workspace) = single_node_with_directory();
    // LF line ends: with CRLF the node reports each row's line one too low, a csv crate
    // bug (BurntSushi/rust-csv#395) the node inherits.
    let csv = "id,given_names,family_names,institution_id,always_on,phones\n\
               pe-pnp-010,Rosa,Huamán,pe-pnp,true,+5114180000\n\
               pe-pnp-011,Luis,Cárdenas,pe-pnp,true,0800-POLICIA\n\
               pe-pnp-012,Elena,Ríos,pe-nada,true,+5114180001\n";
    let file = workspace.write("bad.csv", csv);
    let file = file.to_str().expect("UTF-8");
    for extra in [&["--dry-run"][..], &[][..]] {
        let mut args = vec!["import", file];
        args.extend(extra);
        let output = workspace.run(&node, &node.admin, &args);
        assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
        let (rows, error) = (stdout(&output), stderr(&output));
        let line_of = |id: &str| {
            rows.lines()
                .find(|line| line.contains(id))
                .unwrap_or_else(|| panic!("a row for {id} in:\n{rows}"))
                .to_owned()
        };
        let phone = line_of("phones");
        assert!(
            phone.trim_start().starts_with('3'),
            "line 3, column phones: {phone}"
        );
        let institution = line_of("institution_id");
        assert!(institution.trim_start().starts_with('4'), "{institution}");
        assert!(
            error.contains("2 rows have errors; nothing was applied"),
            "{error}"
        );
    }
    let search = workspace.focal(&node, &["contacts", "search", "rosa"]);
    assert!(
        search.contains("no contact matches"),
        "nothing applied: {search}"
    );
    let json = workspace.run(&node, &node.admin, &["import", file, "--json"]);
    assert_eq!(json.status.code(), Some(1));
    let envelope: Value = serde_json::from_str(&stdout(&json)).expect("the node's error as JSON");
    assert_eq!(envelope["error"]["details"]["errors"][0]["line"], 3);
    network.stop(node);
}

#[test]
fn a_missing_token_fails_with_the_node_s_401_message() {
    let network = Network::single();
    let node = network.start(0);
    let workspace = Workspace::new();
    let output = workspace
        .command()
        .args(["--node", &node.base, "contacts", "search", "jose"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(error.contains("no API token was given"), "{error}");
    assert!(
        error.contains("the node answered 401: send a token"),
        "{error}"
    );
    let wrong = workspace.run(&node, "not-a-token", &["network"]);
    assert_eq!(wrong.status.code(), Some(1));
    let error = stderr(&wrong);
    assert!(error.contains("refused the token from --token"), "{error}");
    assert!(error.contains("401"), "{error}");
    network.stop(node);
}

#[test]
fn a_focal_point_token_cannot_change_the_directory() {
    let (network, node, workspace) = single_node_with_directory();
    let output = workspace.run(
        &node,
        &node.focal,
        &["contacts", "remove", "PE", "pe-pnp-001"],
    );
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert!(
        error.contains("the node answered 403: this needs the admin role"),
        "{error}"
    );
    let file = workspace.write("none.csv", "id,name,kind\r\npe-x,X,police\r\n");
    let import = workspace.run(
        &node,
        &node.focal,
        &["import", file.to_str().expect("UTF-8")],
    );
    assert_eq!(import.status.code(), Some(1));
    assert!(stderr(&import).contains("403"), "{}", stderr(&import));
    network.stop(node);
}

#[test]
fn the_environment_and_a_profile_name_the_node_and_token() {
    let network = Network::single();
    let node = network.start(0);
    let workspace = Workspace::new();
    let by_environment = workspace
        .command()
        .env("VIGIA_NODE", &node.base)
        .env("VIGIA_TOKEN", &node.focal)
        .args(["network"])
        .output()
        .expect("runs");
    let table = succeeded(&by_environment, &["network"]);
    assert!(table.contains("this node"), "{table}");

    let config = workspace.path().join(".config/vigia");
    std::fs::create_dir_all(&config).expect("config directory");
    let profile = config.join("profile.toml");
    let text = format!("node = \"{}\"\ntoken = \"{}\"\n", node.base, node.focal);
    std::fs::write(&profile, text).expect("profile");
    let readable_by_others = std::fs::Permissions::from_mode(0o644);
    std::fs::set_permissions(&profile, readable_by_others).expect("mode");
    let by_profile = workspace
        .command()
        .args(["network"])
        .output()
        .expect("runs");
    succeeded(&by_profile, &["network"]);
    assert!(
        stderr(&by_profile).contains("chmod 600"),
        "{}",
        stderr(&by_profile)
    );
    network.stop(node);
}

#[test]
fn testnet_flags_reach_a_member_with_its_admin_token() {
    let (network, node, workspace) = single_node_with_directory();
    let dir = workspace.path().join("testnet");
    std::fs::create_dir_all(dir.join("PE")).expect("member directory");
    let port = node.address.port();
    let manifest = format!(
        "seed = 1\n\n[[members]]\ncode = \"PE\"\nname = \"Peru\"\np2p_port = 1\napi_port = {port}\n"
    );
    std::fs::write(dir.join("testnet.toml"), manifest).expect("manifest");
    let tokens = format!("admin = \"{}\"\nfocal = \"{}\"\n", node.admin, node.focal);
    std::fs::write(dir.join("PE/tokens.toml"), tokens).expect("tokens");
    let dir = dir.to_str().expect("UTF-8");
    let output = workspace
        .command()
        .env("VIGIA_NODE", "http://127.0.0.1:9")
        .args([
            "--testnet",
            dir,
            "--member",
            "PE",
            "contacts",
            "search",
            "jose",
            "peru",
        ])
        .output()
        .expect("runs");
    let table = succeeded(&output, &["--testnet"]);
    assert!(table.contains("José María"), "{table}");
    let hint =
        format!("every phone and e-mail: vigia --testnet {dir} --member PE contacts show PE");
    assert!(table.contains(&hint), "{table}");
    assert!(table.contains("+5114181234 (+1 more)"), "{table}");
    network.stop(node);
}

#[test]
fn network_lists_every_member_with_reachability() {
    let network = Network::new(&[("PE", "Perú"), ("BR", "Brasil")]);
    let pe = network.start(0);
    let br = network.start(1);
    network.wait_ready(&pe);
    let workspace = Workspace::new();
    let table = workspace.focal(&pe, &["network"]);
    assert!(table.contains("publishing: yes"), "{table}");
    let brazil = table
        .lines()
        .find(|line| line.starts_with("BR"))
        .expect("a BR row");
    assert!(
        brazil.contains("Brasil") && brazil.contains("yes"),
        "{table}"
    );
    let json: Value =
        serde_json::from_str(&workspace.focal(&pe, &["network", "--json"])).expect("JSON");
    assert_eq!(json["member"], "PE");
    network.stop(br);
    network.stop(pe);
}

#[test]
fn an_alert_is_issued_listed_shown_and_acknowledged_across_two_nodes() {
    let network = Network::new(&[("PE", "Perú"), ("BR", "Brasil")]);
    let pe = network.start(0);
    let br = network.start(1);
    network.wait_ready(&pe);
    network.wait_ready(&br);
    let workspace = Workspace::new();
    let mut args = alert_args("Vehículo robado rumbo a la frontera");
    args.extend([
        "--json".to_owned(),
        "--respond-in".to_owned(),
        "30".to_owned(),
    ]);
    let issued: Value =
        serde_json::from_str(&workspace.focal(&pe, &refs(&args))).expect("the node's JSON");
    let seq = issued["seq"].as_u64().expect("seq").to_string();
    assert_eq!(issued["not_acknowledged"], json!(["BR"]));

    let started = std::time::Instant::now();
    let waiting = loop {
        let listed = workspace.focal(&br, &["alerts", "list", "--unacknowledged"]);
        if listed.contains("Vehículo robado") || started.elapsed() > PATIENCE {
            break listed;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let row = waiting
        .lines()
        .find(|line| line.starts_with("PE/"))
        .expect("PE's alert");
    assert!(row.contains("to ack") && row.contains("0/1"), "{waiting}");
    let shown = workspace.focal(&br, &["alerts", "show", &format!("PE/{seq}")]);
    // The hint repeats the flags that named the node, so it works when copied.
    let hint = format!("vigia --node {} --token … alerts ack PE {seq}", br.base);
    assert!(shown.contains(&hint), "{shown}");

    let note = "Recibido, patrullas alertadas en Tacna";
    let acked = workspace.focal(&br, &["alerts", "ack", "PE", &seq, "--note", note]);
    assert!(
        acked.starts_with(&format!("acknowledged PE/{seq} as BR")),
        "{acked}"
    );
    let twice = workspace.run(&br, &br.focal, &["alerts", "ack", "PE", &seq]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(stderr(&twice).contains("409"), "{}", stderr(&twice));

    let started = std::time::Instant::now();
    let shown = loop {
        let shown = workspace.focal(&pe, &["alerts", "show", "PE", &seq]);
        if shown.contains(note) || started.elapsed() > PATIENCE {
            break shown;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let brazil = shown
        .lines()
        .find(|line| line.starts_with("BR "))
        .expect("BR's row");
    assert!(
        brazil.contains("Brasil") && brazil.contains("yes"),
        "{shown}"
    );
    assert!(!shown.contains("not acknowledged yet"), "{shown}");

    let cancelled = workspace.focal(&pe, &["alerts", "issue", "--cancels", &seq]);
    assert!(
        cancelled.contains(&format!("cancels PE/{seq}")),
        "{cancelled}"
    );
    let active = workspace.focal(&pe, &["alerts", "list", "--active"]);
    assert!(!active.contains(&format!("PE/{seq} ")), "{active}");
    assert_eq!(active.trim(), "no alerts", "a cancellation is not in force");
    let started = std::time::Instant::now();
    let listed = loop {
        let listed = workspace.focal(&br, &["alerts", "list"]);
        if listed.contains("cancellation") || started.elapsed() > PATIENCE {
            break listed;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let row = listed
        .lines()
        .find(|line| line.contains("cancellation"))
        .expect("the cancellation's row");
    assert!(row.contains(&format!("cancels PE/{seq}:")), "{listed}");
    assert!(!row.contains("to ack") && !row.contains("0/1"), "{listed}");
    network.stop(br);
    network.stop(pe);
}

/// A running `vigia alerts watch --json` whose output lines arrive on a channel.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watch {
    fn start(workspace: &Workspace, node: &TestNode) -> Self {
        let mut child = workspace
            .command()
            .args([
                "--node",
                &node.base,
                "--token",
                &node.focal,
                "alerts",
                "watch",
                "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("watch starts");
        let stdout = child.stdout.take().expect("piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// The next event named `name`, skipping others.
    fn next(&self, name: &str) -> Value {
        loop {
            let line = self.lines.recv_timeout(PATIENCE).expect("an event in time");
            let event: Value = serde_json::from_str(&line).expect("one JSON object per line");
            if event["event"] == name {
                return event;
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_prints_an_alert_the_moment_it_is_issued() {
    let network = Network::single();
    let node = network.start(0);
    network.wait_ready(&node);
    let workspace = Workspace::new();
    let watch = Watch::start(&workspace, &node);
    assert_eq!(watch.next("open")["data"]["member"], "PE");
    workspace.focal(
        &node,
        &refs(&alert_args("Amenaza de bomba en el aeropuerto")),
    );
    let alert = watch.next("alert");
    assert_eq!(alert["data"]["title"], "Amenaza de bomba en el aeropuerto");
    assert_eq!(alert["id"], "PE/1");
    drop(watch);
    network.stop(node);
}

#[test]
fn watch_reconnects_when_the_node_restarts_and_prints_what_arrives() {
    let network = Network::single();
    let node = network.start(0);
    network.wait_ready(&node);
    let workspace = Workspace::new();
    let watch = Watch::start(&workspace, &node);
    watch.next("open");
    let node = network.restart(node);
    network.wait_ready(&node);
    workspace.focal(&node, &refs(&alert_args("Después del reinicio")));
    let alert = watch.next("alert");
    assert_eq!(alert["data"]["title"], "Después del reinicio");
    drop(watch);
    network.stop(node);
}
