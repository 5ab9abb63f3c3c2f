//! Property tests of the name rules and scope globs against small reference models written here,
//! independently of the code under test.

use proptest::prelude::*;
use tresor_model::{
    glob_match, EntryKey, EnvName, NameKind, PrincipalKind, PrincipalRef, Scope, VaultName, WorkspaceName,
    IDENT_PATTERN, KEY_PATTERN, MAX_KEY_LEN,
};

/// The identifier rule as the module docs state it: 1–64 ASCII letters, digits, `_`, `-`,
/// starting with a letter or digit.
fn ident_is_valid(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// The key rule as the module docs state it: 1–256 characters of letters, digits, `_-./`, no empty
/// `/` segment, no `..`.
fn key_is_valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"_-./".contains(&c))
        && s.split('/').all(|seg| !seg.is_empty())
        && !s.contains("..")
}

/// The glob rule, recursively: `*` any run of characters, `?` exactly one, anything else itself.
fn reference_match(p: &[char], t: &[char]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some(('*', rest)) => (0..=t.len()).any(|i| reference_match(rest, &t[i..])),
        Some(('?', rest)) => !t.is_empty() && reference_match(rest, &t[1..]),
        Some((c, rest)) => t.first() == Some(c) && reference_match(rest, &t[1..]),
    }
}

fn chars(s: &str) -> Vec<char> {
    s.chars().collect()
}

/// Strings near the rules' edges: mostly allowed characters, some refused ones, lengths across the limits.
fn near_names() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_./-]{0,12}",
        "[a-z0-9][a-z0-9_-]{60,66}",
        "[a-z/.]{250,260}",
        "[a-z0-9_./ :*?é\\x00-]{0,12}",
        any::<String>(),
    ]
}

/// Globs and texts over a small alphabet so that matches are frequent; `é` checks that `?` is one
/// character, not one byte.
fn glob() -> impl Strategy<Value = String> {
    "[ab*?/.é]{0,8}"
}
fn text() -> impl Strategy<Value = String> {
    "[ab/.é]{0,10}"
}

/// Strings the pattern (written for the OpenAPI document) matches; its anchors left out, as
/// proptest's generator wants.
fn matching(pattern: &str) -> impl Strategy<Value = String> {
    let unanchored = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')).expect("an anchored pattern");
    proptest::string::string_regex(unanchored).expect("a pattern proptest reads")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every name the document's patterns allow is a name the server accepts (the other
    /// direction, what the patterns refuse, is checked against the document in tresor-server).
    #[test]
    fn what_the_patterns_allow_is_valid(
        ident in matching(IDENT_PATTERN),
        key in matching(KEY_PATTERN),
        principal in matching(&PrincipalRef::pattern(&[PrincipalKind::User, PrincipalKind::App, PrincipalKind::Group])),
        scope in matching(Scope::PATTERN),
    ) {
        prop_assert!(VaultName::new(ident.clone()).is_ok(), "{:?}", ident);
        if key.len() <= MAX_KEY_LEN {
            prop_assert!(EntryKey::new(key.clone()).is_ok(), "{:?}", key);
        }
        prop_assert!(principal.parse::<PrincipalRef>().is_ok(), "{:?}", principal);
        if scope.len() <= Scope::MAX_LEN {
            prop_assert!(scope.parse::<Scope>().is_ok(), "{:?}", scope);
        }
    }

    #[test]
    fn idents_are_accepted_exactly_when_the_rule_allows(s in near_names()) {
        let want = ident_is_valid(&s);
        for (kind, got) in [
            (NameKind::Workspace, WorkspaceName::new(s.clone()).map(|n| n.to_string())),
            (NameKind::Environment, EnvName::new(s.clone()).map(|n| n.to_string())),
            (NameKind::Vault, VaultName::new(s.clone()).map(|n| n.to_string())),
        ] {
            match got {
                // Valid names round-trip through parse and display.
                Ok(shown) => {
                    prop_assert!(want, "{:?} accepted as {}", s, kind);
                    prop_assert_eq!(&shown, &s);
                }
                Err(e) => {
                    prop_assert!(!want, "{:?} refused as {}: {}", s, kind, e);
                    prop_assert_eq!(e.kind, kind);
                    prop_assert!(e.to_string().starts_with(&format!("invalid {kind} ")), "{}", e);
                    prop_assert!(!e.reason.is_empty());
                }
            }
        }
        prop_assert_eq!(s.parse::<VaultName>().is_ok(), want);
    }

    #[test]
    fn keys_are_accepted_exactly_when_the_rule_allows(s in near_names()) {
        match EntryKey::new(s.clone()) {
            Ok(k) => {
                prop_assert!(key_is_valid(&s), "{:?} accepted", s);
                prop_assert_eq!(k.to_string(), s.clone());
                prop_assert_eq!(k.to_string().parse::<EntryKey>().unwrap(), k);
            }
            Err(e) => {
                prop_assert!(!key_is_valid(&s), "{:?} refused: {}", s, e);
                prop_assert_eq!(e.kind, NameKind::Key);
                prop_assert!(e.name.chars().count() <= 80);
            }
        }
    }

    #[test]
    fn principals_round_trip_through_display(kind in 0usize..3, name in near_names()) {
        let written = format!("{}:{name}", ["user", "app", "group"][kind]);
        match written.parse::<PrincipalRef>() {
            Ok(p) => {
                prop_assert!(ident_is_valid(&name));
                prop_assert_eq!(p.to_string(), written.clone());
                prop_assert_eq!(p.to_string().parse::<PrincipalRef>().unwrap(), p);
            }
            Err(e) => {
                prop_assert!(!ident_is_valid(&name), "{:?}: {}", written, e);
                prop_assert_eq!(e.kind, NameKind::Principal);
            }
        }
    }

    #[test]
    fn glob_match_agrees_with_the_reference(pattern in glob(), text in text()) {
        prop_assert_eq!(glob_match(&pattern, &text), reference_match(&chars(&pattern), &chars(&text)));
    }

    #[test]
    fn scopes_round_trip_and_cover_what_their_globs_match(
        env in "[a*?]{1,3}",
        vault in "[ab*?]{1,3}",
        key in "[ab/*?]{1,5}",
        e in "[ab]{1,3}",
        v in "[ab]{1,3}",
        k in "[ab/]{1,5}",
    ) {
        let written = format!("{env}/{vault}/{key}");
        let scope: Scope = written.parse().unwrap();
        prop_assert_eq!(scope.to_string(), written);
        let want = reference_match(&chars(&env), &chars(&e))
            && reference_match(&chars(&vault), &chars(&v))
            && reference_match(&chars(&key), &chars(&k));
        prop_assert_eq!(scope.covers(&e, Some(&v), Some(&k)), want);
    }

    /// Containment is conservative: whenever it says yes, every entry the inner scope covers is
    /// covered by the outer one (checked on sampled entries).
    #[test]
    fn scope_containment_is_sound(
        outer in "[ab*?]{1,3}/[ab*?]{1,3}/[ab*?/]{1,4}",
        inner in "[ab*?]{1,3}/[ab*?]{1,3}/[ab*?/]{1,4}",
        entries in prop::collection::vec(("[ab]{1,3}", "[ab]{1,3}", "[ab/]{1,4}"), 16),
    ) {
        let (Ok(outer), Ok(inner)) = (outer.parse::<Scope>(), inner.parse::<Scope>()) else {
            return Ok(());
        };
        prop_assert!(outer.contains(&outer));
        if outer.contains(&inner) {
            for (e, v, k) in &entries {
                if inner.covers(e, Some(v), Some(k)) {
                    prop_assert!(outer.covers(e, Some(v), Some(k)), "{} contains {} but not {}/{}/{}", outer, inner, e, v, k);
                }
            }
        }
    }

    #[test]
    fn refused_scopes_get_an_error_that_names_them(s in "[a-z/*?:é ]{0,8}") {
        let allowed = !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./*?".contains(c))
            && s.splitn(3, '/').all(|part| !part.is_empty());
        match s.parse::<Scope>() {
            Ok(scope) => {
                prop_assert!(allowed, "{:?} accepted", s);
                prop_assert_eq!(scope.to_string(), s);
            }
            Err(e) => {
                prop_assert!(!allowed, "{:?} refused: {}", s, e);
                prop_assert_eq!(e.kind, NameKind::Scope);
            }
        }
    }
}
