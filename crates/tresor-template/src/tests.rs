//! Unit tests of parsing, positions, planning and rendering.

use crate::*;
use std::collections::HashMap;

fn values(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Renders text with values keyed by the lookup's display form.
fn render_with(text: &str, vals: &[(&str, &str)]) -> Result<String, TemplateError> {
    let vals = values(vals);
    render(text, &Options::new(), |l| vals.get(&l.to_string()).cloned())
}

fn render_json_with(text: &str, vals: &[(&str, &str)]) -> Result<String, TemplateError> {
    let vals = values(vals);
    Template::parse_json(text)?.render(&Options::new(), |l| vals.get(&l.to_string()).cloned())
}

fn pos(line: usize, column: usize) -> Position {
    Position { line, column }
}

/// Asserts that `e` is an invalid name at `line:column` whose message says `says`.
#[track_caller]
fn assert_invalid_name_at(e: &TemplateError, line: usize, column: usize, says: &str) {
    assert!(matches!(e, TemplateError::InvalidName { at, .. } if *at == pos(line, column)), "{e}");
    assert!(e.to_string().contains(says), "{e}");
}

fn names(t: &Template) -> Vec<String> {
    t.references().iter().map(ToString::to_string).collect()
}

// ---- syntaxes ----

#[test]
fn digdag_and_conductor() {
    let out =
        render_with("a=${secret:td.apikey} b=${workflow.secrets.db/pw}!", &[("td.apikey", "K1"), ("db/pw", "P2")]);
    assert_eq!(out.unwrap(), "a=K1 b=P2!");
    let t = Template::parse("${secret:x}${workflow.secrets.pg.user}").unwrap();
    assert_eq!(t.references()[0].syntax, Syntax::Digdag);
    assert_eq!(t.references()[1].syntax, Syntax::Conductor);
    assert_eq!(t.references()[1].target, Target::Name(tresor_model::EntryKey::new("pg.user").unwrap()));
    assert_eq!(t.references()[0].span, Span { start: 0, end: 11 });
    assert_eq!(t.references()[1].span.range(), 11..38);
}

#[test]
fn tinybird_forms() {
    let vals = [("k", "v'1\\")];
    for (tpl, want) in [
        ("{{tb_secret('k')}}", r"'v\'1\\'"),
        ("{{ tb_secret ( \"k\" ) }}", r"'v\'1\\'"),
        ("{{\n\ttb_secret(\n  'k' ,\n 'dflt'\n)\n}}", r"'v\'1\\'"),
        ("{{tb_secret('missing', 'd\\'ef')}}", r"'d\'ef'"),
        ("{{tb_secret(\"missing\", \"say \\\"hi\\\" \\\\ it's\")}}", r#"'say "hi" \\ it\'s'"#),
        ("{{tb_secret('missing', '')}}", "''"),
        ("{{tb_secret('missing', 'a\\nb\\t')}}", r"'a\nb\t'"),
    ] {
        assert_eq!(render_with(tpl, &vals).unwrap(), want, "{tpl}");
    }
    let t = Template::parse("x {{tb_secret('k', 'secret default')}} y").unwrap();
    let r = &t.references()[0];
    assert_eq!(r.default.as_deref(), Some("secret default"));
    assert_eq!(r.to_string(), "{{tb_secret('k', …)}}");
    assert!(!format!("{r:?}").contains("secret default"), "Debug redacts the default");
    assert_eq!(&t.source()[r.span.range()], "{{tb_secret('k', 'secret default')}}");
}

#[test]
fn tinybird_value_is_sql_escaped_in_context() {
    let out = render_with("SELECT * FROM t WHERE token = {{tb_secret('tok')}}", &[("tok", "x' OR '1'='1")]).unwrap();
    assert_eq!(out, r"SELECT * FROM t WHERE token = 'x\' OR \'1\'=\'1'");
}

#[test]
fn tresor_uris() {
    let t = Template::parse("a tresor://v/k b tresor://v/db/pg.user#12, (tresor://prod/api/tok)\n\"tresor://v/x\"")
        .unwrap();
    assert_eq!(names(&t), ["tresor://v/k", "tresor://v/db/pg.user#12", "tresor://prod/api/tok", "tresor://v/x"]);
    let Target::Uri(u) = &t.references()[1].target else { panic!() };
    assert_eq!((u.path(), u.version()), ("v/db/pg.user", Some(12)));
    // Each terminator ends the reference and stays in the output.
    for term in [" ", "\t", "\n", "'", "\"", ")", "]", "}", ",", ";", "<", ">", ":", "é", "?"] {
        let out = render_with(&format!("tresor://v/k{term}rest"), &[("v/k", "VAL")]).unwrap();
        assert_eq!(out, format!("VAL{term}rest"));
    }
    assert_eq!(render_with("tresor://v/k.", &[("v/k.", "V")]).unwrap(), "V", "a trailing '.' is part of the key");
    assert_eq!(render_with("x=tresor://v/k#2;", &[("v/k#2", "V2")]).unwrap(), "x=V2;");
}

#[test]
fn tresor_env_rule() {
    let t = Template::parse("tresor://prod/db/pw tresor://db/pw tresor://prod/pw tresor://dev/a/b/c#3").unwrap();
    let envs = ["prod", "dev"];
    let opts = Options::new().environments(|n| envs.contains(&n));
    let plan = t.plan(&opts).unwrap();
    let shown: Vec<String> =
        plan.lookups().iter().map(|l| format!("{:?}|{:?}|{}|{:?}", l.env, l.vault, l.key, l.version)).collect();
    assert_eq!(
        shown,
        [
            r#"Some(EnvName("prod"))|Some(VaultName("db"))|pw|None"#,
            r#"None|Some(VaultName("db"))|pw|None"#,
            r#"None|Some(VaultName("prod"))|pw|None"#,
            r#"Some(EnvName("dev"))|Some(VaultName("a"))|b/c|Some(3)"#,
        ]
    );
    // Without the predicate, the first segment is always the vault.
    let plan = t.plan(&Options::new()).unwrap();
    assert_eq!(plan.lookups()[0].to_string(), "prod/db/pw");
    assert!(plan.lookups().iter().all(|l| l.env.is_none()));
    assert_eq!(plan.lookups()[0].key.as_str(), "db/pw");
    // An env path whose vault segment is not a vault name is an error at planning.
    let t = Template::parse("\n  tresor://prod/my.vault/k").unwrap();
    assert_invalid_name_at(&t.plan(&opts).unwrap_err(), 2, 3, "tresor://prod/my.vault/k");
}

#[test]
fn json_mode() {
    let doc = "{\n  \"url\": \"https://x\",\n  \"headers\": {\"Authorization\": {\"key\": \"tok\", \"vault\": \"api\"}},\n  \"list\": [1, -2.5e3, true, null, {\"vault\":\"api\",\"key\":\"a/b\"}],\n  \"other\": {\"vault\": \"api\"}\n}";
    let t = Template::parse_json(doc).unwrap();
    assert_eq!(names(&t), ["{\"vault\": \"api\", \"key\": \"tok\"}", "{\"vault\": \"api\", \"key\": \"a/b\"}"]);
    assert_eq!(t.references()[0].position, pos(3, 32));
    assert_eq!(t.references()[1].position, pos(4, 35));
    assert_eq!(t.references()[0].name(), "api/tok");
    let out = render_json_with(doc, &[("api/tok", "Bearer \"x\"\n\\"), ("api/a/b", "é")]).unwrap();
    assert_eq!(
        out,
        "{\n  \"url\": \"https://x\",\n  \"headers\": {\"Authorization\": \"Bearer \\\"x\\\"\\n\\\\\"},\n  \"list\": [1, -2.5e3, true, null, \"é\"],\n  \"other\": {\"vault\": \"api\"}\n}"
    );
    // The whole document may be a reference; escaped member names count.
    assert_eq!(render_json_with(" {\"\\u0076ault\" : \"v\" , \"key\":\"k\"} ", &[("v/k", "1")]).unwrap(), " \"1\" ");
    // Objects with other or more members are not references.
    for keep in [
        r#"{"vault": "v", "key": "k", "x": 1}"#,
        r#"{"vault": "v", "name": "k"}"#,
        r#"{"vault": "v", "vault": "k"}"#,
        r#"{"Vault": "v", "key": "k"}"#,
        r#"["vault", "key"]"#,
        r#"{}"#,
    ] {
        assert_eq!(render_json_with(keep, &[]).unwrap(), keep);
    }
}

#[test]
fn json_objects_mode_ignores_text_syntaxes() {
    let doc = r#"{"a": "${secret:x} tresor://v/k {{tb_secret('y')}}", "b": {"vault": "v", "key": "k"}}"#;
    let t = Template::parse_json_objects(doc).unwrap();
    assert_eq!(names(&t), ["{\"vault\": \"v\", \"key\": \"k\"}"]);
}

#[test]
fn json_mode_finds_text_syntaxes_inside_strings() {
    // Escapes before, inside and around references; a member name; a decoded `$`.
    let doc = "{\n \"a\": \"\\n\\\"x ${secret:x} tresor://v/k\",\n \"${workflow.secrets.n}\": \
               \"{{tb_secret(\\\"y\\\", 'd\\u00e9')}}\", \"b\": \"\\u0024{secret:x}\"}";
    let t = Template::parse_json(doc).unwrap();
    assert_eq!(
        names(&t),
        ["${secret:x}", "tresor://v/k", "${workflow.secrets.n}", "{{tb_secret('y', …)}}", "${secret:x}"]
    );
    let at: Vec<Position> = t.references().iter().map(|r| r.position).collect();
    assert_eq!(at, [pos(2, 14), pos(2, 26), pos(3, 3), pos(3, 28), pos(3, 68)]);
    assert!(t.references().iter().all(|r| r.in_json_string));
    assert_eq!(t.references()[3].default.as_deref(), Some("dé"), "the default is decoded");
    let out = render_json_with(doc, &[("x", "q\"\\"), ("v/k", "\n"), ("n", "name")]).unwrap();
    assert_eq!(out, "{\n \"a\": \"\\n\\\"x q\\\"\\\\ \\n\",\n \"name\": \"'dé'\", \"b\": \"q\\\"\\\\\"}");
    // Each string decodes to what text mode renders (the escape module's property test says so
    // for every value).
    for (literal, text) in [(r#""\n\"x q\"\\ \n""#, "\n\"x q\"\\ \n"), (r#""q\"\\""#, "q\"\\")] {
        assert!(out.contains(literal), "{out}");
        assert_eq!(json::decode_string(literal).unwrap(), text);
    }
    // A missing reference inside a string is reported at its place in the document.
    let e = render_json_with("[\n  \"\\t${secret:nope}\"]", &[]).unwrap_err();
    assert_eq!(e.to_string().split(';').next().unwrap(), "1 reference has no value: ${secret:nope} at 2:6");
    // Malformed text inside a string is an error at its place too.
    let e = Template::parse_json("[\"a\",\n \"\\u0041 ${secret:x\"]").unwrap_err();
    assert!(matches!(&e, TemplateError::Malformed { at, .. } if *at == pos(2, 10)), "{e}");
}

#[test]
fn json_mode_refuses_references_outside_strings() {
    for (doc, at) in [
        ("{\"port\": ${secret:port}}", pos(1, 10)),
        ("[1,\n tresor://v/k]", pos(2, 2)),
        ("{\"a\": {{ tb_secret('x') }}}", pos(1, 7)),
        ("${workflow.secrets.x}", pos(1, 1)),
    ] {
        let e = Template::parse_json(doc).unwrap_err();
        assert!(matches!(&e, TemplateError::InvalidJson { at: a, .. } if *a == at), "{doc}: {e}");
        assert!(e.to_string().contains("outside a JSON string"), "{e}");
    }
}

#[test]
fn text_mode_refuses_json_reference_objects() {
    let e = Template::parse("curl -d '{\"vault\": \"api\", \"key\": \"tok\"}'").unwrap_err();
    assert!(matches!(&e, TemplateError::Malformed { at, .. } if *at == pos(1, 10)), "{e}");
    assert!(e.to_string().contains("JSON documents only") && e.to_string().contains("--json-doc"), "{e}");
    // Also nested, escaped, or with a name that is not valid: it would be left as it is.
    for (text, at) in [
        ("x\n{\"a\": [ {\"key\":\"k\", \"\\u0076ault\": \"v\"} ]}", pos(2, 9)),
        ("{\"vault\": \"a.b\", \"key\": \"k\"}", pos(1, 1)),
        ("{ \"vault\": 1, \"key\": \"k\" }", pos(1, 1)),
    ] {
        let e = Template::parse(text).unwrap_err();
        assert!(matches!(&e, TemplateError::Malformed { at: a, .. } if *a == at), "{text}: {e}");
    }
    // Other objects, and text that only looks like one, pass through.
    for keep in [
        r#"{"vault": "v", "key": "k", "x": 1}"#,
        r#"{"vault": "v"}"#,
        r#"{"vault": "v", "key": "k""#,
        r#"{"a": {"vault": "v"}}"#,
        "{\"vault\" \"v\"}",
        "${other} {{ x }} {}",
    ] {
        assert_eq!(render_with(keep, &[]).unwrap(), keep);
    }
}

/// Checks that each `(text, at, why)` is refused by `parse` with an error at `at` (as `at_of`
/// finds it in the expected variant) whose message contains `why`; answers the messages.
fn refused(
    cases: &[(&str, Position, &str)],
    parse: impl Fn(&str) -> Result<(), TemplateError>,
    at_of: impl Fn(&TemplateError) -> Option<Position>,
) -> Vec<String> {
    let mut messages = Vec::new();
    for &(text, at, why) in cases {
        let e = parse(text).err().unwrap_or_else(|| panic!("{text:?} was accepted"));
        assert_eq!(at_of(&e), Some(at), "{text:?}: {e}");
        let msg = e.to_string();
        assert!(msg.contains(why), "{text:?}: {msg}");
        messages.push(msg);
    }
    messages
}

#[test]
fn json_errors() {
    let cases = [
        ("", pos(1, 1), "empty"),
        ("{\"a\": }", pos(1, 7), "expected a JSON value"),
        ("{\"a\" 1}", pos(1, 6), "':'"),
        ("[1,\n 2,,]", pos(2, 4), "expected a JSON value"),
        ("[1 2]", pos(1, 4), "',' or ']'"),
        ("{\"a\": 1} x", pos(1, 10), "after the end"),
        ("\"abc", pos(1, 5), "unterminated"),
        ("\"a\nb\"", pos(1, 3), "control character"),
        ("\"\\x\"", pos(1, 2), "unknown escape"),
        ("\"\\ud800\"", pos(1, 2), "surrogate"),
        ("\"\\u12\"", pos(1, 4), "hex"),
        ("01", pos(1, 2), "after the end"),
        ("1.", pos(1, 3), "digit"),
        ("-", pos(1, 2), "digit"),
        ("1e", pos(1, 3), "exponent"),
        ("tru", pos(1, 1), "expected a JSON value"),
        ("{1: 2}", pos(1, 2), "member name"),
        ("é", pos(1, 1), "'é'"),
    ];
    refused(
        &cases,
        |t| Template::parse_json(t).map(drop),
        |e| match e {
            TemplateError::InvalidJson { at, .. } => Some(*at),
            _ => None,
        },
    );
    let deep = "[".repeat(200) + &"]".repeat(200);
    assert!(Template::parse_json(&deep).unwrap_err().to_string().contains("nested deeper than 128"));
    let ok = "[".repeat(128) + &"]".repeat(128);
    assert!(Template::parse_json(&ok).is_ok());
}

#[test]
fn json_reference_errors() {
    let e = Template::parse_json("[\n {\"vault\": 1, \"key\": \"k\"}]").unwrap_err();
    assert!(matches!(&e, TemplateError::Malformed { at, .. } if *at == pos(2, 2)), "{e}");
    assert!(e.to_string().contains("both must be strings"), "{e}");
    let e = Template::parse_json(r#"{"vault": "a.b", "key": "k"}"#).unwrap_err();
    assert!(matches!(&e, TemplateError::InvalidName { .. }), "{e}");
    assert!(e.to_string().contains("invalid vault name \"a.b\""), "{e}");
    let e = Template::parse_json(r#"{"vault": "v", "key": "../x"}"#).unwrap_err();
    assert!(e.to_string().contains("'..'"), "{e}");
}

#[test]
fn json_strings_decode() {
    for (lit, want) in [
        (r#""""#, ""),
        (r#""a\"\\\/\b\f\n\r\t""#, "a\"\\/\u{8}\u{c}\n\r\t"),
        (r#""\u00e9\u65e5\ud83d\ude00""#, "é日😀"),
        ("\"é日😀\"", "é日😀"),
    ] {
        assert_eq!(json::decode_string(lit).unwrap(), want);
    }
}

// ---- positions ----

#[test]
fn positions_count_lines_and_characters() {
    let text = "héllo ${secret:a}\n日本 {{tb_secret('b')}}\n\n  😀😀tresor://v/c\r\n\t${workflow.secrets.d}";
    let t = Template::parse(text).unwrap();
    let at: Vec<Position> = t.references().iter().map(|r| r.position).collect();
    assert_eq!(at, [pos(1, 7), pos(2, 4), pos(4, 5), pos(5, 2)]);
    for r in t.references() {
        assert!(text[r.span.range()].starts_with(['$', '{', 't']));
    }
    assert_eq!(&text[t.references()[2].span.range()], "tresor://v/c");
}

#[test]
fn error_positions_across_lines() {
    let e = Template::parse("ok\nstill ok ${other}\n  日 ${secret:}").unwrap_err();
    assert!(matches!(&e, TemplateError::InvalidName { at, .. } if *at == pos(3, 5)), "{e}");
    assert_eq!(e.position(), Some(pos(3, 5)));
    assert!(
        e.to_string().starts_with("3:5: invalid name in reference `${secret:}`: invalid entry key \"\": it is empty"),
        "{e}"
    );
}

// ---- malformed and pass-through ----

#[test]
fn other_templating_passes_through() {
    for text in [
        "",
        "$",
        "${other}",
        "${ secret:x}",
        "$secret:x",
        "${secrets:x}",
        "${workflow.secret.x}",
        "${workflow.input.x}",
        "{{ other }}",
        "{{ tb_secret }}",
        "{{tb_secrets('x')}}",
        "{ {tb_secret('x')}}",
        "{{ tb_secretx('x') }}",
        "tb_secret('x')",
        "tresor:/v/k",
        "tresor:v/k",
        "TRESOR://v/k",
        "}}{{$$}{'\"",
        "héllo\n日本語 😀",
    ] {
        assert!(Template::parse(text).unwrap().references().is_empty(), "{text:?}");
        assert_eq!(render_with(text, &[]).unwrap(), text);
    }
    // A reference inside other templating is still found.
    assert_eq!(render_with("${other ${secret:x}}", &[("x", "1")]).unwrap(), "${other 1}");
    assert_eq!(render_with("$${secret:x}", &[("x", "1")]).unwrap(), "$1");
    assert_eq!(render_with("{{{tb_secret('x')}}}", &[("x", "1")]).unwrap(), "{'1'}");
}

#[test]
fn malformed_references_are_errors() {
    let cases: &[(&str, Position, &str)] = &[
        ("${secret:", pos(1, 1), "no closing `}`"),
        ("a ${secret:x\n}", pos(1, 3), "no closing `}`"),
        ("${workflow.secrets.x", pos(1, 1), "no closing `}`"),
        ("{{tb_secret('x'", pos(1, 1), "expected `,` or `)`"),
        ("{{tb_secret('x", pos(1, 1), "unterminated string"),
        ("{{tb_secret('x\n')}}", pos(1, 1), "unterminated string"),
        ("{{tb_secret(x)}}", pos(1, 1), "expected a quoted entry key"),
        ("{{tb_secret()}}", pos(1, 1), "expected a quoted entry key"),
        ("{{tb_secret('x',)}}", pos(1, 1), "expected a quoted default"),
        ("{{tb_secret('x', 'a', 'b')}}", pos(1, 1), "expected `)`"),
        ("{{tb_secret('x')}", pos(1, 1), "expected `}}`"),
        ("{{tb_secret('x') }x", pos(1, 1), "expected `}}`"),
        ("{{tb_secret('x', 'a\\qb')}}", pos(1, 1), "unknown escape"),
        ("x\n tresor://", pos(2, 2), "path is empty"),
        ("tresor:// v/k", pos(1, 1), "path is empty"),
        ("tresor://vault", pos(1, 1), "needs at least a vault and a key"),
        ("tresor://v/k#", pos(1, 1), "version number"),
        ("tresor://v/k#x", pos(1, 1), "version number"),
        ("tresor://v/k#0", pos(1, 1), "from 1 up"),
        ("tresor://v/k#99999999999999999999999", pos(1, 1), "version number"),
    ];
    let messages = refused(
        cases,
        |t| Template::parse(t).map(drop),
        |e| match e {
            TemplateError::Malformed { at, .. } => Some(*at),
            _ => None,
        },
    );
    for msg in messages {
        assert!(msg.contains("write "), "says what to do: {msg}");
    }
}

#[test]
fn invalid_names_are_errors() {
    for (text, why) in [
        ("${secret:}", "empty"),
        ("${secret: x}", "' '"),
        ("${workflow.secrets.a..b}", "'..'"),
        ("{{tb_secret('')}}", "empty"),
        ("{{tb_secret('a//b')}}", "empty segment"),
        ("tresor://v/", "empty"),
        ("tresor://v/k/", "empty segment"),
        ("tresor://v//k", "empty segment"),
        ("tresor://v/a..b", "'..'"),
        ("tresor://_v/k", "start with a letter"),
        ("tresor://v.x/k", "'.'"),
    ] {
        let e = Template::parse(text).unwrap_err();
        assert!(matches!(&e, TemplateError::InvalidName { at, .. } if *at == pos(1, 1)), "{text:?}: {e}");
        assert!(e.to_string().contains(why), "{text:?}: {e}");
        assert!(e.to_string().contains("fix the name"), "{e}");
    }
    let e = Template::parse(&format!("${{secret:{}}}", "k".repeat(300))).unwrap_err();
    assert!(e.to_string().contains("limit is 256"), "{e}");
    assert!(e.to_string().len() < 400, "long names are cut in messages: {e}");
}

// ---- missing, denied, binary ----

#[test]
fn missing_lists_all_sorted_by_position() {
    let text = "${secret:a}\n  ${secret:gone1} {{tb_secret('gone2')}} {{tb_secret('gone3', 'd')}}\ntresor://v/gone4 ${secret:gone1}";
    let e = render_with(text, &[("a", "A")]).unwrap_err();
    let TemplateError::Missing { refs } = &e else { panic!("{e}") };
    let listed: Vec<String> = refs.iter().map(ToString::to_string).collect();
    assert_eq!(
        listed,
        [
            "${secret:gone1} at 2:3",
            "{{tb_secret('gone2')}} at 2:19",
            "tresor://v/gone4 at 3:1",
            "${secret:gone1} at 3:18"
        ]
    );
    assert_eq!(e.to_string(), "4 references have no value: ${secret:gone1} at 2:3, {{tb_secret('gone2')}} at 2:19, tresor://v/gone4 at 3:1, ${secret:gone1} at 3:18; store the missing entries (check the environment, vault and credential mappings) or give a default");
    let e = render_with("x ${secret:b}", &[]).unwrap_err();
    assert!(e.to_string().starts_with("1 reference has no value: ${secret:b} at 1:3;"), "{e}");
}

#[test]
fn errors_never_show_values() {
    let text = "${secret:a} ${secret:b} {{tb_secret('c', 'the-default')}} ${secret:bin}";
    let e = render(text, &Options::new(), |l| match l.key.as_str() {
        "a" => Some(b"hunter2".to_vec()),
        "bin" => Some(vec![0xff, 0xfe]),
        _ => None,
    })
    .unwrap_err();
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains("hunter2") && !shown.contains("the-default"), "{shown}");
        assert!(shown.contains("${secret:b}"), "{shown}");
    }
    // Binary values are reported (all of them) once nothing is missing.
    let e = render(text, &Options::new(), |l| match l.key.as_str() {
        "bin" | "b" => Some(vec![0xff]),
        _ => Some(b"ok".to_vec()),
    })
    .unwrap_err();
    let TemplateError::NotText { refs } = &e else { panic!("{e}") };
    assert_eq!(refs.iter().map(|r| r.at.column).collect::<Vec<_>>(), [13, 59]);
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

#[test]
fn allow_list_refuses_all_outside_before_resolving() {
    let text = "${secret:td.apikey} ${secret:pg.user}\n{{tb_secret('aws.key')}} tresor://prod/db/pw tresor://v/x";
    let t = Template::parse(text).unwrap();
    let opts = Options::new().allow(AllowList::new(["td.apikey", "pg.*", "prod/*"]));
    let e = t.plan(&opts).unwrap_err();
    let TemplateError::NotAllowed { refs } = &e else { panic!("{e}") };
    assert_eq!(
        refs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["{{tb_secret('aws.key')}} at 2:1", "tresor://v/x at 2:46"]
    );
    assert!(e.to_string().starts_with("2 references are not allowed by the allow-list:"), "{e}");
    assert!(e.to_string().contains("add their names"), "{e}");
    let mut called = false;
    let r = t.render(&opts, |_| {
        called = true;
        Some("v")
    });
    assert!(r.is_err() && !called, "nothing is resolved when a reference is refused");

    let ok = Options::new().allow(AllowList::new(["*"]));
    assert!(t.plan(&ok).is_ok());
    assert!(t.plan(&Options::new().allow(AllowList::new(["td.?pikey", "pg.user", "aws.*", "*/*"]))).is_ok());
    // JSON references match as VAULT/KEY.
    let j = Template::parse_json(r#"{"vault": "api", "key": "tok"}"#).unwrap();
    assert!(j.plan(&Options::new().allow(AllowList::new(["api/*"]))).is_ok());
    assert!(j.plan(&Options::new().allow(AllowList::new(["tok"]))).is_err());
}

#[test]
fn credential_mapping_applies_to_lookups() {
    let text = "${secret:pg.user} ${secret:pg.password} ${secret:pgx.user} tresor://v/pg.host";
    let map = CredentialMap::from_specs(["pg=db1"]).unwrap();
    let t = Template::parse(text).unwrap();
    // The allow-list sees the names as written.
    let opts = Options::new().map(map).allow(AllowList::new(["pg.*", "pgx.*", "v/*"]));
    let plan = t.plan(&opts).unwrap();
    let keys: Vec<String> = plan.lookups().iter().map(ToString::to_string).collect();
    assert_eq!(keys, ["db1.user", "db1.password", "pgx.user", "v/db1.host"]);
    let vals = values(&[("db1.user", "u"), ("db1.password", "p"), ("pgx.user", "x"), ("v/db1.host", "h")]);
    assert_eq!(plan.render(|l| vals.get(&l.to_string())).unwrap(), "u p x h");
    // A mapped key that is no longer valid is reported at the reference.
    let long = CredentialMap::from_specs([format!("pg={}", "d".repeat(250))]).unwrap();
    assert_invalid_name_at(&t.plan(&Options::new().map(long)).unwrap_err(), 1, 19, "${secret:pg.password}");
}

#[test]
fn lookups_are_deduplicated_and_resolved_once() {
    let text = "${secret:a} ${workflow.secrets.a} {{tb_secret('a')}} tresor://v/a tresor://v/a#1 tresor://v/a";
    let t = Template::parse(text).unwrap();
    let plan = t.plan(&Options::new()).unwrap();
    assert_eq!(plan.lookups().iter().map(ToString::to_string).collect::<Vec<_>>(), ["a", "v/a", "v/a#1"]);
    assert_eq!(plan.lookup_of(4).unwrap().to_string(), "v/a#1");
    assert!(plan.lookup_of(6).is_none());
    let mut calls = Vec::new();
    let out = plan
        .render(|l| {
            calls.push(l.to_string());
            Some(l.to_string())
        })
        .unwrap();
    assert_eq!(out, "a a 'a' v/a v/a#1 v/a");
    assert_eq!(calls, ["a", "v/a", "v/a#1"]);
}

#[test]
fn values_are_written_raw_where_raw() {
    let v = "x'\"\\${secret:y}\n{{tb_secret('z')}}";
    let out = render_with("<${secret:k}>", &[("k", v)]).unwrap();
    assert_eq!(out, format!("<{v}>"), "values are not re-scanned");
    assert_eq!(render_with("", &[]).unwrap(), "");
}

#[test]
fn error_messages_say_what_to_do() {
    let e = Template::parse("{{tb_secret('x'").unwrap_err();
    assert_eq!(
        e.to_string(),
        "1:1: malformed reference `{{tb_secret('x'`: expected `,` or `)` after the argument; write {{tb_secret('NAME')}} or {{tb_secret('NAME', 'default')}}"
    );
    let e = Template::parse_json("[}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "1:2: the template is not valid JSON: expected a JSON value, found character '}'; fix the document, or render it as plain text"
    );
}

// ---- escaping round trips ----

/// Reads a ClickHouse string literal the way ClickHouse does (for the escapes `sql_quote` emits).
fn clickhouse_unquote(lit: &str) -> Option<String> {
    let body = lit.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => return None, // an unescaped quote would end the literal early
            '\\' => out.push(match chars.next()? {
                '\\' => '\\',
                '\'' => '\'',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                '0' => '\0',
                'x' => {
                    let hex: String = chars.by_ref().take(2).collect();
                    char::from(u8::from_str_radix(&hex, 16).ok()?)
                }
                _ => return None,
            }),
            c => out.push(c),
        }
    }
    Some(out)
}

proptest::proptest! {
    #[test]
    fn sql_quote_round_trips(value in proptest::prelude::any::<String>()) {
        let quoted = sql_quote(&value);
        proptest::prop_assert_eq!(clickhouse_unquote(&quoted), Some(value));
        proptest::prop_assert!(!quoted.contains('\n'));
    }

    #[test]
    fn json_quote_round_trips(value in proptest::prelude::any::<String>()) {
        proptest::prop_assert_eq!(json::decode_string(&json_quote(&value)).unwrap(), value);
    }
}
