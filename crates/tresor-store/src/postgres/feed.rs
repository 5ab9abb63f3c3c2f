//! The change feed: one extra connection that `LISTEN`s on `tresor_changes` (filled by the
//! triggers of migration 0004) and forwards each notification as a [`ChangeEvent`].
//!
//! When the connection drops, the feed says [`ChangeEvent::Lost`], reconnects with a growing pause
//! (up to two seconds), and says [`ChangeEvent::Resumed`] with the change number it resumed at;
//! the service drops its caches on both. The task ends when the service drops the receiver.

use super::pg_message;
use crate::{Change, ChangeEvent, ChangeFeed};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_postgres::{AsyncMessage, Config, Notification};
use tokio_postgres_rustls::MakeRustlsConnect;

pub(super) const CHANNEL: &str = "tresor_changes";
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

pub(super) fn spawn(
    runtime: &tokio::runtime::Handle,
    mut config: Config,
    tls: MakeRustlsConnect,
    target: String,
) -> ChangeFeed {
    // Notice a silently dead peer (no FIN) within seconds, not hours.
    config.keepalives(true).keepalives_idle(Duration::from_secs(5));
    // Named apart from the pool's connections, for operators (and tests) looking at pg_stat_activity.
    config.application_name("tresor-feed");
    let (events, feed) = unbounded_channel();
    runtime.spawn(async move {
        let mut pause = FIRST_PAUSE;
        loop {
            let listened = listen(&config, &tls, &events).await;
            if events.is_closed() {
                return;
            }
            match listened {
                Listened::Resumed => pause = FIRST_PAUSE,
                Listened::Failed(why) => {
                    tracing::warn!(target: "tresor::store", database = %target, "change feed: {why}; retrying")
                }
            }
            if events.send(ChangeEvent::Lost).is_err() {
                return;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    });
    feed
}

enum Listened {
    /// It listened, then the connection ended.
    Resumed,
    /// It could not start listening.
    Failed(String),
}

/// Connects, listens, reports [`ChangeEvent::Resumed`], then forwards notifications until the
/// connection ends.
async fn listen(config: &Config, tls: &MakeRustlsConnect, events: &UnboundedSender<ChangeEvent>) -> Listened {
    let (client, mut connection) = match config.connect(tls.clone()).await {
        Ok(pair) => pair,
        Err(e) => return Listened::Failed(format!("connecting: {}", pg_message(&e))),
    };
    // The connection delivers notifications only while polled; this task polls it and hands them
    // on. It ends, closing `notes`, when the connection does.
    let (notes, mut received) = unbounded_channel::<Notification>();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(n) = message {
                if notes.send(n).is_err() {
                    return;
                }
            }
        }
    });
    if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
        return Listened::Failed(format!("LISTEN: {}", pg_message(&e)));
    }
    // Read after LISTEN took effect: every change numbered above this one will be notified.
    let seq = match client.query_one("SELECT seq FROM change_seq", &[]).await {
        Ok(row) => row.get::<_, i64>(0) as u64,
        Err(e) => return Listened::Failed(format!("reading change_seq: {}", pg_message(&e))),
    };
    if events.send(ChangeEvent::Resumed { seq }).is_err() {
        return Listened::Resumed;
    }
    while let Some(note) = received.recv().await {
        let Some((seq, change)) = parse(note.payload()) else {
            tracing::warn!(target: "tresor::store", "change feed: unreadable notification ignored");
            continue;
        };
        if events.send(ChangeEvent::Changed { seq, change }).is_err() {
            break;
        }
    }
    drop(client);
    Listened::Resumed
}

/// `"<seq>\t<kind>\t<workspace>[\t<vault>\t<key>]"`, as the trigger writes it. `None` only when
/// even the number is unreadable.
fn parse(payload: &str) -> Option<(u64, Change)> {
    let mut parts = payload.split('\t');
    let seq = parts.next()?.parse().ok()?;
    let kind = parts.next()?;
    let workspace = parts.next()?.to_owned();
    let change = match kind {
        "entry" => Change::Entry { workspace, vault: parts.next()?.to_owned(), key: parts.next()?.to_owned() },
        "access" => Change::Access { workspace },
        "structure" => Change::Structure { workspace },
        // Written by a newer tresor: whatever it is, caches must not trust what they hold.
        _ => Change::Everything,
    };
    Some((seq, change))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_as_the_trigger_writes_them() {
        assert_eq!(
            parse("7\tentry\tdefault\tapi\tdb/password"),
            Some((7, Change::Entry { workspace: "default".into(), vault: "api".into(), key: "db/password".into() }))
        );
        assert_eq!(parse("8\taccess\tdefault"), Some((8, Change::Access { workspace: "default".into() })));
        assert_eq!(parse("9\tstructure\tdefault"), Some((9, Change::Structure { workspace: "default".into() })));
        assert_eq!(parse("x\taccess\tdefault"), None);
        assert_eq!(parse("9\tsomething-new\tdefault"), Some((9, Change::Everything)));
        assert_eq!(parse("9\tentry\tdefault\tapi"), None);
    }
}
