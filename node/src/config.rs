//! Node settings: built-in defaults, then a TOML file, then `VIGIA_` environment variables,
//! then command-line flags, each overriding the one before.
//!
//! `configs/node.toml` documents every setting. Environment variables use the setting's
//! name in capitals after `VIGIA_` (`VIGIA_DATA_DIR`, `VIGIA_MEMBER`); lists are
//! comma-separated (`VIGIA_LISTEN=/ip4/127.0.0.1/tcp/4100,/ip4/127.0.0.1/udp/4100/quic-v1`);
//! a setting of a section takes a double underscore (`VIGIA_API__LISTEN=127.0.0.1:8441`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use vigia_protocol::MemberCode;

/// Default seconds between heads exchanges with every connected peer.
pub const DEFAULT_SYNC_INTERVAL_SECS: u64 = 30;

/// Default largest gossip message: one maximal entry plus gossipsub framing.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = vigia_protocol::codec::MAX_ENTRY_BYTES + 1024;

/// Default address of the local HTTP API: loopback only, because the API holds the
/// directory and takes alerts, and nothing outside this machine should reach it unless the
/// IT team decides so.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8440";

/// Default largest request body of the local API: a CSV import of about 10,000 contacts
/// (≈ 300 bytes a row) fits; anything larger is refused before it is read.
pub const DEFAULT_API_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Default most API connections open at once: far above what a command line, a web page
/// and monitoring hold, and small enough that open connections (each with at most a few
/// tens of KB of buffers before a handler runs) stay a few MB in all.
pub const DEFAULT_API_MAX_CONNECTIONS: usize = 256;

/// Default seconds a client has to send a request's headers: a local client sends them at
/// once; this only cuts clients that hold connections without asking anything.
pub const DEFAULT_API_HEADER_READ_TIMEOUT_SECS: u64 = 10;

/// Smallest allowed body limit: one maximal entry body sent as JSON must fit.
const MIN_API_BODY_BYTES: usize = 2 * vigia_protocol::codec::MAX_ENTRY_BYTES;

/// Name of the token file in the data directory (see [`crate::tokens`]).
pub const TOKENS_FILE: &str = "tokens.json";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything a node needs to run.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The member state this node serves (ISO 3166-1 alpha-2).
    pub member: MemberCode,
    /// The signed roster file.
    pub roster: PathBuf,
    /// The member's signing key file.
    pub member_key: PathBuf,
    /// The node's libp2p identity file.
    pub node_key: PathBuf,
    /// Directory for the store (`vigia.redb`).
    pub data_dir: PathBuf,
    /// Multiaddresses to listen on; empty means the addresses the roster lists for this node.
    #[serde(default)]
    pub listen: Vec<String>,
    /// Seconds between heads exchanges with each connected peer (see `node::heads_spacing`
    /// for large rosters).
    #[serde(default = "default_sync_interval")]
    pub sync_interval_secs: u64,
    /// Largest gossip message accepted or sent, in bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax, such as `info` or `vigia_node=debug,info`.
    #[serde(default = "default_log")]
    pub log: String,
    /// The local HTTP API (`[api]` section).
    #[serde(default)]
    pub api: ApiConfig,
}

/// Settings of the local HTTP API.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Socket address the API listens on, such as `127.0.0.1:8440`.
    #[serde(default = "default_api_listen")]
    pub listen: String,
    /// Largest request body accepted, in bytes; larger ones get 413.
    #[serde(default = "default_api_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Most API connections open at once; at the limit a new one closes the oldest idle
    /// one.
    #[serde(default = "default_api_max_connections")]
    pub max_connections: usize,
    /// Seconds a client has to send a request's headers, counted from when the node waits
    /// for a request; idle keep-alive connections close after it too.
    #[serde(default = "default_api_header_read_timeout_secs")]
    pub header_read_timeout_secs: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: default_api_listen(),
            max_body_bytes: default_api_max_body_bytes(),
            max_connections: default_api_max_connections(),
            header_read_timeout_secs: default_api_header_read_timeout_secs(),
        }
    }
}

impl ApiConfig {
    /// The listen address, parsed.
    pub fn listen_address(&self) -> Result<std::net::SocketAddr> {
        self.listen.parse().with_context(|| {
            format!(
                "api.listen {:?} is not an address such as 127.0.0.1:8440",
                self.listen
            )
        })
    }
}

fn default_api_listen() -> String {
    DEFAULT_API_LISTEN.into()
}

fn default_api_max_body_bytes() -> usize {
    DEFAULT_API_MAX_BODY_BYTES
}

fn default_api_max_connections() -> usize {
    DEFAULT_API_MAX_CONNECTIONS
}

fn default_api_header_read_timeout_secs() -> u64 {
    DEFAULT_API_HEADER_READ_TIMEOUT_SECS
}

fn default_sync_interval() -> u64 {
    DEFAULT_SYNC_INTERVAL_SECS
}

fn default_max_message_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

fn default_log_format() -> LogFormat {
    LogFormat::Text
}

fn default_log() -> String {
    "info".into()
}

/// Settings given on the command line; each one present overrides the others.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Member code, such as PE.
    #[arg(long)]
    pub member: Option<String>,
    /// Store directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Roster file.
    #[arg(long)]
    pub roster: Option<PathBuf>,
    /// Listen multiaddress (repeat for several).
    #[arg(long)]
    pub listen: Vec<String>,
    /// Log format: text or json.
    #[arg(long)]
    pub log_format: Option<String>,
    /// Address of the local HTTP API, such as 127.0.0.1:8440.
    #[arg(long)]
    pub api_listen: Option<String>,
}

impl NodeConfig {
    /// Loads the layered configuration. Relative paths in a file are taken relative to the
    /// file's directory, so a config and its keys can move together.
    pub fn load(overrides: &Overrides) -> Result<Self> {
        let mut builder = config::Config::builder();
        if let Some(path) = &overrides.config {
            if !path.exists() {
                bail!("configuration file {} does not exist", path.display());
            }
            builder = builder.add_source(config::File::from(path.as_path()));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("VIGIA")
                .prefix_separator("_")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("listen")
                .try_parsing(true)
                .source(Some(setting_variables())),
        );
        builder = builder
            .set_override_option("member", overrides.member.clone())?
            .set_override_option("data_dir", path_text(&overrides.data_dir))?
            .set_override_option("roster", path_text(&overrides.roster))?
            .set_override_option("log_format", overrides.log_format.clone())?
            .set_override_option("api.listen", overrides.api_listen.clone())?;
        if !overrides.listen.is_empty() {
            builder = builder.set_override("listen", overrides.listen.clone())?;
        }
        let loaded = builder.build().and_then(config::Config::try_deserialize);
        let mut config: NodeConfig = match loaded {
            Ok(config) => config,
            Err(error) => return Err(load_error(error, overrides.config.is_none())),
        };
        if let Some(file) = &overrides.config {
            config.resolve_relative_to(&directory_of(file));
        }
        config.check()?;
        Ok(config)
    }

    fn resolve_relative_to(&mut self, base: &Path) {
        for path in [
            &mut self.roster,
            &mut self.member_key,
            &mut self.node_key,
            &mut self.data_dir,
        ] {
            if path.is_relative() {
                *path = normalize(&base.join(&*path));
            }
        }
    }

    fn check(&self) -> Result<()> {
        if self.sync_interval_secs == 0 {
            bail!("sync_interval_secs must be at least 1");
        }
        let floor = vigia_protocol::codec::MAX_ENTRY_BYTES;
        if self.max_message_bytes < floor {
            bail!("max_message_bytes must be at least {floor} so that any valid entry fits");
        }
        if self.api.max_body_bytes < MIN_API_BODY_BYTES {
            bail!("api.max_body_bytes must be at least {MIN_API_BODY_BYTES}: any entry must fit");
        }
        if self.api.max_connections == 0 {
            bail!("api.max_connections must be at least 1");
        }
        if self.api.header_read_timeout_secs == 0 {
            bail!("api.header_read_timeout_secs must be at least 1");
        }
        self.api.listen_address()?;
        Ok(())
    }

    /// Interval between heads exchanges.
    pub fn sync_interval(&self) -> Duration {
        Duration::from_secs(self.sync_interval_secs)
    }

    /// The store file.
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("vigia.redb")
    }

    /// The API token file.
    pub fn tokens_path(&self) -> PathBuf {
        self.data_dir.join(TOKENS_FILE)
    }
}

/// Settings without a default: a node cannot run unless each is given.
const REQUIRED_SETTINGS: [&str; 5] = ["member", "roster", "member_key", "node_key", "data_dir"];

/// Explains a failed load. A stray `VIGIA_` variable is read as a setting, so they are
/// named, to make one left over from another tool easy to spot. A required setting missing
/// when no file was given usually means the file was forgotten, so that is said too.
fn load_error(error: config::ConfigError, without_file: bool) -> anyhow::Error {
    let missing = match &error {
        config::ConfigError::NotFound(field) => Some(field.clone()),
        _ => None,
    };
    let mut variables: Vec<String> = setting_variables()
        .into_keys()
        .filter(|key| key.starts_with("VIGIA_"))
        .collect();
    variables.sort();
    let what = if variables.is_empty() {
        "invalid node configuration".to_owned()
    } else {
        format!(
            "invalid node configuration (environment variables read as settings: {})",
            variables.join(", ")
        )
    };
    let error = anyhow::Error::new(error).context(what);
    match missing {
        Some(field) if without_file => {
            let names: Vec<String> = REQUIRED_SETTINGS
                .iter()
                .map(|setting| format!("VIGIA_{}", setting.to_uppercase()))
                .collect();
            error.context(format!(
                "the setting {field:?} is missing and no configuration file was given: pass \
                 the node's file with --config FILE (configs/node.toml shows every setting), \
                 or set {}",
                names.join(", ")
            ))
        }
        _ => error,
    }
}

/// The directory of the configuration file, without symbolic links where it exists, so
/// that `..` in a path of the file can be taken away lexically and still name the file the
/// system would open.
fn directory_of(file: &Path) -> PathBuf {
    let parent = file.parent().unwrap_or(Path::new(""));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    std::fs::canonicalize(parent)
        .or_else(|_| std::path::absolute(parent))
        .unwrap_or_else(|_| parent.to_path_buf())
}

/// `path` without `.` components and with each `..` taking away the component before it,
/// as people write paths (`/etc/vigia/pe/../roster.toml` is `/etc/vigia/roster.toml`).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                let can_pop = matches!(normal.components().next_back(), Some(Component::Normal(_)));
                if can_pop {
                    normal.pop();
                } else if !normal.has_root() {
                    normal.push("..");
                }
            }
            other => normal.push(other),
        }
    }
    normal
}

/// `VIGIA_` variables that are not node settings: the node address and token of the `vigia`
/// client (which also runs the node as `vigia node run`) and of `vigia-node backup`. Read as
/// settings, they would fail the load as unknown fields.
const CLIENT_VARIABLES: [&str; 2] = ["VIGIA_NODE", "VIGIA_TOKEN"];

/// The process's environment without [`CLIENT_VARIABLES`] (and without variables whose
/// name or value is not Unicode, which no setting has).
fn setting_variables() -> config::Map<String, String> {
    std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(key, _)| !CLIENT_VARIABLES.contains(&key.as_str()))
        .collect()
}

/// Flag paths are relative to the working directory, unlike paths in the file, so they are
/// made absolute before the file's directory is applied.
fn path_text(path: &Option<PathBuf>) -> Option<String> {
    let path = path.as_ref()?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
    Some(absolute.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, overrides: Overrides) -> Result<NodeConfig> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("node.toml");
        let base = "member = \"PE\"\nroster = \"r\"\nmember_key = \"m\"\nnode_key = \"n\"\n";
        std::fs::write(&path, format!("{base}data_dir = \"data\"\n{toml}"))?;
        NodeConfig::load(&Overrides {
            config: Some(path),
            ..overrides
        })
    }

    #[test]
    fn api_section_has_loopback_defaults() {
        let config = load("", Overrides::default()).expect("valid");
        assert_eq!(config.api.listen, DEFAULT_API_LISTEN);
        assert_eq!(config.api.max_body_bytes, DEFAULT_API_MAX_BODY_BYTES);
        assert!(config.tokens_path().ends_with("data/tokens.json"));
    }

    #[test]
    fn api_section_is_read_and_the_flag_overrides_it() {
        let toml = "[api]\nlisten = \"127.0.0.1:9000\"\nmax_body_bytes = 1048576\n";
        let config = load(toml, Overrides::default()).expect("valid");
        assert_eq!(config.api.listen, "127.0.0.1:9000");
        assert_eq!(config.api.max_body_bytes, 1_048_576);
        let flag = Overrides {
            api_listen: Some("127.0.0.1:9001".into()),
            ..Overrides::default()
        };
        let config = load(toml, flag).expect("valid");
        assert_eq!(config.api.listen_address().expect("address").port(), 9001);
    }

    #[test]
    fn bad_api_settings_are_refused() {
        assert!(load("[api]\nlisten = \"localhost\"\n", Overrides::default()).is_err());
        assert!(load("[api]\nmax_body_bytes = 10\n", Overrides::default()).is_err());
        assert!(load("[api]\nlisen = \"127.0.0.1:1\"\n", Overrides::default()).is_err());
    }

    #[test]
    fn paths_of_the_file_are_shown_without_dot_dot() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("pe")).expect("mkdir");
        let path = dir.path().join("pe/node.toml");
        std::fs::write(
            &path,
            "member = \"PE\"\nroster = \"../roster.toml\"\nmember_key = \"./keys/m\"\n\
             node_key = \"n\"\ndata_dir = \"data\"\n",
        )
        .expect("write");
        let config = NodeConfig::load(&Overrides {
            config: Some(path),
            ..Overrides::default()
        })
        .expect("valid");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        assert_eq!(config.roster, root.join("roster.toml"));
        assert_eq!(config.member_key, root.join("pe/keys/m"));
    }

    #[test]
    fn normalizing_takes_each_dot_dot_with_the_component_before_it() {
        assert_eq!(normalize(Path::new("/a/b/../c/./d")), Path::new("/a/c/d"));
        assert_eq!(normalize(Path::new("/../a")), Path::new("/a"));
        assert_eq!(normalize(Path::new("../a/../../b")), Path::new("../../b"));
    }
}
