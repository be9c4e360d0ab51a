//! CSV import and export through the local API: what spreadsheets write (byte-order mark,
//! semicolons, CRLF, quoted line breaks) is read; any bad row fails the whole file and
//! every bad row is reported with its line and column; a dry run applies nothing; an
//! export imports back unchanged.

mod api_support;

use api_support::{As, Network, TestNode, contact};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const INSTITUTIONS: &str = "id,name,name_en,name_es,name_pt,name_fr,kind,address,phones,emails\n\
pnp,Policía Nacional del Perú,National Police of Peru,,,,police,\"Av. España 450, Lima\",+5114181234,mesa@pnp.example.pe\n\
uif,Unidad de Inteligencia Financiera,Financial Intelligence Unit,,,Cellule de renseignement financier,financial_intelligence_unit,,,\n";

async fn node_with_institutions() -> (Network, TestNode) {
    let network = Network::single();
    let node = network.start(0).await;
    let answer = node.client.import(INSTITUTIONS, false).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json()["record_type"], "institutions");
    assert_eq!(answer.json()["published"], 2);
    (network, node)
}

/// A contacts file as a spreadsheet in a Spanish locale saves it: BOM, `;`, CRLF, a quoted
/// note with a line break and a semicolon.
fn spreadsheet_contacts() -> Vec<u8> {
    let rows = [
        "id;given_names;family_names;institution_id;role;emails;phones;languages;always_on;time_zone;from;to;notes",
        "jq;José María;Quispe Mamani;pnp;Jefe de guardia;jq@pnp.example.pe|guardia@pnp.example.pe;+5114181234|+51999888777;es|qu;true;;;;\"Turno de noche;\r\nhabla quechua\"",
        "ar;Ana;Rojas;uif;Analista;;+5114185555;es|en;false;America/Lima;08:00;17:00;",
        "gf;Graça;Ferreira Gonçalves;pnp;Enlace;;;pt;TRUE;;;;",
    ];
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend_from_slice(rows.join("\r\n").as_bytes());
    bytes.extend_from_slice(b"\r\n");
    bytes
}

fn heads(node: &TestNode) -> String {
    format!("{:?}", node.node.handle().heads().expect("heads"))
}

fn errors(answer: &api_support::Answer) -> Vec<(u64, String)> {
    answer.json()["error"]["details"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|error| {
            (
                error["line"].as_u64().expect("line"),
                error["column"].as_str().expect("column").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn spreadsheet_csv_with_bom_semicolons_crlf_and_quoted_newlines_imports() {
    let (_network, node) = node_with_institutions().await;
    let client = &node.client;
    let before = heads(&node);
    let dry = client.import(spreadsheet_contacts(), true).await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.text);
    let report = dry.json();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["rows"], 3);
    assert_eq!(report["created"], 3);
    assert_eq!(report["published"], 0);
    assert_eq!(heads(&node), before, "a dry run publishes nothing");
    assert_eq!(client.get("/v1/contacts").await["total"], 0);

    let applied = client.import(spreadsheet_contacts(), false).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
    assert_eq!(applied.json()["published"], 3);
    let jq = client.get("/v1/contacts/PE/jq").await;
    assert_eq!(jq["notes"], "Turno de noche;\r\nhabla quechua");
    assert_eq!(jq["phones"][1], "+51999888777");
    assert_eq!(jq["languages"], serde_json::json!(["es", "qu"]));
    let ar = client.get("/v1/contacts/PE/ar").await;
    assert_eq!(ar["always_on"], false);
    assert_eq!(ar["hours"]["to"], "17:00");
    let found = client.get("/v1/contacts?q=graca%20goncalves").await;
    assert_eq!(found["total"], 1);

    let again = client.import(spreadsheet_contacts(), false).await;
    assert_eq!(again.json()["unchanged"], 3);
    assert_eq!(again.json()["published"], 0);
    node.stop().await;
}

#[tokio::test]
async fn a_bad_row_in_the_middle_leaves_nothing_applied_and_every_bad_row_is_reported() {
    let (_network, node) = node_with_institutions().await;
    let client = &node.client;
    let before = heads(&node);
    let file = "id,given_names,family_names,institution_id,phones,always_on,notes\n\
        ok1,Ana,Rojas,pnp,+5114181234,true,\"two\nlines\"\n\
        bad1,Luis,Paz,pnp,014181234,true,\n\
        ok2,Rosa,Vega,pnp,,true,\n\
        bad2,,Soto,pnp,,true,\n\
        bad3,Eva,Mora,nowhere,,true,\n\
        bad4,Raúl,Díaz,pnp,,sometimes,\n\
        ok1,Ana,Duplicada,pnp,,true,\n\
        short,row\n";
    let answer = client.import(file, false).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text
    );
    assert_eq!(answer.code(), "invalid_rows");
    // Line numbers count the quoted line break of the first row.
    let expected: Vec<(u64, String)> = [
        (4, "phones"),
        (6, "given_names"),
        (7, "institution_id"),
        (8, "always_on"),
        (9, "id"),
        (10, ""),
    ]
    .iter()
    .map(|(line, column)| (*line, (*column).to_owned()))
    .collect();
    assert_eq!(errors(&answer), expected, "{}", answer.text);
    assert_eq!(answer.json()["error"]["details"]["total"], 6);
    assert_eq!(answer.json()["error"]["details"]["rows"], 6);
    assert_eq!(heads(&node), before, "nothing was published");
    assert_eq!(client.get("/v1/contacts").await["total"], 0);

    let dry = client.import(file, true).await;
    assert_eq!(
        dry.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a dry run reports the same"
    );
    node.stop().await;
}

#[tokio::test]
async fn bad_headers_and_encodings_are_refused_with_the_reason() {
    let (_network, node) = node_with_institutions().await;
    let client = &node.client;
    let unknown = client
        .import(
            "id,given_names,family_names,institution_id,always_on,colour\n",
            false,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(errors(&unknown), [(1, "colour".to_owned())]);
    let missing = client.import("id,given_names,family_names\n", false).await;
    let columns: Vec<String> = errors(&missing)
        .into_iter()
        .map(|(_, column)| column)
        .collect();
    assert_eq!(columns, ["institution_id", "always_on"]);
    let neither = client.import("a,b,c\n1,2,3\n", false).await;
    assert_eq!(neither.status, StatusCode::UNPROCESSABLE_ENTITY);
    let latin1 = b"id,given_names,family_names,institution_id,always_on\nx,Jos\xe9,P,pnp,true\n";
    let answer = client.import(latin1.to_vec(), false).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text.contains("line 2"), "{}", answer.text);
    let empty = client.import("\u{feff}", false).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let flag = client
        .send(
            client
                .request(Method::POST, "/v1/import?dry_run=perhaps", As::Admin)
                .body("id"),
        )
        .await;
    assert_eq!(flag.status, StatusCode::BAD_REQUEST);
    assert_eq!(flag.field(), "dry_run");
    node.stop().await;
}

async fn export(node: &TestNode, query: &str) -> Vec<u8> {
    let answer = node
        .client
        .send(
            node.client
                .request(Method::GET, &format!("/v1/export.csv{query}"), As::Focal),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert!(answer.content_type.starts_with("text/csv"));
    answer.text.into_bytes()
}

#[tokio::test]
async fn an_export_imports_back_unchanged() {
    let (_network, node) = node_with_institutions().await;
    let client = &node.client;
    assert_eq!(
        client.import(spreadsheet_contacts(), false).await.status,
        StatusCode::OK
    );
    // Text a spreadsheet would run as a formula, and text that looks neutralised already.
    let mut hostile = contact("=cmd|' /C calc'!A0", "'=Quoted", "pnp");
    hostile["role"] = "@SUM(1)".into();
    hostile["notes"] = "=HYPERLINK(\"http://x.example\",\"click\")\r\n-1+1".into();
    hostile["phones"] = serde_json::json!(["+541143701234"]);
    client.put("/v1/contacts/PE/hostile", hostile.clone()).await;
    let contacts = export(&node, "").await;
    let text = String::from_utf8(contacts.clone()).expect("utf-8");
    let hostile_row = text
        .lines()
        .find(|line| line.starts_with("PE,hostile,"))
        .expect("hostile row");
    assert!(
        hostile_row.starts_with("PE,hostile,'=cmd|' /C calc'!A0,''=Quoted,pnp,'@SUM(1),"),
        "{hostile_row}"
    );
    assert!(hostile_row.contains(",+541143701234,"), "{hostile_row}");
    assert!(text.contains("\"'=HYPERLINK("), "{text}");
    assert!(contacts.starts_with("\u{feff}member,id,given_names".as_bytes()));
    let institutions = export(&node, "?type=institutions&member=PE").await;
    let before = heads(&node);

    for file in [&institutions, &contacts] {
        let answer = client.import(file.clone(), false).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let report: Value = answer.json();
        assert_eq!(report["unchanged"], report["rows"], "{report}");
        assert_eq!(report["published"], 0);
    }
    assert_eq!(heads(&node), before);
    assert_eq!(
        export(&node, "").await,
        contacts,
        "a second export is identical"
    );
    let read_back = client.get("/v1/contacts/PE/hostile").await;
    for field in ["given_names", "family_names", "role", "notes", "phones"] {
        assert_eq!(read_back[field], hostile[field], "{field}");
    }

    let plain = export(&node, "?bom=false").await;
    assert!(plain.starts_with(b"member,id,"));
    let edited = String::from_utf8(plain)
        .expect("utf-8")
        .replace("Jefe de guardia", "Jefa de guardia");
    let report = client.import(edited, false).await.json();
    assert_eq!(report["updated"], 1);
    assert_eq!(report["published"], 1);
    assert_eq!(
        client.get("/v1/contacts/PE/jq").await["role"],
        "Jefa de guardia"
    );
    node.stop().await;
}

fn reasons(answer: &api_support::Answer) -> Vec<(u64, String, String)> {
    answer.json()["error"]["details"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|error| {
            (
                error["line"].as_u64().expect("line"),
                error["column"].as_str().expect("column").to_owned(),
                error["reason"].as_str().expect("reason").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_bad_field_of_every_row_is_reported_at_once() {
    let (_network, node) = node_with_institutions().await;
    let file = "id,given_names,family_names,institution_id,emails,phones,languages,always_on,time_zone,from,to\n\
        ok,Ana,Rojas,pnp,,,es,true,,,\n\
        six bad,,,pnp,no-at-sign,0114|+51999|+0,es|xx,false,America/Lima,8:00,25:00\n\
        two,Luis,Paz,nowhere,,,,sometimes,,,\n\
        hidden,\u{200b},Paz\u{202e}zap,pnp,,,,true,,,\n";
    let answer = node.client.import(file, true).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text
    );
    let found = reasons(&answer);
    let places: Vec<(u64, &str)> = found
        .iter()
        .map(|(line, column, _)| (*line, column.as_str()))
        .collect();
    assert_eq!(
        places,
        [
            (3, "id"),
            (3, "given_names"),
            (3, "family_names"),
            (3, "emails"),
            (3, "phones"),
            (3, "phones"),
            (3, "languages"),
            (3, "from"),
            (3, "to"),
            (4, "institution_id"),
            (4, "always_on"),
            (5, "given_names"),
            (5, "family_names"),
        ],
        "{}",
        answer.text
    );
    assert!(found[4].2.starts_with("item 1:"), "{found:?}");
    assert!(found[5].2.starts_with("item 3:"), "{found:?}");
    assert!(
        found[6]
            .2
            .contains("\"xx\" is not an ISO 639-1 language code"),
        "{found:?}"
    );
    let details = &answer.json()["error"]["details"];
    assert!(found[12].2.contains("U+202E"), "{found:?}");
    assert_eq!(details["total"], 13);
    assert_eq!(details["rows"], 3);
    assert_eq!(details["not_listed"], 0);
    node.stop().await;
}

#[tokio::test]
async fn errors_past_the_limit_are_counted_not_listed() {
    let (_network, node) = node_with_institutions().await;
    let mut file = String::from("id,given_names,family_names,institution_id,always_on\n");
    for row in 0..600 {
        file.push_str(&format!("c-{row},,,pnp,true\n"));
    }
    let answer = node.client.import(file, true).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let details = &answer.json()["error"]["details"];
    assert_eq!(details["errors"].as_array().expect("errors").len(), 1_000);
    assert_eq!(details["total"], 1_200);
    assert_eq!(details["not_listed"], 200);
    assert_eq!(details["rows"], 600);
    node.stop().await;
}

#[tokio::test]
async fn a_language_code_that_names_no_language_is_refused_by_put_and_import() {
    let (_network, node) = node_with_institutions().await;
    let mut contact = api_support::contact("Ana", "Rojas", "pnp");
    contact["languages"] = serde_json::json!(["es", "xx"]);
    let answer = node
        .client
        .call(Method::PUT, "/v1/contacts/PE/ar", As::Admin, Some(contact))
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text
    );
    assert_eq!(answer.field(), "languages[1]");
    assert!(answer.text.contains("ISO 639-1"), "{}", answer.text);
    let file = "id,given_names,family_names,institution_id,languages,always_on\n\
        ar,Ana,Rojas,pnp,es|xx,true\n";
    let imported = node.client.import(file, false).await;
    assert_eq!(
        errors(&imported),
        [(2, "languages".to_owned())],
        "{}",
        imported.text
    );
    assert_eq!(node.client.get("/v1/contacts").await["total"], 0);
    node.stop().await;
}

#[tokio::test]
async fn another_member_s_file_is_named_as_such_row_by_row() {
    let network = Network::new(&[("PE", "Perú"), ("AR", "Argentina")]);
    let pe = network.start(0).await;
    let ar = network.start(1).await;
    pe.wait_ready().await;
    ar.wait_ready().await;
    let institutions = "id,name,kind\nar-pfa,Policía Federal Argentina,police\n";
    assert_eq!(
        ar.client.import(institutions, false).await.status,
        StatusCode::OK
    );
    let contacts = "id,given_names,family_names,institution_id,always_on\n\
        c-1,Ana,Pérez,ar-pfa,true\n\
        c-2,Juan,Gómez,ar-pfa,true\n";
    assert_eq!(
        ar.client.import(contacts, false).await.status,
        StatusCode::OK
    );
    let client = pe.client.clone();
    api_support::eventually("PE holds AR's contacts", || {
        let client = client.clone();
        async move { client.get("/v1/contacts?member=AR").await["total"] == 2 }
    })
    .await;

    let exported = String::from_utf8(export(&pe, "?member=AR").await).expect("utf-8");
    let answer = pe.client.import(exported.clone(), true).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text
    );
    let said = "row is for member AR; this node publishes only PE's directory";
    let found = reasons(&answer);
    assert_eq!(found.len(), 2, "one error per row: {found:?}");
    assert!(
        found
            .iter()
            .all(|(_, column, reason)| column == "member" && reason == said),
        "{found:?}"
    );

    // A file without the member column, as older exports and hand-made sheets are.
    let without_member: String = exported
        .trim_start_matches('\u{feff}')
        .lines()
        .map(|line| format!("{}\n", line.split_once(',').expect("member cell").1))
        .collect();
    let answer = pe.client.import(without_member, true).await;
    let found = reasons(&answer);
    assert_eq!(found.len(), 2, "one error per row: {found:?}");
    assert!(
        found
            .iter()
            .all(|(_, _, reason)| reason.starts_with("row is for member AR")),
        "{found:?}"
    );
    ar.stop().await;
    pe.stop().await;
}
