//! Templates, plans and rendering.

use crate::escape::Quoting;
use crate::{AllowList, CredentialMap, Lookup, RefSite, Reference, Syntax, Target, TemplateError};
use std::collections::HashMap;
use std::fmt;
use tresor_model::EntryKey;

/// The environment predicate of [`Options::environments`].
type IsEnv<'a> = Box<dyn Fn(&str) -> bool + 'a>;

/// What [`Template::plan`] applies: an allow-list, credential mappings, and which `tresor://`
/// first segments are environments.
#[derive(Default)]
pub struct Options<'a> {
    allow: Option<AllowList>,
    map: CredentialMap,
    is_env: Option<IsEnv<'a>>,
}

impl<'a> Options<'a> {
    /// No allow-list (everything allowed), no mappings, no environments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses references whose [`name`](Reference::name) matches no pattern of `list`.
    pub fn allow(mut self, list: AllowList) -> Self {
        self.allow = Some(list);
        self
    }

    /// Applies credential mappings to every reference's key.
    pub fn map(mut self, map: CredentialMap) -> Self {
        self.map = map;
        self
    }

    /// Says which names are environments, for `tresor://` paths of 3+ segments (see
    /// [`TresorUri::resolve`](crate::TresorUri::resolve)). Without it, no name is.
    pub fn environments(mut self, is_env: impl Fn(&str) -> bool + 'a) -> Self {
        self.is_env = Some(Box::new(is_env));
        self
    }
}

impl fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("allow", &self.allow)
            .field("map", &self.map)
            .field("environments", &self.is_env.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

/// A parsed template: its text and the references in it, in order of position.
#[derive(Debug, Clone)]
pub struct Template<'s> {
    source: &'s str,
    references: Vec<Reference>,
}

impl<'s> Template<'s> {
    /// Parses text-mode references (everything but JSON objects). See the crate docs.
    pub fn parse(source: &'s str) -> Result<Self, TemplateError> {
        Ok(Template { source, references: crate::scan::parse_text(source)? })
    }

    /// Parses `source` as a JSON document: its `{"vault", "key"}` objects, and the text-mode
    /// references inside its strings (member names included), are references.
    pub fn parse_json(source: &'s str) -> Result<Self, TemplateError> {
        Ok(Template { source, references: crate::json::parse_json(source, true)? })
    }

    /// Parses `source` as a JSON document whose only references are its `{"vault", "key"}`
    /// objects; its strings are left as they are. For documents that carry data rather than a
    /// template (a webhook's body): text that came from elsewhere cannot become a reference
    /// there, as a `${secret:…}` in a forwarded message would in [`parse_json`](Self::parse_json).
    pub fn parse_json_objects(source: &'s str) -> Result<Self, TemplateError> {
        Ok(Template { source, references: crate::json::parse_json(source, false)? })
    }

    pub fn source(&self) -> &'s str {
        self.source
    }

    /// The references, sorted by position; they never overlap.
    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    /// Checks the allow-list (all refused references are reported at once), then turns every
    /// reference into a [`Lookup`], deduplicated.
    pub fn plan(&self, options: &Options<'_>) -> Result<Plan<'_>, TemplateError> {
        if let Some(allow) = &options.allow {
            let denied: Vec<RefSite> = self.references.iter().filter(|r| !allow.allows(&r.name())).map(site).collect();
            if !denied.is_empty() {
                return Err(TemplateError::NotAllowed { refs: denied });
            }
        }
        let no_env = |_: &str| false;
        let is_env: &dyn Fn(&str) -> bool = options.is_env.as_deref().unwrap_or(&no_env);
        let mut lookups: Vec<Lookup> = Vec::new();
        let mut index: HashMap<Lookup, usize> = HashMap::new();
        let mut slots = Vec::with_capacity(self.references.len());
        for r in &self.references {
            let invalid = |cause| TemplateError::InvalidName { at: r.position, reference: r.to_string(), cause };
            let mut lookup = match &r.target {
                Target::Name(key) => Lookup { env: None, vault: None, key: key.clone(), version: None },
                Target::Uri(uri) => uri.resolve(is_env).map_err(invalid)?,
                Target::VaultKey { vault, key } => {
                    Lookup { env: None, vault: Some(vault.clone()), key: key.clone(), version: None }
                }
            };
            let mapped = options.map.apply(lookup.key.as_str());
            if mapped != lookup.key.as_str() {
                lookup.key = EntryKey::new(mapped.as_ref()).map_err(invalid)?;
            }
            let slot = *index.entry(lookup.clone()).or_insert_with(|| {
                lookups.push(lookup);
                lookups.len() - 1
            });
            slots.push(slot);
        }
        Ok(Plan { template: self, lookups, slots })
    }

    /// [`plan`](Self::plan), then [`Plan::render`].
    pub fn render<V: AsRef<[u8]>>(
        &self,
        options: &Options<'_>,
        resolve: impl FnMut(&Lookup) -> Option<V>,
    ) -> Result<String, TemplateError> {
        self.plan(options)?.render(resolve)
    }
}

fn site(r: &Reference) -> RefSite {
    RefSite { reference: r.to_string(), at: r.position }
}

/// A template whose references are checked and turned into lookups, ready to render.
#[derive(Debug, Clone)]
pub struct Plan<'t> {
    template: &'t Template<'t>,
    lookups: Vec<Lookup>,
    /// For each reference, its index in `lookups`.
    slots: Vec<usize>,
}

impl<'t> Plan<'t> {
    /// The distinct entries to fetch, in order of first use: resolve them in one batch.
    pub fn lookups(&self) -> &[Lookup] {
        &self.lookups
    }

    /// The lookup each reference of the template uses, in the same order.
    pub fn lookup_of(&self, reference_index: usize) -> Option<&Lookup> {
        self.slots.get(reference_index).map(|&s| &self.lookups[s])
    }

    /// Renders the template. `resolve` is called once per distinct lookup and returns the value,
    /// or `None` when there is none. Every reference without a value (and without a default) is
    /// reported in one [`TemplateError::Missing`]; then every non-UTF-8 value in one
    /// [`TemplateError::NotText`]. On error nothing is rendered. The output is allocated once, at
    /// its final size, so no partial copy of a value is left in freed memory.
    pub fn render<V: AsRef<[u8]>>(
        &self,
        mut resolve: impl FnMut(&Lookup) -> Option<V>,
    ) -> Result<String, TemplateError> {
        let values: Vec<Option<V>> = self.lookups.iter().map(&mut resolve).collect();
        let refs = self.template.references();
        let mut texts: Vec<&str> = Vec::with_capacity(refs.len());
        let mut missing = Vec::new();
        let mut not_text = Vec::new();
        for (r, &slot) in refs.iter().zip(&self.slots) {
            match (&values[slot], &r.default) {
                (Some(v), _) => match std::str::from_utf8(v.as_ref()) {
                    Ok(s) => texts.push(s),
                    Err(_) => not_text.push(site(r)),
                },
                (None, Some(default)) => texts.push(default),
                (None, None) => missing.push(site(r)),
            }
        }
        if !missing.is_empty() {
            return Err(TemplateError::Missing { refs: missing });
        }
        if !not_text.is_empty() {
            return Err(TemplateError::NotText { refs: not_text });
        }
        let src = self.template.source();
        let replaced: usize = refs.iter().map(|r| r.span.end - r.span.start).sum();
        let added: usize = refs
            .iter()
            .zip(&texts)
            .map(|(r, t)| match r.in_json_string {
                false => quoting(r.syntax).len(t),
                true => quoting(r.syntax).len_in_json_string(t),
            })
            .sum();
        let size = src.len() - replaced + added;
        let mut out = String::with_capacity(size);
        let mut last = 0;
        for (r, text) in refs.iter().zip(&texts) {
            out.push_str(&src[last..r.span.start]);
            match r.in_json_string {
                false => quoting(r.syntax).write(&mut out, text),
                true => quoting(r.syntax).write_in_json_string(&mut out, text),
            }
            last = r.span.end;
        }
        out.push_str(&src[last..]);
        debug_assert_eq!(out.len(), size);
        Ok(out)
    }
}

fn quoting(syntax: Syntax) -> Quoting {
    match syntax {
        Syntax::Digdag | Syntax::Conductor | Syntax::Uri => Quoting::Raw,
        Syntax::Tinybird => Quoting::Sql,
        Syntax::Json => Quoting::Json,
    }
}

/// Parses `text` ([`Template::parse`]) and renders it in one go.
pub fn render<V: AsRef<[u8]>>(
    text: &str,
    options: &Options<'_>,
    resolve: impl FnMut(&Lookup) -> Option<V>,
) -> Result<String, TemplateError> {
    Template::parse(text)?.render(options, resolve)
}
