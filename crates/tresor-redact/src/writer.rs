//! [`RedactingWriter`]: redaction as a [`Write`] adapter.

use std::fmt;
use std::io::{self, Write};

use crate::Redactor;

/// Redacts everything written through it before passing it on to the inner writer.
///
/// [`flush`](Write::flush) passes on what has been decided and flushes the inner writer, but keeps
/// the held-back tail: a value may continue in the next write. [`finish`](Self::finish) ends the
/// stream and returns the inner writer. Dropping an unfinished writer finishes it, ignoring errors,
/// so no output is lost (as `BufWriter` does).
pub struct RedactingWriter<W: Write> {
    /// `None` only once `finish` has handed it back.
    inner: Option<W>,
    redactor: Redactor,
    /// Redacted output not yet accepted by `inner`.
    buf: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    /// Redacts with `redactor` (use [`Redactor::fork`] for a second stream).
    pub fn new(inner: W, redactor: Redactor) -> Self {
        RedactingWriter { inner: Some(inner), redactor, buf: Vec::new() }
    }

    /// The inner writer. Writing to it directly bypasses redaction.
    pub fn get_ref(&self) -> &W {
        self.inner.as_ref().expect("inner writer present until finish")
    }

    /// The redactor, e.g. to see how many bytes are held back.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Ends the stream: writes the held-back bytes, redacted, flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.redactor.finish(&mut self.buf);
        self.write_buffered()?;
        let mut inner = self.inner.take().expect("inner writer present until finish");
        inner.flush()?;
        Ok(inner)
    }

    /// Writes `buf` to the inner writer, keeping whatever it did not accept.
    fn write_buffered(&mut self) -> io::Result<()> {
        let inner = self.inner.as_mut().expect("inner writer present until finish");
        let mut written = 0;
        let result = loop {
            if written == self.buf.len() {
                break Ok(());
            }
            match inner.write(&self.buf[written..]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.buf.drain(..written);
        result
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.buf.is_empty() {
            self.write_buffered()?;
        }
        self.redactor.push(data, &mut self.buf);
        // `data` is accepted now; like `BufWriter`, a failure to pass it on surfaces at the next
        // write, flush or finish, with the output kept until then.
        let _ = self.write_buffered();
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_buffered()?;
        self.inner.as_mut().expect("inner writer present until finish").flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            self.redactor.finish(&mut self.buf);
            let _ = self.write_buffered();
            let _ = self.inner.as_mut().map(Write::flush);
        }
    }
}

impl<W: Write> fmt::Debug for RedactingWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedactingWriter")
            .field("redactor", &self.redactor)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}
