//! What a template refers to.

use crate::{Position, Span};
use std::borrow::Cow;
use std::fmt;
use tresor_model::{EntryKey, EnvName, NameError, VaultName};

/// The syntax a reference was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syntax {
    /// `${secret:NAME}`, rendered raw.
    Digdag,
    /// `${workflow.secrets.NAME}`, rendered raw.
    Conductor,
    /// `{{tb_secret('NAME'[, 'default'])}}`, rendered as a ClickHouse string literal.
    Tinybird,
    /// `tresor://[ENV/]VAULT/KEY[#VERSION]`, rendered raw.
    Uri,
    /// `{"vault": "V", "key": "K"}` in a JSON document, rendered as a JSON string.
    Json,
}

/// A `tresor://` path as written: validated, but not yet split into environment and vault, which
/// needs to know which names are environments (see [`TresorUri::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TresorUri {
    pub(crate) path: String,
    pub(crate) version: Option<u64>,
}

impl TresorUri {
    /// `[ENV/]VAULT/KEY`, without `tresor://` and `#VERSION`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The pinned version (`#3`), or `None` for the latest.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// Splits the path. With three or more `/`-separated segments and `is_env(first segment)`
    /// true, the first segment is the environment, the second the vault and the rest the key;
    /// otherwise the first segment is the vault (in the caller's current environment) and the
    /// rest, which may contain `/`, the key.
    pub fn resolve(&self, is_env: impl Fn(&str) -> bool) -> Result<Lookup, NameError> {
        // The parser guarantees at least one '/'.
        let (first, rest) = self.path.split_once('/').unwrap_or((&self.path, ""));
        if let Some((vault, key)) = rest.split_once('/') {
            if is_env(first) {
                return Ok(Lookup {
                    env: Some(EnvName::new(first)?),
                    vault: Some(VaultName::new(vault)?),
                    key: EntryKey::new(key)?,
                    version: self.version,
                });
            }
        }
        Ok(Lookup { env: None, vault: Some(VaultName::new(first)?), key: EntryKey::new(rest)?, version: self.version })
    }
}

impl fmt::Display for TresorUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tresor://{}", self.path)?;
        match self.version {
            Some(v) => write!(f, "#{v}"),
            None => Ok(()),
        }
    }
}

/// What a reference points at, as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A bare key (Digdag, Conductor, Tinybird), read from the caller's default vault.
    Name(EntryKey),
    /// A `tresor://` path.
    Uri(TresorUri),
    /// A JSON `{"vault", "key"}` object.
    VaultKey { vault: VaultName, key: EntryKey },
}

/// One reference found in a template.
#[derive(Clone, PartialEq, Eq)]
pub struct Reference {
    pub syntax: Syntax,
    pub target: Target,
    /// The bytes the rendered value replaces.
    pub span: Span,
    /// Where the reference starts.
    pub position: Position,
    /// The Tinybird default (unescaped), rendered when the reference resolves to nothing. Redacted
    /// in `Debug`.
    pub default: Option<String>,
    /// Found inside a JSON string of a JSON document: the value is rendered as its syntax says,
    /// then escaped for that string, which so decodes to what text mode would have written.
    pub in_json_string: bool,
}

impl Reference {
    /// The name the allow-list matches: the key for bare names, `[ENV/]VAULT/KEY` as written for
    /// `tresor://` (no version), `VAULT/KEY` for JSON objects. Credential mappings do not apply.
    pub fn name(&self) -> Cow<'_, str> {
        match &self.target {
            Target::Name(key) => Cow::Borrowed(key.as_str()),
            Target::Uri(uri) => Cow::Borrowed(uri.path()),
            Target::VaultKey { vault, key } => Cow::Owned(format!("{vault}/{key}")),
        }
    }
}

/// The canonical text of the reference (a Tinybird default is shown as `…`).
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.syntax, &self.target) {
            (Syntax::Digdag, Target::Name(k)) => write!(f, "${{secret:{k}}}"),
            (Syntax::Conductor, Target::Name(k)) => write!(f, "${{workflow.secrets.{k}}}"),
            (Syntax::Tinybird, Target::Name(k)) => match self.default {
                Some(_) => write!(f, "{{{{tb_secret('{k}', …)}}}}"),
                None => write!(f, "{{{{tb_secret('{k}')}}}}"),
            },
            (_, Target::Uri(uri)) => uri.fmt(f),
            (_, Target::VaultKey { vault, key }) => write!(f, "{{\"vault\": \"{vault}\", \"key\": \"{key}\"}}"),
            (_, Target::Name(k)) => k.fmt(f),
        }
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reference")
            .field("syntax", &self.syntax)
            .field("target", &self.target)
            .field("span", &self.span)
            .field("position", &self.position)
            .field("default", &self.default.as_ref().map(|d| format!("<{} bytes>", d.len())))
            .field("in_json_string", &self.in_json_string)
            .finish()
    }
}

/// One entry to fetch: what the caller's resolver is asked for. Built from a reference after
/// `tresor://` environment resolution and credential mapping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lookup {
    /// `None`: the caller's current environment.
    pub env: Option<EnvName>,
    /// `None`: the caller's default vault (bare-name syntaxes).
    pub vault: Option<VaultName>,
    pub key: EntryKey,
    /// `None`: the latest version.
    pub version: Option<u64>,
}

impl fmt::Display for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(env) = &self.env {
            write!(f, "{env}/")?;
        }
        if let Some(vault) = &self.vault {
            write!(f, "{vault}/")?;
        }
        write!(f, "{}", self.key)?;
        if let Some(v) = self.version {
            write!(f, "#{v}")?;
        }
        Ok(())
    }
}
