//! [`crate::Store::apply_batch`] on PostgreSQL: the batch's steps ([`crate::batch::BatchSteps`]) in
//! one transaction, with the same SQL and row locks as the single-step methods. The driver in
//! `src/batch.rs` runs them; a failing step drops the transaction uncommitted, so the steps before
//! it are rolled back.

crate::batch::batch_steps!(super::pool::PgTx<'_>, await);
