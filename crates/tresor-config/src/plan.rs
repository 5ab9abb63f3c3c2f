//! The plan: what applying a config would change. It names things and says how they change; it
//! never carries a value (a changed secret reads "value changed").

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
}

impl ChangeOp {
    /// `+`, `~` or `-`, as the plan prints it.
    pub fn symbol(self) -> char {
        match self {
            ChangeOp::Create => '+',
            ChangeOp::Update => '~',
            ChangeOp::Delete => '-',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanTarget {
    Environment,
    Vault,
    Entry,
    Grant,
}

impl std::fmt::Display for PlanTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PlanTarget::Environment => "environment",
            PlanTarget::Vault => "vault",
            PlanTarget::Entry => "entry",
            PlanTarget::Grant => "grant",
        })
    }
}

/// One change. `confirm` marks the changes apply asks about first: deletions, and taking over a
/// vault that is unmanaged (never managed, or released by a change outside the config) or owned
/// by another config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    pub op: ChangeOp,
    pub target: PlanTarget,
    /// `ENV`, `ENV/VAULT`, `ENV/VAULT/KEY`, or for a grant `PRINCIPAL ACCESS on SCOPE`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default)]
    pub confirm: bool,
}

/// What apply would do (from plan), or did (from apply, with `applied` set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Plan {
    /// The config's name: the owner recorded on its vaults.
    pub config: String,
    pub changes: Vec<Change>,
    #[serde(default)]
    pub applied: bool,
}

impl Plan {
    /// Nothing would change: `tresor plan` exits 0.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The changes apply asks about before making them.
    pub fn to_confirm(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.confirm)
    }

    fn count(&self, op: ChangeOp) -> usize {
        self.changes.iter().filter(|c| c.op == op).count()
    }

    /// The plan as `tresor plan` prints it: one line per change, then a summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.is_empty() {
            out.push_str(&format!("config {}: no changes; the store matches the file\n", self.config));
            return out;
        }
        let heading = if self.applied { "applied" } else { "plan for" };
        out.push_str(&format!("{heading} config {}:\n", self.config));
        for c in &self.changes {
            out.push_str(&format!("  {} {} {}", c.op.symbol(), c.target, c.name));
            if let Some(d) = &c.detail {
                out.push_str(&format!(" ({d})"));
            }
            if c.confirm && !self.applied {
                out.push_str("  [needs confirmation]");
            }
            out.push('\n');
        }
        let verbs =
            if self.applied { ["created", "updated", "deleted"] } else { ["to create", "to update", "to delete"] };
        out.push_str(&format!(
            "{} {}, {} {}, {} {}\n",
            self.count(ChangeOp::Create),
            verbs[0],
            self.count(ChangeOp::Update),
            verbs[1],
            self.count(ChangeOp::Delete),
            verbs[2]
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_symbols_and_a_summary() {
        let plan = Plan {
            config: "tresor".into(),
            changes: vec![
                Change {
                    op: ChangeOp::Create,
                    target: PlanTarget::Entry,
                    name: "prod/api-keys/a".into(),
                    detail: Some("secret".into()),
                    confirm: false,
                },
                Change {
                    op: ChangeOp::Delete,
                    target: PlanTarget::Entry,
                    name: "prod/api-keys/b".into(),
                    detail: None,
                    confirm: true,
                },
            ],
            applied: false,
        };
        let text = plan.render();
        assert!(text.contains("  + entry prod/api-keys/a (secret)\n"), "{text}");
        assert!(text.contains("  - entry prod/api-keys/b  [needs confirmation]\n"), "{text}");
        assert!(text.ends_with("1 to create, 0 to update, 1 to delete\n"), "{text}");
        assert_eq!(plan.to_confirm().count(), 1);
        let empty = Plan { config: "x".into(), changes: vec![], applied: false };
        assert!(empty.is_empty() && empty.render().contains("no changes"));
    }
}
