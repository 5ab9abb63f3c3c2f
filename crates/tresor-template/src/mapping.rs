//! Credential-set mapping (`--map pg=db1`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use thiserror::Error;
use tresor_model::EntryKey;

/// A rejected credential mapping.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MapError {
    #[error("invalid credential mapping {spec:?}: expected FROM=TO, as in pg=db1")]
    Syntax { spec: String },
    #[error("invalid credential mapping {spec:?}: prefix {prefix:?} {reason}")]
    Prefix { spec: String, prefix: String, reason: String },
    #[error(
        "credential prefix {from:?} is mapped twice (to {first:?} and to {second:?}); give each prefix one mapping"
    )]
    Duplicate { from: String, first: String, second: String },
}

/// Renames credential sets: with `pg=db1`, a reference to `pg.user` reads `db1.user`.
///
/// A mapping applies to an entry key whose part before its first `.` equals FROM exactly; that
/// part is replaced by TO and the rest is kept. Keys without a `.` (such as `pg` itself) and keys
/// with another prefix are unchanged. Mappings are applied once, never chained (`a=b`, `b=c` maps
/// `a.x` to `b.x`). FROM and TO must be valid entry keys without a `.`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialMap {
    map: BTreeMap<String, String>,
}

impl CredentialMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a map from `FROM=TO` strings, as given on the command line.
    pub fn from_specs<I, S>(specs: I) -> Result<Self, MapError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut map = Self::new();
        for spec in specs {
            map.add_spec(spec.as_ref())?;
        }
        Ok(map)
    }

    /// Adds one `FROM=TO` mapping.
    pub fn add_spec(&mut self, spec: &str) -> Result<(), MapError> {
        let (from, to) = spec.split_once('=').ok_or_else(|| MapError::Syntax { spec: spec.to_owned() })?;
        self.insert_checked(spec, from.trim(), to.trim())
    }

    /// Adds the mapping `from` → `to`.
    pub fn insert(&mut self, from: &str, to: &str) -> Result<(), MapError> {
        self.insert_checked(&format!("{from}={to}"), from, to)
    }

    fn insert_checked(&mut self, spec: &str, from: &str, to: &str) -> Result<(), MapError> {
        for prefix in [from, to] {
            let reason = if prefix.contains('.') {
                Some("contains '.'; a prefix is the part of a key before its first '.'".to_owned())
            } else {
                EntryKey::new(prefix).err().map(|e| e.reason)
            };
            if let Some(reason) = reason {
                return Err(MapError::Prefix { spec: spec.to_owned(), prefix: prefix.to_owned(), reason });
            }
        }
        if let Some(first) = self.map.get(from) {
            if first != to {
                return Err(MapError::Duplicate { from: from.to_owned(), first: first.clone(), second: to.to_owned() });
            }
        }
        self.map.insert(from.to_owned(), to.to_owned());
        Ok(())
    }

    /// Applies the mappings to `name` (a pure function; see the type's docs for the rule).
    ///
    /// ```
    /// let map = tresor_template::CredentialMap::from_specs(["pg=db1"]).unwrap();
    /// assert_eq!(map.apply("pg.password"), "db1.password");
    /// assert_eq!(map.apply("pgx.password"), "pgx.password");
    /// ```
    pub fn apply<'n>(&self, name: &'n str) -> Cow<'n, str> {
        match name.split_once('.') {
            Some((prefix, rest)) => match self.map.get(prefix) {
                Some(to) => Cow::Owned(format!("{to}.{rest}")),
                None => Cow::Borrowed(name),
            },
            None => Cow::Borrowed(name),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The mappings, FROM → TO, sorted by FROM.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(a, b)| (a.as_str(), b.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_prefix_before_the_first_dot() {
        let map = CredentialMap::from_specs(["pg=db1", "aws = prod/aws"]).unwrap();
        assert_eq!(map.apply("pg.user"), "db1.user");
        assert_eq!(map.apply("pg.password"), "db1.password");
        assert_eq!(map.apply("pg.a.b"), "db1.a.b");
        assert_eq!(map.apply("aws.key"), "prod/aws.key");
        assert!(matches!(map.apply("pg.user"), Cow::Owned(_)));
    }

    #[test]
    fn leaves_other_names_alone() {
        let map = CredentialMap::from_specs(["pg=db1", "a=b", "b=c"]).unwrap();
        for same in ["pg", "pgx.user", "xpg.user", "db/pg.user", "user"] {
            assert_eq!(map.apply(same), same);
            assert!(matches!(map.apply(same), Cow::Borrowed(_)));
        }
        assert_eq!(map.apply("a.x"), "b.x", "not chained");
        assert_eq!(CredentialMap::new().apply("pg.user"), "pg.user");
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(matches!(CredentialMap::from_specs(["pg"]), Err(MapError::Syntax { .. })));
        for bad in ["=db1", "pg=", "pg.x=db1", "pg=db.1", "p g=db1", "pg=../x"] {
            let e = CredentialMap::from_specs([bad]).unwrap_err();
            assert!(matches!(e, MapError::Prefix { .. }), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{e}");
        }
        let e = CredentialMap::from_specs(["pg=db1", "pg=db2"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "credential prefix \"pg\" is mapped twice (to \"db1\" and to \"db2\"); give each prefix one mapping"
        );
        assert!(CredentialMap::from_specs(["pg=db1", "pg=db1"]).is_ok());
        let mut m = CredentialMap::new();
        assert!(m.insert("pg", "db1").is_ok());
        assert_eq!(m.iter().collect::<Vec<_>>(), [("pg", "db1")]);
    }
}
