//! How commands read, create and replace files.
//!
//! Two rules hold for everything `vigia` and `vigia-node` write:
//! - a new file never replaces an existing one by accident ([`create_new`]): keys are
//!   irreplaceable, and a roster being signed by others must not be silently reset;
//! - a file that is meant to be replaced is replaced whole or not at all
//!   ([`replace_atomically`]), so an interrupted `roster sign` leaves the previous roster, not
//!   half of one;
//! - what holds the directory (the data directory, the store, its backups) is created for
//!   its owner only ([`create_private_dir`], [`create_private_file`]), and an existing one
//!   that others can read is reported ([`warn_if_exposed`]): it is contact data of people
//!   whose work is sensitive.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Mode of a replaced file that did not exist before: the files `vigia` replaces (rosters)
/// hold nothing secret.
const DEFAULT_REPLACED_MODE: u32 = 0o644;

/// Mode of a directory only its owner may enter and list.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of a file only its owner may read and write.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Creates `path` and any missing parents with [`PRIVATE_DIR_MODE`]; an existing directory
/// is left as it is (see [`warn_if_exposed`]).
pub fn create_private_dir(path: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(path)
        .with_context(|| format!("cannot create directory {}", path.display()))
}

/// Creates `path` empty with [`PRIVATE_FILE_MODE`] unless it exists, so that whatever
/// opens it next (redb) never creates it with the umask's wider default.
pub fn create_private_file(path: &Path) -> Result<()> {
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err).context(format!("cannot create {}", path.display())),
    }
}

/// The permission bits of `path` if its group or other users have any access to it.
pub fn exposed_mode(path: &Path) -> Option<u32> {
    let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Logs a warning if other users can reach `path`, which holds the directory (`what`
/// names it in the log). Warned, not refused: a node must still start in an incident,
/// and the data was readable since the mode was set anyway.
pub fn warn_if_exposed(path: &Path, what: &str) {
    if let Some(mode) = exposed_mode(path) {
        let wanted = if path.is_dir() {
            PRIVATE_DIR_MODE
        } else {
            PRIVATE_FILE_MODE
        };
        tracing::warn!(
            file = %path.display(),
            mode = format!("{mode:o}"),
            "{what} is readable by other users of this machine; chmod {wanted:o} it",
        );
    }
}

/// Reads a whole text file of at most `limit` bytes.
///
/// The limit turns a wrong path (a log, a disk image) into a quick error instead of a read
/// of gigabytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<String> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut text = String::new();
    file.take(limit + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if text.len() as u64 > limit {
        bail!(
            "{} is larger than {limit} bytes, too large to be what was asked for",
            path.display()
        );
    }
    Ok(text)
}

/// Creates `path` with `mode` and writes `contents`, failing if `path` already exists.
///
/// The mode is set when the file is created, so there is no moment at which a secret is
/// readable by others. The process umask can only remove permissions from it.
pub fn create_new(path: &Path, mode: u32, contents: &[u8]) -> Result<()> {
    let opened = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            return Err(err).context(format!(
                "{} already exists; refusing to overwrite it",
                path.display()
            ));
        }
        Err(err) => return Err(err).context(format!("cannot create {}", path.display())),
    };
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Replaces `path` with `contents` atomically: readers see the old file or the new one.
///
/// The new file is written beside the old one (a rename is atomic only within a file
/// system), flushed to disk, given the old file's permissions, then renamed over it.
pub fn replace_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let permissions = match fs::metadata(path) {
        Ok(metadata) => metadata.permissions(),
        Err(_) => Permissions::from_mode(DEFAULT_REPLACED_MODE),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".vigia-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    temp.write_all(contents)
        .and_then(|()| temp.as_file().set_permissions(permissions))
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", temp.path().display()))?;
    temp.persist(path)
        .map_err(|err| err.error)
        .with_context(|| format!("cannot replace {}", path.display()))?;

    // The rename lives in the directory: flush it too, so the new file survives a crash.
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("cannot flush directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_new_refuses_an_existing_file_and_keeps_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        create_new(&path, 0o600, b"first").expect("first write");
        let err = create_new(&path, 0o600, b"second").expect_err("must refuse");
        assert!(err.to_string().contains("already exists"), "{err:#}");
        assert_eq!(fs::read(&path).expect("read"), b"first");
    }

    #[test]
    fn replace_atomically_keeps_the_mode_of_the_replaced_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("roster.toml");
        create_new(&path, 0o640, b"old").expect("create");
        replace_atomically(&path, b"new").expect("replace");
        assert_eq!(fs::read(&path).expect("read"), b"new");
        let mode = fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        let leftovers = fs::read_dir(dir.path()).expect("list").count();
        assert_eq!(leftovers, 1, "the temporary file must be gone");
    }

    #[test]
    fn private_directories_and_files_are_for_their_owner_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("a/data");
        create_private_dir(&data).expect("create");
        let mode = |path: &Path| fs::metadata(path).expect("metadata").permissions().mode();
        assert_eq!(mode(&data) & 0o777, PRIVATE_DIR_MODE);
        assert_eq!(exposed_mode(&data), None);
        let store = data.join("vigia.redb");
        create_private_file(&store).expect("create");
        assert_eq!(mode(&store) & 0o777, PRIVATE_FILE_MODE);
        fs::write(&store, b"kept").expect("write");
        create_private_file(&store).expect("an existing file is left");
        assert_eq!(fs::read(&store).expect("read"), b"kept");

        fs::set_permissions(&store, Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(exposed_mode(&store), Some(0o644));
    }

    #[test]
    fn read_bounded_rejects_a_file_over_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big");
        fs::write(&path, [b'a'; 11]).expect("write");
        assert!(read_bounded(&path, 11).is_ok());
        let err = read_bounded(&path, 10).expect_err("must refuse");
        assert!(err.to_string().contains("larger than 10 bytes"), "{err:#}");
    }
}
