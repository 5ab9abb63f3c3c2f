//! tresor's template parser and renderer: finds references to stored secrets and variables in a
//! task template, with positions, and renders the template with their values. Pure: no I/O.
//!
//! # Flow
//!
//! 1. [`Template::parse`] (text) or [`Template::parse_json`] (a JSON document; or
//!    [`Template::parse_json_objects`], its objects only) finds the
//!    [`Reference`]s, each with its [`Syntax`], byte [`Span`] and 1-based line:column
//!    [`Position`] (columns count characters; lines end at `\n`).
//! 2. [`Template::plan`] applies the [`Options`]: the [`AllowList`], the [`CredentialMap`], and
//!    the `tresor://` environment rule, giving the distinct [`Lookup`]s to fetch in one batch.
//! 3. [`Plan::render`] takes the values (`None` for "no such entry") and writes the output, or
//!    returns one error listing every missing reference. [`render`] does all three steps
//!    (for JSON: `Template::parse_json(text)?.render(..)`).
//!
//! # Syntaxes (text mode)
//!
//! `NAME` is an entry key as [`tresor_model::EntryKey`] validates it (1–256 of letters, digits,
//! `_-./`, no empty `/` segment, no `..`); an invalid one is a [`TemplateError::InvalidName`].
//!
//! | syntax | grammar | rendered as |
//! | --- | --- | --- |
//! | Digdag | `${secret:NAME}` — NAME runs to the first `}` on the same line | the value, raw |
//! | Conductor | `${workflow.secrets.NAME}` — same rule | the value, raw |
//! | Tinybird | `{{` ws `tb_secret` ws `(` ws STR ws [`,` ws STR ws] `)` ws `}}` | [`sql_quote`] of the value, or of the default |
//! | tresor | `tresor://` PATH [`#` VERSION] | the value, raw |
//!
//! * Tinybird: `ws` is any run of spaces, tabs, `\r`, `\n`. `STR` is `'…'` or `"…"` on one line,
//!   with escapes `\\ \' \" \n \r \t` (any other `\x` is an error). The second string is the
//!   default, used when the entry has no value. Values are quoted as ClickHouse string literals:
//!   `'…'` with `\` → `\\`, `'` → `\'`, `\n \r \t \0` escaped by name and other control
//!   characters as `\xHH`.
//! * tresor: PATH is the longest run of key characters (letters, digits, `_-./`) after
//!   `tresor://`, so the reference ends at the first other character (whitespace, quotes, `)`,
//!   `]`, `}`, `,`, `;`, `<`, `>`, `:` …, or the end). A trailing `.` is part of the key. PATH
//!   needs at least `VAULT/KEY`; an optional `#VERSION` (digits, ≥ 1) pins a version.
//!   Environment rule: a PATH of three or more segments whose first segment the caller's
//!   [`Options::environments`] predicate accepts is `ENV/VAULT/KEY`; otherwise it is
//!   `VAULT/KEY` in the current environment, and the key may contain `/`. So `tresor://prod/db/pw`
//!   means vault `db` in environment `prod` when `prod` is an environment, and key `db/pw` in
//!   vault `prod` otherwise; write `tresor://ENV/prod/db/pw` to reach the latter explicitly.
//!
//! # JSON mode
//!
//! [`Template::parse_json`] validates the whole document as JSON (RFC 8259; nesting up to 128).
//! An object whose members are exactly `"vault"` and `"key"` (in any order, names compared after
//! unescaping) is a reference: both values must be strings (otherwise it is
//! [`TemplateError::Malformed`]), VAULT a valid [`tresor_model::VaultName`], KEY a valid key. Its
//! byte span is replaced by the value as a JSON string ([`json_quote`]); every other byte of the
//! document is kept as is (no reformatting).
//!
//! Every string of the document (member names too) is also scanned for the text-mode syntaxes,
//! in its decoded text (what a reader of the document sees: `\"` is `"`, `\u0024` is `$`), with
//! errors and positions given where the text stands in the document. Such a reference is
//! rendered as in text mode (raw, or a SQL literal for `tb_secret`) and then escaped for the
//! string it stands in, so the string decodes to exactly the text rendering and the document
//! stays valid JSON whatever the value holds. A reference outside any string
//! (`{"port": ${secret:port}}`) is [`TemplateError::InvalidJson`]: no value can be written
//! there safely. [`Template::parse_json_objects`] finds the objects only, for documents that
//! carry data rather than a template.
//!
//! # Malformed text
//!
//! Only text that clearly starts a tresor reference — `${secret:`, `${workflow.secrets.`,
//! `{{` ws `tb_secret` ws `(`, `tresor://` — is parsed, and if it does not complete a reference it
//! is an error ([`TemplateError::Malformed`] or [`TemplateError::InvalidName`], with line:column).
//! Everything else passes through byte for byte, including other templating such as `${other}`,
//! `$`, `{{ other }}` or `{{ tb_secret }}`. There is no escape for writing an opener literally.
//!
//! No reference is silently left in the output: in text mode, a JSON object that would be a
//! `{"vault", "key"}` reference in a JSON document is [`TemplateError::Malformed`], saying to
//! render the template as JSON.
//!
//! # Allow-list and credential mappings
//!
//! With an [`AllowList`], a reference whose [`Reference::name`] (the key as written; for
//! `tresor://` the PATH as written; for JSON `VAULT/KEY`) matches no pattern is refused, before
//! anything is resolved; all refused references are listed in one [`TemplateError::NotAllowed`].
//! Patterns are globs: `*` matches any run of characters including `/` and `.`, `?` exactly one
//! character ([`glob_match`]). The allow-list sees names before credential mapping.
//!
//! A [`CredentialMap`] (`pg=db1`) then rewrites each lookup's key whose part before the first `.`
//! is `pg`: `pg.user` is read from `db1.user`.
//!
//! # Errors and values
//!
//! [`TemplateError`] messages give the problem, the reference (its canonical text, never a value
//! or a Tinybird default) with line:column, and what to do. `Debug` of a [`Reference`] redacts the
//! default. Values must be UTF-8 ([`TemplateError::NotText`] otherwise).
//!
//! ```
//! use tresor_template::{Options, Template};
//!
//! let t = Template::parse("psql -U ${secret:pg.user} -c \"{{ tb_secret('pg.db', 'main') }}\"").unwrap();
//! let plan = t.plan(&Options::new()).unwrap();
//! assert_eq!(plan.lookups().len(), 2);
//! let out = plan.render(|l| (l.key.as_str() == "pg.user").then_some("alice")).unwrap();
//! assert_eq!(out, "psql -U alice -c \"'main'\"");
//! ```

mod error;
mod escape;
mod glob;
mod json;
mod mapping;
mod pos;
mod reference;
mod render;
mod scan;

pub use error::{RefSite, TemplateError};
pub use escape::{json_quote, sql_quote};
pub use glob::{glob_match, AllowList};
pub use mapping::{CredentialMap, MapError};
pub use pos::{Position, Span};
pub use reference::{Lookup, Reference, Syntax, Target, TresorUri};
pub use render::{render, Options, Plan, Template};

#[cfg(test)]
mod tests;
