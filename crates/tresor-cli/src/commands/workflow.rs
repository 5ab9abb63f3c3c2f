//! The workflow verbs that the server carries out with the caller's grants: rendering a template
//! and sending a webhook. (`run` and `redact` are in `exec.rs`.)

use super::read_file_or_stdin;
use crate::args::RenderArgs;
use crate::backend::Backend;
use crate::error::exit;
use crate::error::{CliError, Result};
use crate::output::{self, outln};
use crate::target::Target;
use serde_json::json;
use std::path::Path;
use tresor_model::EnvName;

/// `webhook send FILE`: the server sends it, resolving its references with the caller's grants.
pub(crate) async fn webhook_send(backend: &dyn Backend, scope: &Target, file: String) -> Result<i32> {
    let text = read_file_or_stdin(&file, "the webhook request")?;
    let doc: tresor_client::WebhookBody = serde_json::from_str(&text).map_err(|e| {
        CliError::Usage(format!(
            "{file} is not a webhook request with method, url, headers and body (line {} column {})",
            e.line(),
            e.column()
        ))
    })?;
    let req = tresor_service::WebhookRequest {
        method: doc.method,
        url: doc.url,
        headers: doc.headers,
        body: doc.body,
        environment: match doc.environment {
            Some(e) => EnvName::new(e)?,
            None => scope.env.clone(),
        },
    };
    let answer = backend.send_webhook(req).await?;
    if scope.json {
        output::print_json(
            &json!({"status": answer.status, "headers": answer.headers.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(), "body": answer.body}),
        )?;
    } else {
        outln!("HTTP {}\n{}", answer.status, answer.body)?;
    }
    Ok(if (200..300).contains(&answer.status) { exit::OK } else { exit::INTERNAL })
}

/// `render FILE`: the template with its references resolved in one batch.
pub(crate) async fn render(backend: &dyn Backend, scope: &Target, args: RenderArgs) -> Result<i32> {
    let template = read_file_or_stdin(&args.file, "the template")?;
    // A .json file is a JSON document: values inside its strings must be JSON-escaped, or
    // a value holding `"` or `\` would break it.
    let named_json = Path::new(&args.file).extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let req = tresor_service::RenderRequest {
        template,
        json: args.json_doc || (named_json && !args.text),
        environment: scope.env.clone(),
        vault: scope.vault.clone(),
        allow: (!args.allow.is_empty()).then_some(args.allow),
        map: args.map,
    };
    let out = backend.render(req).await?;
    output::write_out(out.as_bytes())?;
    Ok(exit::OK)
}
