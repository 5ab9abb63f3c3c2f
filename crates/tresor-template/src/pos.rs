//! Byte spans and 1-based line:column positions.

use std::fmt;
use std::ops::Range;

/// A 1-based line and column. Lines are separated by `\n` only; columns count characters (Unicode
/// scalar values), not bytes, so `é` or `日` advance the column by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A byte range `start..end` into the template text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    /// The span as a range, for slicing the template text.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// Start offsets of every line, to turn byte offsets into positions.
pub(crate) struct LineIndex<'s> {
    src: &'s str,
    starts: Vec<usize>,
}

impl<'s> LineIndex<'s> {
    pub(crate) fn new(src: &'s str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i + 1));
        LineIndex { src, starts }
    }

    /// The position of byte `offset`, which must be on a character boundary.
    pub(crate) fn position(&self, offset: usize) -> Position {
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[line];
        let column = self.src.get(start..offset).map_or(offset - start, |s| s.chars().count()) + 1;
        Position { line: line + 1, column }
    }
}

/// A short, single-line excerpt of `src` from `start` (at most `max` characters, up to `end`), for
/// quoting malformed text in errors.
pub(crate) fn snippet(src: &str, start: usize, end: usize) -> String {
    const MAX: usize = 60;
    let text = src.get(start..end.min(src.len())).unwrap_or("");
    let line = text.split('\n').next().unwrap_or("");
    let mut out: String = line.chars().take(MAX).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}
