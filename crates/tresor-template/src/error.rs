//! The one error type of parsing, planning and rendering.

use crate::Position;
use std::fmt;
use thiserror::Error;
use tresor_model::NameError;

/// A reference named in an error: its canonical text (never a value or a default) and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefSite {
    pub reference: String,
    pub at: Position,
}

impl fmt::Display for RefSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.reference, self.at)
    }
}

/// Why a template could not be parsed or rendered. Messages quote template text and names, never
/// a resolved value; lists of references are sorted by position.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// Text that starts a tresor reference (`${secret:`, `${workflow.secrets.`, `{{tb_secret(`,
    /// `tresor://`) but does not complete one.
    #[error("{at}: malformed reference `{snippet}`: {problem}")]
    Malformed { at: Position, snippet: String, problem: String },
    /// A reference whose name is not a valid entry key (or vault/environment name).
    #[error("{at}: invalid name in reference `{reference}`: {cause}; fix the name in the template")]
    InvalidName { at: Position, reference: String, cause: NameError },
    /// JSON mode only: the document is not JSON.
    #[error("{at}: the template is not valid JSON: {problem}; fix the document, or render it as plain text")]
    InvalidJson { at: Position, problem: String },
    /// References outside the allow-list; nothing was resolved.
    #[error(
        "{} not allowed by the allow-list: {}; add their names (or a matching pattern) to the allow-list, \
         or remove them from the template",
        count(refs, "reference is", "references are"),
        list(refs)
    )]
    NotAllowed { refs: Vec<RefSite> },
    /// References that resolved to nothing and have no default; no output was produced.
    #[error(
        "{} no value: {}; store the missing entries (check the environment, vault and credential mappings) \
         or give a default",
        count(refs, "reference has", "references have"),
        list(refs)
    )]
    Missing { refs: Vec<RefSite> },
    /// References whose value is binary (not UTF-8) and so cannot be written into text.
    #[error(
        "{} not UTF-8 text: {}; binary entries cannot be rendered into a template, store them encoded \
         (base64, for example)",
        count(refs, "value is", "values are"),
        list(refs)
    )]
    NotText { refs: Vec<RefSite> },
}

fn count(refs: &[RefSite], one: &str, many: &str) -> String {
    match refs.len() {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

fn list(refs: &[RefSite]) -> String {
    refs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

impl TemplateError {
    /// The references a `NotAllowed`, `Missing` or `NotText` error lists (empty for the others).
    pub fn references(&self) -> &[RefSite] {
        match self {
            TemplateError::NotAllowed { refs } | TemplateError::Missing { refs } | TemplateError::NotText { refs } => {
                refs
            }
            _ => &[],
        }
    }

    /// The position of the first problem.
    pub fn position(&self) -> Option<Position> {
        match self {
            TemplateError::Malformed { at, .. }
            | TemplateError::InvalidName { at, .. }
            | TemplateError::InvalidJson { at, .. } => Some(*at),
            _ => self.references().first().map(|r| r.at),
        }
    }
}
