//! Property tests: text without references passes through unchanged, and rendering substitutes
//! exactly the values.

use proptest::prelude::*;
use std::collections::HashMap;
use tresor_template::{glob_match, render, sql_quote, Options, Template};

/// An independent check for the openers the crate recognizes.
fn has_opener(s: &str) -> bool {
    if s.contains("${secret:") || s.contains("${workflow.secrets.") || s.contains("tresor://") {
        return true;
    }
    let ws = |t: &str| t.trim_start_matches([' ', '\t', '\n', '\r']).len();
    s.match_indices("{{").any(|(i, _)| {
        let after = &s[i + 2..];
        let after = &after[after.len() - ws(after)..];
        after.strip_prefix("tb_secret").is_some_and(|rest| rest[rest.len() - ws(rest)..].starts_with('('))
    })
}

const TOKENS: &[&str] = &[
    "$",
    "{",
    "}",
    "{{",
    "}}",
    "${",
    "'",
    "\"",
    ":",
    "/",
    "//",
    "(",
    ")",
    ",",
    " ",
    "\n",
    "\t",
    "\r\n",
    "a",
    "Z",
    "0",
    ".",
    "é",
    "日",
    "😀",
    "secret",
    "secret:",
    "workflow.",
    "secrets.",
    "tb_secret",
    "tresor",
    "tresor:",
    "tresor:/",
    "#",
    "\\",
    "${other}",
    "{{ x }}",
    "$$",
];

fn near_miss_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![4 => prop::sample::select(TOKENS).prop_map(str::to_owned), 1 => any::<char>().prop_map(String::from)];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat()).prop_filter("contains an opener", |s| !has_opener(s))
}

/// Literal text that can never form or extend a reference (no `s`, `t`, `w`; no key characters
/// at the start, which matters after a `tresor://` reference).
fn literal() -> impl Strategy<Value = String> {
    let chars = prop::sample::select(vec![
        'a', 'b', 'x', '$', '{', '}', '\'', '"', ':', '/', '(', ')', ' ', '\n', 'é', '日', '😀', '#', '.', '\\', ',',
    ]);
    prop::collection::vec(chars, 0..12).prop_map(|v| v.into_iter().collect())
}

#[derive(Debug, Clone)]
enum Ref {
    Digdag(usize),
    Conductor(usize),
    Tinybird(usize, bool),
    TinybirdDefault(String),
    Uri(usize),
}

const KEYS: &[&str] = &["a", "pg.user", "db/pw", "x-y_z", "a/b/c.d"];

fn reference() -> impl Strategy<Value = Ref> {
    let k = 0..KEYS.len();
    prop_oneof![
        k.clone().prop_map(Ref::Digdag),
        k.clone().prop_map(Ref::Conductor),
        (k.clone(), any::<bool>()).prop_map(|(k, dq)| Ref::Tinybird(k, dq)),
        any::<String>().prop_map(Ref::TinybirdDefault),
        k.prop_map(Ref::Uri),
    ]
}

fn tb_string(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// JSON without any `{"vault", "key"}` object or reference in a string, with arbitrary
/// insignificant whitespace.
fn json_doc() -> impl Strategy<Value = String> {
    let ws = prop::sample::select(vec!["", " ", "\n", "\t", "  \r\n "]);
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        Just("-0.5e+10".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<String>().prop_filter("no reference", |s| !has_opener(s)).prop_map(|s| tresor_template::json_quote(&s)),
        Just(r#""\u00e9\ud83d\ude00\/""#.to_owned()),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        let item = (ws.clone(), inner, ws.clone()).prop_map(|(a, v, b)| format!("{a}{v}{b}"));
        let name = prop::sample::select(vec!["\"vault\"", "\"a\"", "\"\\u0041\"", "\"k\""]);
        prop_oneof![
            prop::collection::vec(item.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((name, item), 0..5).prop_map(|v| {
                let members: Vec<String> = v.into_iter().map(|(n, i)| format!("{n}:{i}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

proptest! {
    #[test]
    fn text_without_references_passes_through(text in near_miss_text()) {
        let t = Template::parse(&text).unwrap();
        prop_assert!(t.references().is_empty());
        let out = render(&text, &Options::new(), |_| -> Option<&str> { unreachable!() }).unwrap();
        prop_assert_eq!(out, text);
    }

    #[test]
    fn rendering_substitutes_values(
        parts in prop::collection::vec((literal(), reference()), 0..8),
        tail in literal(),
        vals in prop::collection::vec(any::<String>(), KEYS.len()),
    ) {
        let mut template = String::new();
        let mut expected = String::new();
        for (lit, r) in &parts {
            template.push_str(lit);
            expected.push_str(lit);
            match r {
                Ref::Digdag(k) => {
                    template.push_str(&format!("${{secret:{}}}", KEYS[*k]));
                    expected.push_str(&vals[*k]);
                }
                Ref::Conductor(k) => {
                    template.push_str(&format!("${{workflow.secrets.{}}}", KEYS[*k]));
                    expected.push_str(&vals[*k]);
                }
                Ref::Tinybird(k, dq) => {
                    let q = if *dq { '"' } else { '\'' };
                    template.push_str(&format!("{{{{ tb_secret( {q}{}{q} ) }}}}", KEYS[*k]));
                    expected.push_str(&sql_quote(&vals[*k]));
                }
                Ref::TinybirdDefault(d) => {
                    template.push_str(&format!("{{{{tb_secret('none.here',\n{})}}}}", tb_string(d)));
                    expected.push_str(&sql_quote(d));
                }
                Ref::Uri(k) => {
                    template.push_str(&format!("tresor://v/{} ", KEYS[*k]));
                    expected.push_str(&vals[*k]);
                    expected.push(' ');
                }
            }
        }
        template.push_str(&tail);
        expected.push_str(&tail);
        let by_key: HashMap<&str, &str> = KEYS.iter().copied().zip(vals.iter().map(String::as_str)).collect();
        let t = Template::parse(&template).unwrap();
        prop_assert_eq!(t.references().len(), parts.len());
        let out = t.render(&Options::new(), |l| by_key.get(l.key.as_str()).copied()).unwrap();
        prop_assert_eq!(out, expected);
    }

    #[test]
    fn json_without_references_passes_through(doc in json_doc()) {
        let t = Template::parse_json(&doc).unwrap();
        prop_assert!(t.references().is_empty());
        prop_assert_eq!(Template::parse_json(&doc).unwrap().render(&Options::new(), |_| -> Option<&str> { unreachable!() }).unwrap(), doc);
    }

    #[test]
    fn json_references_render_valid_json(doc in json_doc(), value in any::<String>()) {
        let with_ref = format!("[{doc}, {{\"key\" : \"k\", \"vault\": \"v\"}}]");
        let out = Template::parse_json(&with_ref).unwrap().render(&Options::new(), |_| Some(value.as_str())).unwrap();
        prop_assert_eq!(&out, &format!("[{doc}, {}]", tresor_template::json_quote(&value)));
        // Valid JSON (checked without looking into strings: the value may hold an opener).
        prop_assert!(Template::parse_json_objects(&out).is_ok());
    }

    #[test]
    fn references_inside_json_strings_render_valid_json(
        doc in json_doc(),
        value in any::<String>(),
        sql in any::<bool>(),
    ) {
        let reference = if sql { "{{tb_secret(\\\"k\\\")}}" } else { "${secret:k}" };
        let with_ref = format!("[{doc}, \"a\\n{reference}\\\"b\"]");
        let out = Template::parse_json(&with_ref).unwrap().render(&Options::new(), |_| Some(value.as_str())).unwrap();
        let text = if sql { sql_quote(&value) } else { value.clone() };
        prop_assert_eq!(&out, &format!("[{doc}, {}]", tresor_template::json_quote(&format!("a\n{text}\"b"))));
        prop_assert!(Template::parse_json_objects(&out).is_ok());
    }

    #[test]
    fn globs_built_from_a_name_match_it(name in "[a-z./_-]{0,12}", edits in prop::collection::vec(0u8..4, 12), cut in any::<(usize, usize)>()) {
        let chars: Vec<char> = name.chars().collect();
        let (a, b) = if chars.is_empty() { (0, 0) } else { let a = cut.0 % (chars.len() + 1); (a, a + cut.1 % (chars.len() + 1 - a)) };
        let mut pattern: String = chars[..a].iter().zip(&edits).map(|(&c, &e)| if e == 0 { '?' } else { c }).collect();
        pattern.push('*');
        pattern.extend(&chars[b..]);
        prop_assert!(glob_match(&pattern, &name), "{} !~ {}", pattern, name);
        prop_assert!(glob_match(&name, &name));
        let longer = format!("{name}?");
        prop_assert!(!glob_match(&longer, &name));
    }
}

/// Text made of reference fragments, with no filter: most of it is malformed on purpose.
fn fragment_soup() -> impl Strategy<Value = String> {
    const EXTRA: &[&str] =
        &["${secret:", "${workflow.secrets.", "{{tb_secret(", "tresor://", "pg.user", "'d'", "\"k\"", "[", "]"];
    let piece = prop_oneof![
        4 => prop::sample::select(TOKENS).prop_map(str::to_owned),
        2 => prop::sample::select(EXTRA).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Whether `at` points into `source` (its end included: an unterminated reference is reported
/// where the input stops). Lines split at `\n`, columns count characters, both from 1.
fn inside(source: &str, line: usize, column: usize) -> bool {
    let lines: Vec<&str> = source.split('\n').collect();
    line >= 1 && line <= lines.len() && column >= 1 && column <= lines[line - 1].chars().count() + 1
}

/// The position a parse error carries, if it is one that points at the text.
fn error_position(e: &tresor_template::TemplateError) -> Option<tresor_template::Position> {
    use tresor_template::TemplateError::*;
    match e {
        Malformed { at, .. } | InvalidName { at, .. } | InvalidJson { at, .. } => Some(*at),
        NotAllowed { .. } | Missing { .. } | NotText { .. } => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any text, in each mode: a template or an error, never a panic; an error points inside the
    /// text; a template renders (every lookup answered) or names what it lacks, never panics.
    #[test]
    fn random_templates_never_panic_and_errors_point_inside(
        source in prop_oneof![fragment_soup(), any::<String>()],
        value in any::<String>(),
    ) {
        for mode in ["text", "json", "json objects"] {
            let parsed = match mode {
                "text" => Template::parse(&source),
                "json" => Template::parse_json(&source),
                _ => Template::parse_json_objects(&source),
            };
            match parsed {
                Ok(t) => {
                    for r in t.references() {
                        prop_assert!(inside(&source, r.position.line, r.position.column), "{} reference at {}", mode, r.position);
                    }
                    let _ = t.render(&Options::new(), |_| Some(value.as_str()));
                    let _ = t.render(&Options::new(), |_| -> Option<&str> { None });
                }
                Err(e) => {
                    let message = e.to_string();
                    prop_assert!(!message.is_empty());
                    let at = error_position(&e);
                    prop_assert!(at.is_some(), "{} parse gave a non-parse error: {}", mode, message);
                    let at = at.unwrap();
                    prop_assert!(inside(&source, at.line, at.column), "{} error at {} outside the input: {}", mode, at, message);
                }
            }
        }
    }
}
