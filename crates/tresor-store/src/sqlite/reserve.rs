//! Space held back on the database's file system, so that reads go on when the disk fills up.
//!
//! Every read of a secret writes its audit record before it is answered (fail-closed), so on a
//! full disk reads would be refused along with writes. A server therefore keeps a file of
//! `size` bytes beside the database (`<database>-reserve`). The first time SQLite reports a full
//! disk, the file is deleted: its space goes to the audit records of reads, and from then on
//! every *change* is refused with [`StoreError::OutOfSpace`] before it touches the database, so
//! the freed space is not eaten by writes. Once the file system has room again for twice the
//! reserve (checked at most once a second, when a change is asked for), the file is made again
//! and changes are admitted: no restart is needed.
//!
//! The reserve buys time, not a guarantee: when reads have used it up, they are refused too
//! (507), never answered without their record. The operator sees the release in the log.

use crate::{Result, StoreError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a released reserve looks for free space when changes keep being asked for.
const RECHECK: Duration = Duration::from_secs(1);

pub(super) struct DiskReserve {
    path: PathBuf,
    size: u64,
    /// The file is gone: its space is for reads' records, and changes are refused.
    released: Arc<AtomicBool>,
    /// When a released reserve last looked for free space.
    last_check: Mutex<Option<Instant>>,
    /// The thread making the file at start, if any.
    #[cfg_attr(not(test), allow(dead_code))]
    making: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl DiskReserve {
    /// Holds `size` bytes in `<database>-reserve`, making (or completing) the file on a thread of
    /// its own, so that a server's start does not wait for it; a disk that has no room for it
    /// releases it, so changes are refused until it has.
    pub(super) fn hold(database: &Path, size: u64) -> Self {
        let mut path = database.as_os_str().to_owned();
        path.push("-reserve");
        let reserve = Self {
            path: path.into(),
            size,
            released: Arc::new(AtomicBool::new(false)),
            last_check: Mutex::new(None),
            making: Mutex::new(None),
        };
        if !std::fs::metadata(&reserve.path).is_ok_and(|m| m.len() == size) {
            let (path, released) = (reserve.path.clone(), reserve.released.clone());
            let spawned = std::thread::Builder::new().name("tresor-reserve".into()).spawn(move || {
                if let Err(e) = make(&path, size) {
                    tracing::warn!(
                        reserve = %path.display(),
                        "cannot set aside {size} bytes for the audit records of reads ({e}); changes are refused \
                         until the disk has room"
                    );
                    released.store(true, Ordering::Relaxed);
                }
            });
            match spawned {
                Ok(making) => *reserve.making.lock().unwrap_or_else(|p| p.into_inner()) = Some(making),
                Err(e) => {
                    tracing::warn!("cannot start making the disk reserve ({e}); none is held");
                    reserve.released.store(true, Ordering::Relaxed);
                }
            }
        }
        reserve
    }

    /// Whether the reserve is in place (changes are admitted).
    pub(super) fn is_held(&self) -> bool {
        !self.released.load(Ordering::Relaxed)
    }

    /// The disk is full: deletes the file so that reads' records have its space. Returns whether
    /// it was held (false when it had been released already).
    pub(super) fn release(&self) -> bool {
        if self.released.swap(true, Ordering::Relaxed) {
            return false;
        }
        *self.last_check.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        match std::fs::remove_file(&self.path) {
            Ok(()) => tracing::error!(
                reserve = %self.path.display(),
                "the database's disk is full: released the {} bytes set aside for the audit records of reads; \
                 changes are refused until twice that is free again",
                self.size
            ),
            Err(e) => tracing::error!(
                reserve = %self.path.display(),
                "the database's disk is full, and the space set aside for reads could not be released ({e}); \
                 changes are refused until space is freed"
            ),
        }
        true
    }

    /// Admits a change: `Ok` while the reserve is held, or once there is room to make it again
    /// (looked for at most once a second); else the change is refused before it is tried. The
    /// caller holds the writer connection, so no commit of this store runs meanwhile.
    pub(super) fn admit_change(&self) -> Result<()> {
        if self.is_held() {
            return Ok(());
        }
        let mut last = self.last_check.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < RECHECK) {
            return Err(self.refusal());
        }
        *last = Some(Instant::now());
        // Twice the reserve, so that making it leaves as much again for the writes it admits.
        let room = available_bytes(&self.path).is_some_and(|free| free >= self.size.saturating_mul(2));
        if !room {
            return Err(self.refusal());
        }
        match make(&self.path, self.size) {
            Ok(()) => {
                self.released.store(false, Ordering::Relaxed);
                tracing::info!(reserve = %self.path.display(), "the database's disk has room again: changes are admitted");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(reserve = %self.path.display(), "cannot set aside space for reads again ({e})");
                Err(self.refusal())
            }
        }
    }

    fn refusal(&self) -> StoreError {
        StoreError::OutOfSpace(format!(
            "changes are refused until {} bytes are free again; reads go on meanwhile",
            self.size.saturating_mul(2)
        ))
    }

    /// Waits until the file made by [`DiskReserve::hold`] is written.
    #[cfg(test)]
    fn wait_made(&self) {
        if let Some(making) = self.making.lock().unwrap().take() {
            making.join().unwrap();
        }
    }
}

/// Writes the file in full and flushes it, so its blocks are really taken (a sparse file or
/// `set_len` would take none); removed again if the disk cannot hold it.
fn make(path: &Path, size: u64) -> std::io::Result<()> {
    let written = (|| {
        let mut file = open_private(path)?;
        // Not zeros: a compressing file system would store those in nothing.
        let mut chunk = vec![0u8; 1 << 20];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for byte in chunk.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            file.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        file.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Bytes an unprivileged process may still write on the file system holding `path`.
#[cfg(unix)]
fn available_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string and `stat` a buffer of the right type, which
    // statvfs fills in full when it returns 0.
    let stat = unsafe {
        if libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Some(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// Without statvfs, the reserve is tried again and stays released if it does not fit.
#[cfg(not(unix))]
fn available_bytes(_: &Path) -> Option<u64> {
    Some(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserve_takes_its_size_on_disk_and_is_made_again_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tresor.db");
        let reserve = DiskReserve::hold(&db, 3 << 20);
        reserve.wait_made();
        let file = dir.path().join("tresor.db-reserve");
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 3 << 20);
        assert!(reserve.admit_change().is_ok());

        assert!(reserve.release());
        assert!(!file.exists(), "released: its space is free");
        assert!(!reserve.release(), "released once");
        let refused = reserve.admit_change().expect_err("refused right after the release");
        assert!(matches!(refused, StoreError::OutOfSpace(_)), "{refused:?}");

        // A second later there is room (this test's disk is not full): made again.
        *reserve.last_check.lock().unwrap() = Some(Instant::now() - RECHECK);
        reserve.admit_change().unwrap();
        assert!(reserve.is_held());
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 3 << 20);
    }

    #[test]
    fn a_reserve_bigger_than_the_free_space_is_not_made() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tresor.db");
        let reserve = DiskReserve::hold(&db, 1 << 20);
        reserve.wait_made();
        reserve.release();
        let free = available_bytes(&db).unwrap();
        let huge = DiskReserve { size: free, ..reserve };
        *huge.last_check.lock().unwrap() = None;
        assert!(huge.admit_change().is_err(), "twice the free space is not free");
        assert!(!dir.path().join("tresor.db-reserve").exists());
    }
}
