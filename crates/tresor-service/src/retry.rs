//! One rule for a writer that loses a race: read again and retry, a bounded number of times.
//!
//! A write without check-and-set reads the current version *v*, seals the value for *v+1* (the
//! version is part of the associated data) and writes with check-and-set on *v*. When another
//! writer got there first the store answers a version conflict, and the right move is to start
//! over from the read. The service's writes and the compatibility surfaces' "update what exists"
//! use this one loop, so the bound and the give-up rule are the same everywhere.

/// What one attempt of a write came to.
pub enum Attempt<T> {
    /// The write landed; its result.
    Done(T),
    /// Another writer changed what the attempt read before it wrote: read again and retry.
    Conflicted,
}

/// How many times a write retries when another writer got there first. Sixteen losses in a
/// row mean sustained contention on one entry; the caller is told to retry later.
pub const WRITE_RETRIES: usize = 16;

/// Runs `attempt` until it is [`Attempt::Done`] or fails, at most [`WRITE_RETRIES`] times;
/// after that many conflicts it answers `exhausted()`.
///
/// `attempt` is a closure that makes a new future each time, written
/// `move || async move { .. }` over references: an async closure (`async || ..`) would read
/// more naturally, but its futures cannot yet be proven `Send` for every lifetime, which axum's
/// handlers need.
pub async fn retry_on_conflict<T, E, F>(mut attempt: impl FnMut() -> F, exhausted: impl FnOnce() -> E) -> Result<T, E>
where
    F: std::future::Future<Output = Result<Attempt<T>, E>>,
{
    for _ in 0..WRITE_RETRIES {
        if let Attempt::Done(done) = attempt().await? {
            return Ok(done);
        }
    }
    Err(exhausted())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_conflicts_until_done_and_gives_up_after_the_bound() {
        let calls = std::cell::Cell::new(0);
        let calls = &calls;
        let done: Result<u32, &str> = retry_on_conflict(
            move || async move {
                calls.set(calls.get() + 1);
                Ok(if calls.get() < 3 { Attempt::Conflicted } else { Attempt::Done(7) })
            },
            || "exhausted",
        )
        .await;
        assert_eq!((done, calls.get()), (Ok(7), 3));

        calls.set(0);
        let gave_up: Result<u32, &str> = retry_on_conflict(
            move || async move {
                calls.set(calls.get() + 1);
                Ok(Attempt::Conflicted)
            },
            || "exhausted",
        )
        .await;
        assert_eq!((gave_up, calls.get()), (Err("exhausted"), WRITE_RETRIES));

        calls.set(0);
        let failed: Result<u32, &str> = retry_on_conflict(
            move || async move {
                calls.set(calls.get() + 1);
                Err("refused")
            },
            || "exhausted",
        )
        .await;
        assert_eq!((failed, calls.get()), (Err("refused"), 1), "a failure is not retried");
    }
}
