//! The dashboard's page frame and shared pieces, in maud: every interpolated string is escaped,
//! so a key, a description or a variable's value is always text, never markup.

use super::Signed;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};
use tresor_model::format_rfc3339;

/// The sections of the left sidebar: (path, label).
const SECTIONS: &[(&str, &str)] = &[
    ("/ui/entries", "Secret Keys Manager"),
    ("/ui/vaults", "Vaults"),
    ("/ui/environments", "Environments"),
    ("/ui/access", "Access"),
    ("/ui/audit", "Audit"),
];

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · tresor" }
        link rel="stylesheet" href="/ui/assets/ui.css";
        script src="/ui/assets/ui.js" defer {}
    }
}

/// A signed-in page: the sidebar (with who is signed in and sign-out), a title bar with an
/// optional action, and the content.
pub fn page(signed: &Signed, section: &str, title: &str, action: Option<Markup>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                div.shell {
                    nav.sidebar aria-label="Sections" {
                        a.brand href="/ui/entries" { "tresor" }
                        ul {
                            @for (path, label) in SECTIONS {
                                li { a href=(path) aria-current=[(*path == section).then_some("page")] { (label) } }
                            }
                        }
                        div.who {
                            span.muted { "Signed in as" }
                            strong data-testid="who" { (signed.ctx.caller.principal) }
                            span.muted { "workspace " (signed.ctx.caller.workspace) }
                            form method="post" action="/ui/logout" {
                                (csrf(signed))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                    main {
                        header.bar {
                            h1 { (title) }
                            @if let Some(action) = action { (action) }
                        }
                        (content)
                    }
                }
            }
        }
    }
}

/// The hidden CSRF field every change's form carries.
pub fn csrf(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.csrf); }
}

/// The sign-in page, with an error when a token was refused.
pub fn login(error: Option<&str>, status: StatusCode) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head("Sign in")) }
            body.center {
                form.card method="post" action="/ui/login" {
                    h1 { "Sign in to tresor" }
                    p.muted { "Paste a token. It stays on the server for this session only; the browser keeps just a session cookie." }
                    label for="token" { "Token" }
                    input #token type="password" name="token" autocomplete="off" required autofocus
                        aria-describedby=[error.map(|_| "login-error")];
                    @if let Some(error) = error { p #login-error .error role="alert" { (error) } }
                    button.primary type="submit" { "Sign in" }
                    p.muted { "No token? " code { "tresor token create user:NAME" } " makes one." }
                }
            }
        }
    };
    (status, markup).into_response()
}

/// A page that only says what went wrong and what to do.
pub fn problem(status: StatusCode, message: &str) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head("Problem")) }
            body.center {
                div.card role="alert" {
                    h1 { (status.canonical_reason().unwrap_or("Error")) }
                    p { (message) }
                    p { a href="/ui/entries" { "Back to the dashboard" } }
                }
            }
        }
    };
    (status, markup).into_response()
}

/// A time as RFC 3339 (UTC), in a `<time>` element.
pub fn when(millis: i64) -> Markup {
    let text = format_rfc3339(millis);
    html! { time datetime=(text) { (text.replace('T', " ")) } }
}

/// An empty state that teaches: what is missing and the CLI command that does the same.
pub fn empty(what: &str, command: &str) -> Markup {
    html! {
        div.empty {
            p { (what) }
            p.muted { "From a terminal: " code { (command) } }
        }
    }
}
