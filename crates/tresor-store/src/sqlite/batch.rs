//! [`crate::Store::apply_batch`] on SQLite: the batch's steps ([`crate::batch::BatchSteps`]) on the
//! writer's one transaction, with the same SQL as the single-step methods. The driver in
//! `src/batch.rs` runs them, so a failing step rolls back the steps before it.

use crate::{Result, StoreError};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

crate::batch::batch_steps!(rusqlite::Transaction<'_>);

/// Runs a batch future to completion on the calling thread, inside the writer's transaction.
/// SQLite's steps are plain calls that never wait, so the driver's future is ready at its first
/// poll; it is `async` only because PostgreSQL's steps are.
pub(super) fn run_ready<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => Err(StoreError::Backend("a SQLite batch step waited, which none may".into())),
    }
}
