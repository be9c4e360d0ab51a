//! Which node the client commands talk to, and with which token.
//!
//! The address and the token are each taken from the first place that has them:
//! 1. the command line: `--node URL`, `--token T`, or `--testnet DIR --member XX` (that
//!    member's API and admin token);
//! 2. the environment: `VIGIA_NODE`, `VIGIA_TOKEN`;
//! 3. a profile: `--profile FILE`, else `$XDG_CONFIG_HOME/vigia/profile.toml` or
//!    `~/.config/vigia/profile.toml` when it exists, holding `node = "…"` and `token = "…"`;
//! 4. for the address only, [`DEFAULT_NODE`].
//!
//! `--testnet` ranks with the other flags rather than after the profile: a focal point who
//! keeps a profile for the real node and types `--testnet` means the testnet, and must not
//! reach the real node by surprise.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;
use vigia_protocol::MemberCode;

use crate::testnet::layout::Layout;
use crate::testnet::target::member_client;

/// The address of a node's API as `vigia-node` listens by default.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:8440";

/// Largest profile read: it holds two short strings; a bigger file is the wrong file.
const MAX_PROFILE_BYTES: u64 = 64 * 1024;

/// The environment variable with the node's address.
pub const NODE_VARIABLE: &str = "VIGIA_NODE";

/// The environment variable with the API token.
pub const TOKEN_VARIABLE: &str = "VIGIA_TOKEN";

/// Options that say which node to talk to, given before the command:
/// `vigia --testnet DIR --member PE contacts search …`.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectionArgs {
    /// Address of the node's API [default: $VIGIA_NODE, the profile, http://127.0.0.1:8440].
    #[arg(long, value_name = "URL")]
    pub node: Option<String>,
    /// API token (`vigia-node token create`) [default: $VIGIA_TOKEN, the profile]. Other
    /// users of this machine can see command lines: prefer the variable or a profile.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Profile with `node = "…"` and `token = "…"` [default: ~/.config/vigia/profile.toml].
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Talk to a member of the testnet in DIR (`vigia testnet demo --dir DIR`), with its
    /// admin token; needs --member.
    #[arg(
        long,
        value_name = "DIR",
        requires = "testnet_member",
        conflicts_with_all = ["node", "token", "profile"]
    )]
    pub testnet: Option<PathBuf>,
    /// The testnet member whose node to use, such as PE.
    #[arg(
        long = "member",
        id = "testnet_member",
        value_name = "CODE",
        requires = "testnet"
    )]
    pub member: Option<String>,
}

/// Where a setting came from, to name it in hints and errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Environment(&'static str),
    /// A profile file.
    Profile(PathBuf),
    /// A testnet's files.
    Testnet(PathBuf),
    /// The built-in default.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => write!(formatter, "--{flag}"),
            Source::Environment(variable) => write!(formatter, "${variable}"),
            Source::Profile(path) => write!(formatter, "the profile {}", path.display()),
            Source::Testnet(path) => write!(formatter, "the testnet in {}", path.display()),
            Source::Default => write!(formatter, "the built-in default"),
        }
    }
}

/// The node to talk to and the token to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Base address, such as `http://127.0.0.1:8440`.
    pub node: String,
    /// The token, if any place gave one.
    pub token: Option<(String, Source)>,
    /// Where the address came from.
    pub node_source: Source,
    /// Problems worth telling but not worth stopping for.
    pub warnings: Vec<String>,
    /// The profile a hint should point to.
    pub profile_path: Option<PathBuf>,
}

/// The contents of a profile file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    node: Option<String>,
    token: Option<String>,
}

/// Resolves the connection from the flags and `environment` (a lookup such as
/// `std::env::var`, given as a function so tests need not change the process's
/// environment).
pub fn resolve(
    args: &ConnectionArgs,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<Connection> {
    let variable = |name: &str| environment(name).filter(|value| !value.trim().is_empty());
    if let Some(dir) = &args.testnet {
        return testnet(dir, args.member.as_deref().unwrap_or_default());
    }
    let mut warnings = Vec::new();
    let profile_path = args
        .profile
        .clone()
        .or_else(|| default_profile_path(&variable));
    let flag_node = args.node.clone().map(|node| (node, Source::Flag("node")));
    let flag_token = args
        .token
        .clone()
        .map(|token| (token, Source::Flag("token")));
    let env_node = variable(NODE_VARIABLE).map(|node| (node, Source::Environment(NODE_VARIABLE)));
    let env_token =
        variable(TOKEN_VARIABLE).map(|token| (token, Source::Environment(TOKEN_VARIABLE)));
    let mut node = flag_node.or(env_node);
    let mut token = flag_token.or(env_token);
    // The profile is read only when something is still missing, so a fully given command
    // line works even beside a broken profile.
    let missing = node.is_none() || token.is_none();
    if let (true, Some(path)) = (missing, &profile_path) {
        let explicit = args.profile.is_some();
        if let Some(profile) = read_profile(path, explicit, &mut warnings)? {
            let source = || Source::Profile(path.clone());
            node = node.or_else(|| profile.node.map(|node| (node, source())));
            token = token.or_else(|| profile.token.map(|token| (token, source())));
        }
    }
    let (node, node_source) = node.unwrap_or_else(|| (DEFAULT_NODE.to_owned(), Source::Default));
    Ok(Connection {
        node: normalize_address(&node)
            .with_context(|| format!("the address from {node_source}"))?,
        token: token.map(|(token, source)| (token.trim().to_owned(), source)),
        node_source,
        warnings,
        profile_path,
    })
}

/// `$XDG_CONFIG_HOME/vigia/profile.toml`, else `$HOME/.config/vigia/profile.toml`.
fn default_profile_path(variable: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let config = variable("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| variable("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(config.join("vigia").join("profile.toml"))
}

/// Reads a profile; a missing default profile is no error, a missing `--profile` is.
fn read_profile(
    path: &Path,
    explicit: bool,
    warnings: &mut Vec<String>,
) -> Result<Option<Profile>> {
    if !explicit && !path.exists() {
        return Ok(None);
    }
    let text = vigia_node::files::read_bounded(path, MAX_PROFILE_BYTES)
        .with_context(|| format!("cannot read the profile {}", path.display()))?;
    let profile: Profile = toml::from_str(&text).with_context(|| {
        format!(
            "{} is not a profile (node = \"http://127.0.0.1:8440\", token = \"…\")",
            path.display()
        )
    })?;
    // Warned, not refused: a focal point in the middle of an incident must still get
    // through, and the token has been readable since the file was written anyway.
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read the permissions of {}", path.display()))?
        .permissions()
        .mode();
    if profile.token.is_some() && mode & 0o077 != 0 {
        warnings.push(format!(
            "other users of this machine can read the token in {0}; run: chmod 600 {0}",
            path.display()
        ));
    }
    Ok(Some(profile))
}

/// The API address and admin token of `member` in the testnet at `dir`, as every testnet
/// command reaches a member.
fn testnet(dir: &Path, member: &str) -> Result<Connection> {
    let code: MemberCode = member
        .trim()
        .to_ascii_uppercase()
        .parse()
        .with_context(|| format!("--member {member:?} is not a member code such as PE"))?;
    let client = member_client(&Layout::new(dir), code)?;
    let source = Source::Testnet(dir.to_path_buf());
    Ok(Connection {
        node: client.base().to_owned(),
        token: Some((client.token().to_owned(), source.clone())),
        node_source: source,
        warnings: Vec::new(),
        profile_path: None,
    })
}

/// Checks an address and adds `http://` when it has no scheme (`127.0.0.1:8440`).
fn normalize_address(address: &str) -> Result<String> {
    let address = address.trim();
    let with_scheme = if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    };
    let url = reqwest::Url::parse(&with_scheme)
        .with_context(|| format!("{address:?} is not an address such as {DEFAULT_NODE}"))?;
    if url.scheme() != "http" {
        // The node's API speaks plain HTTP on loopback; TLS belongs to a proxy in front of
        // it, which this command line does not need.
        bail!(
            "{address:?}: the node's API speaks http://, not {}://",
            url.scheme()
        );
    }
    if url.host_str().is_none() {
        bail!("{address:?} names no host");
    }
    Ok(with_scheme.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fs;

    use super::*;

    fn environment(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn write_profile(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let path = dir.join("profile.toml");
        fs::write(&path, text).expect("profile written");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("mode set");
        path
    }

    #[test]
    fn flags_beat_environment_which_beats_the_profile() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let profile = write_profile(
            dir.path(),
            "node = \"http://127.0.0.1:9001\"\ntoken = \"from-profile\"\n",
            0o600,
        );
        let args = ConnectionArgs {
            profile: Some(profile.clone()),
            ..ConnectionArgs::default()
        };
        let only_profile = resolve(&args, &environment(&[])).expect("resolves");
        assert_eq!(only_profile.node, "http://127.0.0.1:9001");
        assert_eq!(
            only_profile.token,
            Some(("from-profile".into(), Source::Profile(profile)))
        );
        assert!(only_profile.warnings.is_empty());

        let variables = environment(&[(TOKEN_VARIABLE, "from-env")]);
        let with_env = resolve(&args, &variables).expect("resolves");
        assert_eq!(with_env.node, "http://127.0.0.1:9001");
        assert_eq!(with_env.token.expect("token").0, "from-env");

        let flags = ConnectionArgs {
            node: Some("127.0.0.1:9002/".into()),
            token: Some("from-flag".into()),
            ..args
        };
        let with_flags = resolve(&flags, &variables).expect("resolves");
        assert_eq!(with_flags.node, "http://127.0.0.1:9002");
        assert_eq!(
            with_flags.token.expect("token"),
            ("from-flag".into(), Source::Flag("token"))
        );
    }

    #[test]
    fn without_anything_the_default_address_and_no_token_are_used() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let home = dir.path().to_str().expect("UTF-8 path");
        let resolved =
            resolve(&ConnectionArgs::default(), &environment(&[("HOME", home)])).expect("ok");
        assert_eq!(resolved.node, DEFAULT_NODE);
        assert_eq!(resolved.node_source, Source::Default);
        assert_eq!(resolved.token, None);
        assert_eq!(
            resolved.profile_path,
            Some(dir.path().join(".config/vigia/profile.toml"))
        );
    }

    #[test]
    fn a_profile_readable_by_others_is_used_with_a_warning() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let profile = write_profile(dir.path(), "token = \"t\"\n", 0o644);
        let args = ConnectionArgs {
            profile: Some(profile),
            ..ConnectionArgs::default()
        };
        let resolved = resolve(&args, &environment(&[])).expect("resolves");
        assert_eq!(resolved.token.expect("token").0, "t");
        assert_eq!(resolved.warnings.len(), 1);
        assert!(
            resolved.warnings[0].contains("chmod 600"),
            "{:?}",
            resolved.warnings
        );
    }

    #[test]
    fn a_named_profile_must_exist_and_must_not_have_unknown_keys() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let missing = ConnectionArgs {
            profile: Some(dir.path().join("absent.toml")),
            ..ConnectionArgs::default()
        };
        assert!(resolve(&missing, &environment(&[])).is_err());
        let typo = write_profile(dir.path(), "tokn = \"t\"\n", 0o600);
        let args = ConnectionArgs {
            profile: Some(typo),
            ..ConnectionArgs::default()
        };
        let error = resolve(&args, &environment(&[])).expect_err("unknown key refused");
        assert!(format!("{error:#}").contains("tokn"), "{error:#}");
    }

    #[test]
    fn addresses_other_than_plain_http_are_refused() {
        assert!(normalize_address("https://127.0.0.1:8440").is_err());
        assert!(normalize_address("not an address").is_err());
        assert_eq!(
            normalize_address("localhost:8440").expect("valid"),
            "http://localhost:8440"
        );
    }
}
