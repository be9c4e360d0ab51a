//! Store maintenance: `check` finds each kind of damage a disk or a bug could do, `rebuild`
//! repairs drifted views, a backup taken while entries are written is consistent, `restore`
//! puts a checked backup in place and keeps the old store, and the commands and the API
//! endpoint behave as an operator expects.
//!
//! Damage is done through redb directly, with the table layouts of `docs/storage.md`
//! written out here, as a broken disk or a bug in the node would do it.

mod api_support;
mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tempfile::TempDir;
use vigia_node::maintenance::check::{Problem, Report, check};
use vigia_node::maintenance::restore::{RestoreError, previous_path, restore};
use vigia_node::maintenance::{backup, store_in_use};
use vigia_node::store::Store;
use vigia_node::views::{RowDifference, ViewDifference};
use vigia_protocol::roster::RosterFile;

use support::{
    Fixture, Signed, acknowledgement, alert, code, contact, contact_remove, institution, network,
    views_of,
};

const ENTRIES: TableDefinition<(u16, u64), &[u8]> = TableDefinition::new("entries");
const HEADS: TableDefinition<u16, &[u8]> = TableDefinition::new("heads");
const FORKS: TableDefinition<(u16, u64, &[u8]), &[u8]> = TableDefinition::new("forks");
const ARRIVALS: TableDefinition<(u16, u64), u64> = TableDefinition::new("arrivals");
const VIEW_CONTACTS: TableDefinition<(u16, &str), &[u8]> = TableDefinition::new("view_contacts");

/// Three feeds of every kind of entry, and a rival of BR's second entry kept as evidence.
struct Populated {
    fixture: Fixture,
    /// Entries applied, by feed and in order.
    applied: Vec<Signed>,
}

fn populated() -> Populated {
    let network = network();
    let (mut ar, mut br, mut cl) = (
        network.feed(code("AR")),
        network.feed(code("BR")),
        network.feed(code("CL")),
    );
    let ar_alert;
    let mut rival_writer;
    let applied = vec![
        ar.next(institution("pfa")),
        ar.next(contact("c-1", "pfa")),
        ar.next(contact("c-2", "pfa")),
        {
            ar_alert = ar.next(alert("a-1"));
            ar_alert.clone()
        },
        ar.next(contact_remove("c-1")),
        br.next(institution("pf")),
        {
            rival_writer = br.clone();
            br.next(contact("c-1", "pf"))
        },
        br.next(acknowledgement(ar_alert.reference, "recebido")),
        cl.next(institution("pdi")),
        cl.next(acknowledgement(ar_alert.reference, "recibido")),
    ];
    let rival = rival_writer.next(contact("c-1-rival", "pf"));
    let mut fixture = Fixture::new();
    let refs: Vec<&Signed> = applied.iter().collect();
    assert_eq!(fixture.ingest(&refs).applied.len(), applied.len());
    assert_eq!(fixture.ingest(&[&rival]).new_forks.len(), 1);
    Populated { fixture, applied }
}

fn problems_of(store: &Store) -> Vec<Problem> {
    let report = check(store, &network().roster).expect("store readable");
    assert_eq!(report.problem_count, report.problems.len() as u64);
    report.problems
}

/// Changes the closed store at `path` with `change`, in one transaction.
fn damage(path: &Path, change: impl FnOnce(&WriteTransaction)) {
    let database = redb::Database::open(path).expect("store opens raw");
    let txn = database.begin_write().expect("write transaction");
    change(&txn);
    txn.commit().expect("damage committed");
}

/// Closes the fixture's store, damages it, and opens it again as the node would.
fn damaged(fixture: Fixture, change: impl FnOnce(&WriteTransaction)) -> (TempDir, Store) {
    let Fixture { dir, store, ledger } = fixture;
    drop((store, ledger));
    let path = dir.path().join("vigia.redb");
    damage(&path, change);
    let store = Store::open(&path).expect("store opens");
    (dir, store)
}

fn raw(member: &str) -> u16 {
    code(member).to_u16()
}

mod checking {
    use super::*;

    #[test]
    fn store_built_by_the_ledger_with_a_fork_is_clean() {
        let Populated { fixture, applied } = populated();

        let report = check(&fixture.store, &network().roster).expect("check");

        assert!(report.is_clean(), "{report}");
        assert_eq!(report.feeds, 3);
        assert_eq!(report.entries, applied.len() as u64);
        assert_eq!(report.arrivals, applied.len() as u64);
        assert_eq!(report.forks, 1);
        // Contacts AR/c-2 and BR/c-1, three institutions, one alert, two acknowledgements.
        assert_eq!(report.view_rows, 8);
        assert!(report.to_string().ends_with("clean: every invariant holds"));
    }

    #[test]
    fn empty_store_is_clean() {
        let fixture = Fixture::new();
        let report = check(&fixture.store, &network().roster).expect("check");
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.entries, 0);
    }

    #[test]
    fn entry_with_a_bad_signature_is_invalid() {
        let (_dir, store) = damaged(populated().fixture, |txn| {
            let mut entries = txn.open_table(ENTRIES).expect("entries");
            let mut value = entries
                .get((raw("AR"), 2))
                .expect("read")
                .expect("held")
                .value()
                .to_vec();
            // The signature is last, and the hash does not cover it.
            *value.last_mut().expect("bytes") ^= 0x01;
            entries
                .insert((raw("AR"), 2), value.as_slice())
                .expect("write");
        });

        let problems = problems_of(&store);

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            matches!(&problems[0], Problem::Invalid { author, seq: 2, reason }
                if *author == code("AR") && reason.contains("signature")),
            "{problems:?}"
        );
    }

    #[test]
    fn missing_entry_is_a_hole_in_its_feed() {
        let (_dir, store) = damaged(populated().fixture, |txn| {
            let key = (raw("AR"), 3);
            txn.open_table(ENTRIES).expect("t").remove(key).expect("rm");
            txn.open_table(ARRIVALS)
                .expect("t")
                .remove(key)
                .expect("rm");
        });

        let problems = problems_of(&store);

        let hole = Problem::Missing {
            author: code("AR"),
            from: 3,
            to: 3,
        };
        assert_eq!(problems.first(), Some(&hole), "{problems:?}");
        // AR/c-2 came from entry 3, so the views no longer follow from the entries.
        let stale = Problem::View(ViewDifference {
            table: "view_contacts",
            key: "AR/c-2".into(),
            difference: RowDifference::Unexpected,
        });
        assert_eq!(problems[1..], [stale]);
    }

    #[test]
    fn head_behind_the_last_entry_is_wrong() {
        let Populated { fixture, applied } = populated();
        let second = applied[1].reference;
        let (_dir, store) = damaged(fixture, |txn| {
            let mut value = 2u64.to_be_bytes().to_vec();
            value.extend_from_slice(&second.hash.0);
            txn.open_table(HEADS)
                .expect("heads")
                .insert(raw("AR"), value.as_slice())
                .expect("write");
        });

        let problems = problems_of(&store);

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            matches!(&problems[0], Problem::WrongHead { held: Some(head), last_seq: 5, .. }
                if head.seq == 2),
            "{problems:?}"
        );
    }

    #[test]
    fn stored_hash_that_is_not_the_entrys_is_a_mismatch() {
        let (_dir, store) = damaged(populated().fixture, |txn| {
            let mut entries = txn.open_table(ENTRIES).expect("entries");
            let mut value = entries
                .get((raw("CL"), 1))
                .expect("read")
                .expect("held")
                .value()
                .to_vec();
            value[0] ^= 0xff;
            entries
                .insert((raw("CL"), 1), value.as_slice())
                .expect("write");
        });

        let problems = problems_of(&store);

        assert!(
            matches!(&problems[0], Problem::HashMismatch { author, seq: 1, .. }
                if *author == code("CL")),
            "{problems:?}"
        );
        // The view record names its entry by the stored hash, as a rebuild would.
        assert!(
            matches!(&problems[1..], [Problem::View(ViewDifference { key, .. })]
                if key == "CL/pdi"),
            "{problems:?}"
        );
    }

    #[test]
    fn entry_stored_under_another_sequence_number_is_misplaced_and_breaks_the_chain() {
        let (_dir, store) = damaged(populated().fixture, |txn| {
            let mut entries = txn.open_table(ENTRIES).expect("entries");
            let second = entries
                .get((raw("BR"), 2))
                .expect("read")
                .expect("held")
                .value()
                .to_vec();
            entries
                .insert((raw("BR"), 3), second.as_slice())
                .expect("write");
        });

        let problems = problems_of(&store);

        assert!(problems.iter().any(|problem| matches!(
            problem,
            Problem::Misplaced {
                seq: 3,
                names_seq: 2,
                ..
            }
        )));
        assert!(
            problems
                .iter()
                .any(|problem| matches!(problem, Problem::BrokenLink { seq: 3, .. }))
        );
        assert!(
            problems
                .iter()
                .any(|problem| matches!(problem, Problem::WrongHead { .. }))
        );
    }

    #[test]
    fn view_row_that_drifted_is_found_and_a_rebuild_repairs_it() {
        let (_dir, store) = damaged(populated().fixture, |txn| {
            let mut contacts = txn.open_table(VIEW_CONTACTS).expect("view");
            contacts.remove((raw("BR"), "c-1")).expect("rm");
            contacts
                .insert((raw("CL"), "ghost"), b"not a record".as_slice())
                .expect("write");
        });

        let problems = problems_of(&store);
        let keys: Vec<_> = problems
            .iter()
            .map(|problem| match problem {
                Problem::View(difference) => (difference.key.as_str(), difference.difference),
                other => panic!("only views drifted: {other}"),
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("CL/ghost", RowDifference::Unexpected),
                ("BR/c-1", RowDifference::Missing),
            ]
        );

        store.rebuild_views().expect("rebuild");

        assert_eq!(problems_of(&store), []);
    }

    #[test]
    fn fork_evidence_that_is_the_applied_entry_is_bad() {
        let Populated { fixture, applied } = populated();
        let held = applied[0].clone();
        let (_dir, store) = damaged(fixture, |txn| {
            let key = (raw("AR"), 1, held.reference.hash.0.as_slice());
            txn.open_table(FORKS)
                .expect("forks")
                .insert(key, held.bytes.as_slice())
                .expect("write");
        });

        let problems = problems_of(&store);

        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            matches!(&problems[0], Problem::BadFork { seq: 1, reason, .. }
                if reason.contains("applied")),
            "{problems:?}"
        );
    }

    #[test]
    fn arrival_times_must_match_the_entries_held() {
        let (_dir, store) = damaged(populated().fixture, |txn| {
            let mut arrivals = txn.open_table(ARRIVALS).expect("arrivals");
            arrivals.remove((raw("BR"), 1)).expect("rm");
            arrivals.insert((raw("BR"), 9), 1).expect("write");
        });

        let problems = problems_of(&store);

        let expected = [
            Problem::Arrival {
                author: code("BR"),
                seq: 1,
                entry_held: true,
            },
            Problem::Arrival {
                author: code("BR"),
                seq: 9,
                entry_held: false,
            },
        ];
        assert_eq!(problems, expected);
    }

    #[test]
    fn report_lists_each_problem_under_the_counts() {
        let report = Report {
            feeds: 1,
            entries: 4,
            problems: vec![Problem::Missing {
                author: code("AR"),
                from: 2,
                to: 3,
            }],
            problem_count: 1,
            ..Report::default()
        };
        let text = report.to_string();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "1 feeds, 4 entries, 0 forks kept as evidence, 0 arrival times, 0 view rows",
                "problem: AR entries 2 to 3 are missing",
                "1 problem found",
            ]
        );
    }
}

mod backups {
    use super::*;

    #[test]
    fn backup_holds_the_same_feeds_forks_arrival_times_and_views() {
        let Populated { fixture, .. } = populated();
        let target = fixture.dir.path().join("copy.redb");

        let summary = backup::write(&fixture.store, &target).expect("backup");

        assert_eq!((summary.feeds, summary.entries, summary.forks), (3, 10, 1));
        assert_eq!(
            summary.bytes,
            std::fs::metadata(&target).expect("meta").len()
        );
        let copy = Store::open_existing(&target).expect("backup opens");
        assert!(check(&copy, &network().roster).expect("check").is_clean());
        assert_eq!(copy.heads().expect("h"), fixture.store.heads().expect("h"));
        assert_eq!(copy.forks().expect("f"), fixture.store.forks().expect("f"));
        assert_eq!(views_of(&copy), views_of(&fixture.store));
        for member in ["AR", "BR", "CL"] {
            let feed = |store: &Store| store.entries(code(member), 1, usize::MAX, usize::MAX);
            assert_eq!(feed(&copy).expect("e"), feed(&fixture.store).expect("e"));
            let arrival = |store: &Store| store.arrival_ms(code(member), 1).expect("a");
            assert_eq!(arrival(&copy), arrival(&fixture.store));
        }
        let leftovers = std::fs::read_dir(fixture.dir.path())
            .expect("list")
            .filter_map(Result::ok)
            .filter(|file| file.file_name().to_string_lossy().ends_with(".tmp"))
            .count();
        assert_eq!(
            leftovers, 0,
            "the temporary file is renamed, not left behind"
        );
    }

    #[test]
    fn backups_taken_while_entries_are_applied_are_each_consistent() {
        let mut fixture = Fixture::new();
        let store = fixture.store.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let writing = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut br = network().feed(code("BR"));
                let first = br.next(institution("pf"));
                fixture.ingest(&[&first]);
                // Bounded: the backups below take a few dozen milliseconds each.
                for n in 0..20_000 {
                    if stop.load(Ordering::Relaxed) {
                        return n;
                    }
                    let next = br.next(contact(&format!("c-{n}"), "pf"));
                    fixture.ingest(&[&next]);
                }
                20_000
            })
        };
        let dir = tempfile::tempdir().expect("dir");
        let mut seen = Vec::new();
        for round in 0..8 {
            let target = dir.path().join(format!("backup-{round}.redb"));
            let summary = backup::write(&store, &target).expect("backup");
            let copy = Store::open_existing(&target).expect("opens");
            let report = check(&copy, &network().roster).expect("check");
            assert!(report.is_clean(), "backup {round}: {report}");
            seen.push(summary.entries);
        }
        stop.store(true, Ordering::Relaxed);
        let written = writing.join().expect("writer");
        println!("backups held {seen:?} entries while {written} were written");
        assert!(seen.windows(2).all(|pair| pair[0] <= pair[1]), "{seen:?}");
        assert!(
            seen.first() < seen.last(),
            "the writer ran during the backups"
        );
    }

    #[test]
    fn backup_never_replaces_a_file_or_writes_into_a_missing_directory() {
        let fixture = populated().fixture;
        let existing = fixture.dir.path().join("keep.txt");
        std::fs::write(&existing, "important").expect("write");

        let error = backup::write(&fixture.store, &existing).expect_err("refused");
        assert!(matches!(error, backup::BackupError::Exists(_)), "{error}");
        assert_eq!(std::fs::read(&existing).expect("read"), b"important");

        let nowhere = fixture.dir.path().join("missing/backup.redb");
        let error = backup::write(&fixture.store, &nowhere).expect_err("refused");
        assert!(
            matches!(error, backup::BackupError::NoDirectory(_)),
            "{error}"
        );
    }
}

mod restoring {
    use super::*;

    /// A store with AR's first two entries, backed up, then a third entry written.
    fn backed_up_then_written() -> (TempDir, PathBuf, PathBuf) {
        let mut fixture = Fixture::new();
        let mut ar = network().feed(code("AR"));
        fixture.ingest(&[
            &ar.next(institution("pfa")),
            &ar.next(contact("c-1", "pfa")),
        ]);
        let backup_path = fixture.dir.path().join("backup.redb");
        backup::write(&fixture.store, &backup_path).expect("backup");
        fixture.ingest(&[&ar.next(contact("c-2", "pfa"))]);
        let Fixture { dir, store, ledger } = fixture;
        drop((store, ledger));
        let store_path = dir.path().join("vigia.redb");
        (dir, store_path, backup_path)
    }

    fn ar_head(path: &Path) -> u64 {
        let store = Store::open(path).expect("opens");
        store.heads().expect("heads")[&code("AR")].seq
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn the_store_its_backups_and_the_store_a_restore_keeps_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, store_path, backup_path) = backed_up_then_written();
        assert_eq!(mode(&store_path), 0o600, "a new store");
        assert_eq!(mode(&backup_path), 0o600, "a backup");
        // A store made by an older version under the default umask.
        std::fs::set_permissions(&store_path, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");

        restore(&backup_path, &store_path, &network().roster).expect("restore");

        assert_eq!(mode(&store_path), 0o600, "the restored store");
        assert_eq!(mode(&previous_path(&store_path)), 0o600, "the kept store");
    }

    #[test]
    fn restore_puts_the_backup_in_place_and_keeps_the_replaced_store() {
        let (_dir, store_path, backup_path) = backed_up_then_written();

        let restored = restore(&backup_path, &store_path, &network().roster).expect("restore");

        assert!(restored.report.is_clean());
        assert_eq!(restored.report.entries, 2);
        let previous = restored.previous.expect("old store kept");
        assert_eq!(previous, previous_path(&store_path));
        assert!(
            previous
                .to_string_lossy()
                .ends_with("vigia.redb.before-restore")
        );
        assert_eq!(ar_head(&store_path), 2);
        assert_eq!(ar_head(&previous), 3);
        assert!(backup_path.exists(), "the backup itself is left as it was");
    }

    #[test]
    fn restore_into_an_empty_data_directory_keeps_nothing() {
        let (dir, _store_path, backup_path) = backed_up_then_written();
        let fresh = dir.path().join("fresh/vigia.redb");

        let restored = restore(&backup_path, &fresh, &network().roster).expect("restore");

        assert_eq!(restored.previous, None);
        assert_eq!(ar_head(&fresh), 2);
    }

    #[test]
    fn restore_replaces_a_store_too_damaged_to_open_and_keeps_it() {
        let (_dir, store_path, backup_path) = backed_up_then_written();
        let garbage = vec![0x5a; 64 * 1024];
        std::fs::write(&store_path, &garbage).expect("damage");

        let restored = restore(&backup_path, &store_path, &network().roster).expect("restore");

        assert!(restored.previous_damage.is_some(), "{restored:?}");
        let kept = std::fs::read(previous_path(&store_path)).expect("kept");
        assert_eq!(kept, garbage);
        assert_eq!(ar_head(&store_path), 2);
    }

    #[test]
    fn restore_refuses_a_damaged_backup_and_leaves_the_store() {
        let (_dir, store_path, backup_path) = backed_up_then_written();
        let database = redb::Database::open(&backup_path).expect("backup opens raw");
        let txn = database.begin_write().expect("txn");
        txn.open_table(ENTRIES)
            .expect("entries")
            .remove((raw("AR"), 1))
            .expect("rm");
        txn.commit().expect("commit");
        drop(database);

        let error = restore(&backup_path, &store_path, &network().roster).expect_err("refused");

        let RestoreError::Refused(report) = error else {
            panic!("refused for its problems, not: {error}");
        };
        assert!(report.problems.contains(&Problem::Missing {
            author: code("AR"),
            from: 1,
            to: 1,
        }));
        assert_eq!(ar_head(&store_path), 3);
        assert!(!previous_path(&store_path).exists());
        let names: Vec<_> = std::fs::read_dir(store_path.parent().expect("dir"))
            .expect("list")
            .map(|file| file.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 2, "only the store and the backup: {names:?}");
    }

    #[test]
    fn restore_refuses_while_the_store_is_open() {
        let (_dir, store_path, backup_path) = backed_up_then_written();
        let running = Store::open(&store_path).expect("the node holds it");

        let error = restore(&backup_path, &store_path, &network().roster).expect_err("refused");

        assert!(matches!(error, RestoreError::InUse(_)), "{error}");
        assert_eq!(running.heads().expect("heads")[&code("AR")].seq, 3);
    }

    #[test]
    fn restore_refuses_the_store_itself_under_any_of_its_names_and_changes_nothing() {
        let (dir, store_path, _) = backed_up_then_written();
        let before = std::fs::read(&store_path).expect("store");
        let linked = dir.path().join("linked.redb");
        std::fs::hard_link(&store_path, &linked).expect("hard link");
        let dotted = dir.path().join(".").join("vigia.redb");

        for name in [&store_path, &dotted, &linked] {
            let error = restore(name, &store_path, &network().roster).expect_err("refused");
            assert!(
                matches!(error, RestoreError::SameFile(_)),
                "{name:?}: {error}"
            );
            assert!(error.to_string().contains("not a backup"), "{error}");
        }

        assert_eq!(std::fs::read(&store_path).expect("store"), before);
        assert!(!previous_path(&store_path).exists());
    }

    #[test]
    fn second_restore_refuses_to_lose_the_store_the_first_replaced() {
        let (_dir, store_path, backup_path) = backed_up_then_written();
        restore(&backup_path, &store_path, &network().roster).expect("first");

        let error = restore(&backup_path, &store_path, &network().roster).expect_err("refused");

        assert!(matches!(error, RestoreError::PreviousExists(_)), "{error}");
        assert_eq!(ar_head(&previous_path(&store_path)), 3);
    }

    #[test]
    fn store_held_by_another_handle_is_reported_in_use() {
        let (_dir, store_path, _) = backed_up_then_written();
        let _running = Store::open(&store_path).expect("the node holds it");

        let error = Store::open_existing(&store_path).err().expect("in use");

        assert!(store_in_use(&error), "{error:#}");
    }
}

/// The fixture network's roster, as the file a node's configuration names.
fn roster_toml() -> String {
    let network = network();
    let body = network.roster.body().clone();
    let mut file = RosterFile {
        body: body.clone(),
        signatures: Vec::new(),
    };
    for (member, key) in &network.keys {
        file.add_signature(body.sign(*member, key));
    }
    file.to_toml()
}

/// A configuration for `member` whose store is in `data_dir`, with the fixture roster.
/// Keys are not read by the maintenance commands.
fn write_config(dir: &Path, member: &str, data_dir: &Path, api: Option<&str>) -> PathBuf {
    std::fs::write(dir.join("roster.toml"), roster_toml()).expect("roster");
    let api = api.map_or(String::new(), |listen| {
        format!("[api]\nlisten = \"{listen}\"\n")
    });
    let text = format!(
        "member = \"{member}\"\nroster = \"roster.toml\"\nmember_key = \"member.key\"\n\
         node_key = \"node.key\"\ndata_dir = \"{}\"\n{api}",
        data_dir.display()
    );
    let path = dir.join("node.toml");
    std::fs::write(&path, text).expect("config");
    path
}

/// Runs `vigia-node` with `args` and no `VIGIA_` variables but those given.
fn vigia_node<I, S>(args: I, variables: &[(&str, &str)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_vigia-node"));
    command.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VIGIA_") {
            command.env_remove(key);
        }
    }
    command.envs(variables.iter().copied());
    command.output().expect("vigia-node runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

mod commands {
    use super::*;

    fn config_of(fixture: &Fixture) -> PathBuf {
        write_config(fixture.dir.path(), "AR", fixture.dir.path(), None)
    }

    #[test]
    fn check_command_exits_zero_only_for_a_clean_store() {
        let Populated { fixture, .. } = populated();
        let config = config_of(&fixture);
        let Fixture { dir, store, ledger } = fixture;
        drop((store, ledger));

        let clean = vigia_node(
            [OsStr::new("check"), "--config".as_ref(), config.as_ref()],
            &[],
        );
        assert!(clean.status.success(), "{}", text(&clean));
        assert!(
            text(&clean).contains("3 feeds, 10 entries, 1 forks"),
            "{}",
            text(&clean)
        );

        damage(&dir.path().join("vigia.redb"), |txn| {
            txn.open_table(ENTRIES)
                .expect("t")
                .remove((raw("BR"), 1))
                .expect("rm");
        });
        let broken = vigia_node(
            [OsStr::new("check"), "--config".as_ref(), config.as_ref()],
            &[],
        );
        assert_eq!(broken.status.code(), Some(1), "{}", text(&broken));
        assert!(
            text(&broken).contains("problem: BR entry 1 is missing"),
            "{}",
            text(&broken)
        );
    }

    #[test]
    fn check_command_refuses_a_missing_store_rather_than_creating_one() {
        let dir = tempfile::tempdir().expect("dir");
        let config = write_config(dir.path(), "AR", &dir.path().join("data"), None);

        let output = vigia_node(
            [OsStr::new("check"), "--config".as_ref(), config.as_ref()],
            &[],
        );

        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(!dir.path().join("data/vigia.redb").exists());
    }

    #[test]
    fn every_command_that_needs_the_node_stopped_says_so_while_it_runs() {
        let Populated { fixture, .. } = populated();
        let config = config_of(&fixture);
        let backup_path = fixture.dir.path().join("backup.redb");
        backup::write(&fixture.store, &backup_path).expect("backup");
        let config = config.as_os_str();
        let commands: [Vec<&OsStr>; 3] = [
            vec!["check".as_ref(), "--config".as_ref(), config],
            vec!["rebuild".as_ref(), "--config".as_ref(), config],
            vec![
                "restore".as_ref(),
                backup_path.as_ref(),
                "--config".as_ref(),
                config,
            ],
        ];
        // The fixture's store stays open in this process, as a running node holds it.
        for args in commands {
            let output = vigia_node(&args, &[]);
            assert_eq!(output.status.code(), Some(1), "{}", text(&output));
            assert!(
                text(&output).contains("probably the running node: stop it first"),
                "{:?}: {}",
                args[0],
                text(&output)
            );
        }
        drop(fixture);
    }

    #[test]
    fn a_data_directory_made_by_a_command_is_for_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let data = dir.path().join("data");
        let config = write_config(dir.path(), "AR", &data, None);

        let output = vigia_node(
            [
                OsStr::new("token"),
                "create".as_ref(),
                "--role".as_ref(),
                "admin".as_ref(),
                "--label".as_ref(),
                "it".as_ref(),
                "--config".as_ref(),
                config.as_ref(),
            ],
            &[],
        );

        assert!(output.status.success(), "{}", text(&output));
        let mode = std::fs::metadata(&data).expect("made").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn rebuild_command_refuses_a_missing_store_rather_than_creating_one() {
        let dir = tempfile::tempdir().expect("dir");
        let config = write_config(dir.path(), "AR", &dir.path().join("data"), None);

        let output = vigia_node(
            [OsStr::new("rebuild"), "--config".as_ref(), config.as_ref()],
            &[],
        );

        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(!dir.path().join("data/vigia.redb").exists());
    }

    #[test]
    fn rebuild_command_brings_drifted_views_back_in_line() {
        let Populated { fixture, .. } = populated();
        let config = config_of(&fixture);
        let before = views_of(&fixture.store);
        let (dir, store) = damaged(fixture, |txn| {
            txn.open_table(VIEW_CONTACTS)
                .expect("view")
                .remove((raw("AR"), "c-2"))
                .expect("rm");
        });
        assert_eq!(problems_of(&store).len(), 1);
        drop(store);

        let output = vigia_node(
            [OsStr::new("rebuild"), "--config".as_ref(), config.as_ref()],
            &[],
        );
        assert!(output.status.success(), "{}", text(&output));
        assert!(text(&output).contains("views rebuilt from 10 entries"));

        let check = vigia_node(
            [OsStr::new("check"), "--config".as_ref(), config.as_ref()],
            &[],
        );
        assert!(check.status.success(), "{}", text(&check));
        let store = Store::open(&dir.path().join("vigia.redb")).expect("opens");
        assert_eq!(views_of(&store), before);
    }

    #[test]
    fn restore_command_checks_the_backup_and_keeps_the_replaced_store() {
        let Populated { fixture, .. } = populated();
        let config = config_of(&fixture);
        let backup_path = fixture.dir.path().join("backup.redb");
        backup::write(&fixture.store, &backup_path).expect("backup");
        let Fixture { dir, store, ledger } = fixture;
        drop((store, ledger));
        let args = |file: &Path| {
            [
                OsStr::new("restore").to_owned(),
                file.as_os_str().to_owned(),
                "--config".into(),
                config.as_os_str().to_owned(),
            ]
        };

        let output = vigia_node(args(&backup_path), &[]);

        assert!(output.status.success(), "{}", text(&output));
        let said = text(&output);
        assert!(said.contains("clean: every invariant holds"), "{said}");
        assert!(said.contains("vigia.redb.before-restore"), "{said}");
        assert!(dir.path().join("vigia.redb.before-restore").exists());

        std::fs::remove_file(dir.path().join("vigia.redb.before-restore")).expect("rm");
        let onto_itself = vigia_node(args(&dir.path().join("vigia.redb")), &[]);
        assert_eq!(onto_itself.status.code(), Some(1), "{}", text(&onto_itself));
        assert!(
            !text(&onto_itself).contains("restored"),
            "{}",
            text(&onto_itself)
        );
        assert!(
            text(&onto_itself).contains("not a backup"),
            "{}",
            text(&onto_itself)
        );
        let empty = dir.path().join("empty.redb");
        std::fs::write(&empty, b"").expect("empty file");
        let refused = vigia_node(args(&empty), &[]);
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
        assert!(!dir.path().join("vigia.redb.before-restore").exists());
    }
}

mod api {
    use super::*;
    use api_support::{As, Network, institution};

    #[tokio::test]
    async fn backup_endpoint_is_for_admins_and_never_replaces_a_file() {
        let network = Network::single();
        let node = network.start(0).await;
        let client = &node.client;
        client
            .put("/v1/institutions/PE/pnp", institution("Policía", "police"))
            .await;
        client
            .put("/v1/institutions/PE/uif", institution("UIF", "other"))
            .await;
        let dir = tempfile::tempdir().expect("dir");
        let target = dir.path().join("pe.redb");
        let body = |path: &Path| Some(json!({ "path": path }));
        let post = |who, body| client.call(Method::POST, "/v1/admin/backup", who, body);

        let focal = post(As::Focal, body(&target)).await;
        assert_eq!(focal.status, StatusCode::FORBIDDEN, "{}", focal.text);
        let relative = post(As::Admin, Some(json!({ "path": "pe.redb" }))).await;
        assert_eq!(relative.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(relative.field(), "path");
        let nowhere = post(As::Admin, body(&dir.path().join("no/pe.redb"))).await;
        assert_eq!(nowhere.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!target.exists());

        let written = post(As::Admin, body(&target)).await;
        assert_eq!(written.status, StatusCode::CREATED, "{}", written.text);
        let summary = written.json();
        assert_eq!(summary["entries"], 2);
        assert_eq!(summary["feeds"], 1);
        assert_eq!(summary["path"], json!(target));
        let again = post(As::Admin, body(&target)).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);

        let roster = node.node.handle().roster().clone();
        let copy = Store::open_existing(&target).expect("backup opens");
        assert!(check(&copy, &roster).expect("check").is_clean());
        assert_eq!(
            copy.heads().expect("h"),
            node.node.handle().heads().expect("h")
        );
        node.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backup_command_asks_the_running_node_and_reads_a_stopped_store_itself() {
        let network = Network::single();
        let node = network.start(0).await;
        node.client
            .put("/v1/institutions/PE/pnp", institution("Policía", "police"))
            .await;
        let dir = tempfile::tempdir().expect("dir");
        let api = node.api.local_addr().to_string();
        let config = write_config(dir.path(), "PE", &network.data_dir(0), Some(&api));
        let run = |file: PathBuf, token: Option<String>| {
            let config = config.clone();
            tokio::task::spawn_blocking(move || {
                let args = [
                    OsStr::new("backup").to_owned(),
                    file.into_os_string(),
                    "--config".into(),
                    config.into_os_string(),
                ];
                let token = token.unwrap_or_default();
                let variables: &[(&str, &str)] = if token.is_empty() {
                    &[]
                } else {
                    &[("VIGIA_TOKEN", &token)]
                };
                vigia_node(args, variables)
            })
        };

        let without_token = run(dir.path().join("none.redb"), None).await.expect("ran");
        assert_eq!(without_token.status.code(), Some(1));
        assert!(
            text(&without_token).contains("VIGIA_TOKEN"),
            "{}",
            text(&without_token)
        );

        let live = dir.path().join("live.redb");
        let output = run(live.clone(), Some(node.client.admin.clone()))
            .await
            .expect("ran");
        assert!(output.status.success(), "{}", text(&output));
        assert!(
            text(&output).contains("written by the running node"),
            "{}",
            text(&output)
        );

        let roster = node.node.handle().roster().clone();
        node.stop().await;
        let stopped = dir.path().join("stopped.redb");
        // In this process the node's last tasks drop their store handles a moment after
        // `stop` returns (a real node's process exits), so give the lock a few seconds.
        let mut output = run(stopped.clone(), None).await.expect("ran");
        for _ in 0..50 {
            if output.status.success() || !text(&output).contains("in use") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            output = run(stopped.clone(), None).await.expect("ran");
        }
        assert!(output.status.success(), "{}", text(&output));
        assert!(text(&output).contains("read directly"), "{}", text(&output));

        for file in [live, stopped] {
            let copy = Store::open_existing(&file).expect("backup opens");
            let report = check(&copy, &roster).expect("check");
            assert!(report.is_clean() && report.entries == 1, "{report}");
        }
    }
}
