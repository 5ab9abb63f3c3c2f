//! The allow-list and its glob matcher.

/// Glob matching, shared with grant scopes: `*` matches any run of characters (including none,
/// and including `/` and `.`), `?` exactly one character; no escapes, case-sensitive, whole-name.
///
/// ```
/// use tresor_template::glob_match;
/// assert!(glob_match("pg.*", "pg.password"));
/// assert!(glob_match("prod/*", "prod/db/pw"));
/// assert!(!glob_match("pg.?", "pg.user"));
/// ```
pub use tresor_model::glob_match;

/// Which references a template may use (Digdag's `_secrets`): a reference is allowed when its
/// name (see [`Reference::name`](crate::Reference::name)) matches at least one pattern
/// ([`glob_match`]). An empty list allows nothing; to allow everything, set no list at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    patterns: Vec<String>,
}

impl AllowList {
    /// A list of names or glob patterns.
    pub fn new<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AllowList { patterns: patterns.into_iter().map(Into::into).collect() }
    }

    /// Whether `name` matches any pattern.
    pub fn allows(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| glob_match(p, name))
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The glob rules themselves are tested where the matcher lives (tresor-model's access.rs).

    #[test]
    fn allow_list_semantics() {
        let list = AllowList::new(["td.apikey", "pg.*"]);
        assert!(list.allows("td.apikey"));
        assert!(list.allows("pg.host"));
        assert!(!list.allows("aws.key"));
        assert!(!AllowList::new(Vec::<String>::new()).allows("x"));
    }
}
