//! Other platforms' command-line shapes, beside tresor's own verbs, so that a script ports by
//! changing the program name: Datatailr's `dt kv ...` ([`datatailr`]), Tailor Platform's
//! `tailor-sdk secret ...` ([`tailor`]) and Treasure Data's `td wf secrets ...`
//! ([`treasure_data`]).
//!
//! Each is a thin translation onto the functions tresor's own verbs use (`commands::write_entry`,
//! `commands::rm`, `commands::ls`, `commands::set_bulk`, the [`Backend`](crate::backend::Backend)), so
//! authorization, audit, limits, all-or-nothing deletes and output go through one place. What is
//! particular to the platforms lives here: where a value comes from.

pub mod datatailr;
pub mod tailor;
pub mod treasure_data;

use crate::error::Result;
use crate::input;
use std::sync::atomic::{AtomicBool, Ordering};
use tresor_model::SecretValue;

/// Whether the warning about a secret value given as an argument was printed in this process.
static WARNED_ABOUT_ARGUMENT: AtomicBool = AtomicBool::new(false);

/// Where a platform verb's value comes from. Datatailr's and Tailor's scripts pass values as
/// arguments, so these verbs accept them (tresor's own verbs refuse a secret's value there):
///
/// - `-` reads all of stdin (one trailing newline dropped);
/// - any other argument is the value; for a secret, stderr says once that arguments are visible
///   to `ps` and kept in shell history;
/// - no argument: a hidden prompt on a terminal, else stdin, as `tresor set`.
pub fn value_from(key: &str, arg: Option<String>, secret: bool) -> Result<SecretValue> {
    match arg {
        Some(dash) if dash == "-" => input::read_stdin(),
        Some(value) => {
            if secret {
                warn_argument_once();
            }
            Ok(SecretValue::from(value))
        }
        None => input::read_value(key, None),
    }
}

/// Tells, once per process, that a secret given as an argument is not private.
fn warn_argument_once() {
    if !WARNED_ABOUT_ARGUMENT.swap(true, Ordering::Relaxed) {
        eprintln!(
            "warning: a secret value given as an argument is visible to other users in `ps` while the command \
             runs and is kept in your shell history; pass `-` instead and pipe the value on stdin, or leave the \
             value out to be prompted for it"
        );
    }
}
