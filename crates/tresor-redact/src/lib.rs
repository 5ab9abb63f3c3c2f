//! Streaming redaction of secret values in process output and logs.
//!
//! A [`Redactor`] is built from the secret values a command may print. It rewrites a byte stream,
//! replacing every occurrence of a value, or of one of its common encodings, with a mask
//! (`[REDACTED]` by default). [`RedactingWriter`] wraps any [`std::io::Write`];
//! [`Redactor::redact`] handles a whole buffer at once.
//!
//! # What is masked
//! For each value at least [`RedactOptions::min_len`] bytes long (shorter ones would mask common
//! text; they are reported by [`Redactor::skipped`], empty ones ignored), its *forms*:
//! - the value itself;
//! - standard base64: the whole encoding with and without `=` padding, and, for each of the three
//!   byte alignments the value can have inside a larger base64 blob, the characters it fully
//!   determines;
//! - JSON string escaping as serde_json/JavaScript write it, and the variants with `\u001F` in
//!   upper case, `\/` for `/`, `\uXXXX` for all non-ASCII (Python, PHP), `\u003c` for `<>&` (Go);
//! - hex (base16), two digits per byte, all lower case or all upper case.
//!
//! and the *percent-encoding* of any form: text that a URL decoder reads as the form, where any
//! byte may be written as itself or as `%XX` with the hex digits in either case (`%2f`, `%2F`,
//! `%aB`: any mix, every byte or only some), and a space as `+`. Decoding starts where the
//! occurrence starts, as a URL decoder given that text would.
//!
//! The floor: an encoded form, or a percent-encoded occurrence, shorter than
//! `max(min_len, 4)` bytes is not masked. Below 4 bytes an encoding is ordinary text: with
//! `min_len` 1, the value `x` would otherwise mask every `e` (its base64 fragment), `78` (its hex)
//! or `eA`; its padded base64 `eA==` is still masked, and so is `x` itself.
//!
//! # Guarantees
//! - Every occurrence of every form is masked. Occurrences that overlap (share at least one byte)
//!   form one region replaced by a single mask: the longest match wins, and when two values overlap
//!   nothing of either stays visible (the union of their occurrences is masked). Occurrences that
//!   merely touch get one mask each.
//! - The output depends on the stream's bytes only, not on how they were split into
//!   [`Redactor::push`] calls.
//! - Not covered: the base64 character at each edge of a value embedded in a larger blob, which
//!   mixes 2 or 4 of the value's bits with a neighbour's; other encodings (base64url, hex with
//!   mixed case or separators, base64 or hex of a percent-encoding, case changes of the value);
//!   text mixing escapes with a plain `+` that stands for itself (`a+b%21` for `a+b!`: a decoder
//!   reads a space; every URL encoder escapes `+`) or with a plain `%` before two hex digits.
//!
//! # Streaming: the hold-back rule
//! [`Redactor::push`] emits everything except the tail that may still turn out to be part of a
//! masked region: the longest suffix of the pending data that, as is or percent-decoded, is a
//! proper prefix of some form (a `%` or `%X` at the very end counts as one byte still to come, so a
//! trailing `%` waits for the next byte). Emitting any of it could leak the start of a value
//! completed by the next chunk; holding back more (a whole line, or a fixed window) would delay
//! output for nothing, which interactive programs and progress bars notice. Data that ends with no
//! such prefix is emitted in full at once, with or without a newline. The held tail is shorter
//! than three times the longest form. When a masked region may still grow, its mask is emitted
//! right away and the bytes it covers are kept only to recognise the extension.
//!
//! # Implementation
//! The forms of all values are sorted into one table (`matcher.rs`): forms sharing a prefix are
//! adjacent, so a walk from a start position narrows the range of forms byte by byte, like a trie
//! walk, and gives the longest form starting there and whether the data so far is a proper prefix
//! of one. From the first `%` or `+` it meets, the walk also continues on the decoded bytes. Start
//! positions are visited in order, overlapping matches merged. The table takes one byte per form
//! byte: 10,000 values compile in milliseconds into a few MB, where an Aho-Corasick automaton took
//! a second and 200 MB (its build makes a full NFA of tens of bytes per form byte).
//!
//! Walking from every position would be slow with thousands of forms, so a filter picks the
//! candidates: with `q` = min(4, shortest form) and stride `k` = shortest form - `q` + 1 (at most
//! 16), one `q`-gram every `k` bytes lies wholly inside any occurrence of a form as is, at an offset
//! below `k` in the form. Those sampled grams are looked up in a bitset of the forms' grams at
//! offsets below `k`; only on a hit are the `k` start positions a sample covers checked against a
//! bitset of the forms' first grams, and walked. A percent-encoded occurrence escapes the filter
//! only if one of its first `k + q - 1` bytes starts an escape, `%XX` or `+` (otherwise those bytes
//! are a form's own); so the start positions up to `k + q - 2` bytes before each escape (found with
//! `memchr`) are checked one by one against the first-gram bitset, with their first gram read as is
//! and decoded. An escape of a byte no form holds (`+` when no form has a space) needs no such
//! check, nor does a `%` that starts no escape (`100%`), nor a `+` whose neighbours no form has
//! around a space (`+0000` in a timestamp, unless some form holds ` 0` at its start, `N ` at its
//! end or `N 0`: a masked occurrence decodes to two bytes or more, so its space has a neighbour
//! in it). Work
//! per push is linear in the input plus the held-back tail, plus the walks at candidates, each
//! bounded by three times the longest form (rare on ordinary text; text made of overlapping
//! near-matches can cost up to that per byte).
//!
//! # Memory hygiene
//! Values and their encoded forms are built in one zeroizing buffer, grown by copying into a new
//! one and wiping the old, sorted into the matcher's table and wiped; the table, the gram bitsets
//! and the held-back bytes are wiped on drop. `Debug` output never shows values.

mod encode;
mod matcher;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::encode::{FormArena, ENCODED_FLOOR};
use crate::matcher::{Matcher, Scan, Sink};

pub use crate::writer::RedactingWriter;

/// How values are masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedactOptions {
    /// Written in place of each masked region. Default `[REDACTED]`.
    pub mask: String,
    /// Values shorter than this many bytes are not masked, as they would mask common text (0 acts as
    /// 1). Default 4.
    pub min_len: usize,
}

impl Default for RedactOptions {
    fn default() -> Self {
        RedactOptions { mask: "[REDACTED]".to_owned(), min_len: 4 }
    }
}

/// The secret values could not be compiled: their forms take 4 GiB or more. Names no value.
#[derive(Debug)]
pub struct BuildError(());

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot compile the secret values for redaction: with their encodings they take 4 GiB or more")
    }
}

impl std::error::Error for BuildError {}

/// Masks secret values and their encodings in a byte stream; see the crate docs.
///
/// One `Redactor` redacts one stream at a time ([`push`](Self::push) ... [`finish`](Self::finish)).
/// [`fork`](Self::fork) gives another stream (stderr beside stdout) sharing the compiled values.
pub struct Redactor {
    shared: Arc<Shared>,
    /// Held-back stream bytes: a possible start of a masked region.
    pending: Zeroizing<Vec<u8>>,
    /// Scratch buffer joining `pending` with the start of the next input.
    joined: Zeroizing<Vec<u8>>,
    /// How many leading bytes of `pending` are already covered by an emitted mask.
    covered: usize,
}

struct Shared {
    /// `None` when there is nothing to mask.
    matcher: Option<Matcher>,
    mask: Vec<u8>,
    skipped: Vec<usize>,
}

impl Redactor {
    /// Compiles `values` (secret values as bytes) and their encoded forms.
    ///
    /// Values shorter than `options.min_len` are skipped, and their indices (in `values` order) are
    /// available from [`skipped`](Self::skipped) so the caller can say so once. Empty values are
    /// ignored, duplicates are fine.
    pub fn new<I>(values: I, options: &RedactOptions) -> Result<Self, BuildError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let min_len = options.min_len.max(1);
        let encoded_min = min_len.max(ENCODED_FLOOR);
        let mut skipped = Vec::new();
        let values: Vec<I::Item> = values.into_iter().collect();
        let mut masked = Vec::with_capacity(values.len());
        for (index, value) in values.iter().enumerate() {
            let value = value.as_ref();
            if value.is_empty() {
                continue;
            }
            if value.len() < min_len {
                skipped.push(index);
                continue;
            }
            masked.push(value);
        }
        // The forms' size is measured first (from the values' lengths, see `FormArena::measure`),
        // so that they are written once into one buffer of that size, never grown (each growth
        // is a copy of every form, and a peak of twice their size).
        let mut scratch = Zeroizing::new(Vec::new());
        let (mut total, mut longest) = (0, 0);
        for value in &masked {
            total += FormArena::measure(value, encoded_min, &mut scratch);
            longest = longest.max(value.len());
        }
        drop(scratch);
        let mut arena = FormArena::with_capacity(total + FormArena::room(longest));
        for value in &masked {
            arena.add_value(value, encoded_min);
        }
        let matcher = if arena.spans.is_empty() { None } else { Some(Matcher::new(&arena).ok_or(BuildError(()))?) };
        // The unsorted forms are wiped here; only the matcher's sorted copy remains.
        drop(arena);
        let shared = Arc::new(Shared { matcher, mask: options.mask.as_bytes().to_vec(), skipped });
        Ok(Redactor::with_shared(shared))
    }

    fn with_shared(shared: Arc<Shared>) -> Self {
        // Held bytes are a proper prefix of an occurrence, so these capacities are never exceeded:
        // no reallocation leaves a copy of them behind.
        let capacity = shared.matcher.as_ref().map_or(0, Matcher::max_span);
        Redactor {
            shared,
            pending: Zeroizing::new(Vec::with_capacity(capacity)),
            joined: Zeroizing::new(Vec::with_capacity(2 * capacity)),
            covered: 0,
        }
    }

    /// Indices of the values too short to be masked, in ascending order.
    pub fn skipped(&self) -> &[usize] {
        &self.shared.skipped
    }

    /// Number of distinct byte strings (values and encoded forms) that are masked.
    pub fn pattern_count(&self) -> usize {
        self.shared.matcher.as_ref().map_or(0, Matcher::patterns_len)
    }

    /// Approximate heap bytes used by the compiled values.
    pub fn memory_usage(&self) -> usize {
        self.shared.matcher.as_ref().map_or(0, Matcher::memory_usage)
    }

    /// A redactor for another stream, sharing the compiled values, with nothing pending.
    pub fn fork(&self) -> Self {
        Redactor::with_shared(Arc::clone(&self.shared))
    }

    /// Number of bytes currently held back (see the crate docs' hold-back rule).
    pub fn held_back(&self) -> usize {
        self.pending.len()
    }

    /// Redacts the next chunk of the stream, appending to `out` everything that can no longer be
    /// part of a masked region.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let Some(matcher) = self.shared.matcher.as_ref() else {
            out.extend_from_slice(input);
            return;
        };
        // Stream positions are counted from the first pending byte.
        let held = self.pending.len();
        let end = held + input.len();
        let sink = Output { pending: &self.pending, input, out, mask: &self.shared.mask };
        let mut scan = Scan { buf: &[], base: 0, last: false, done: self.covered, sink };
        let mut hold = None;
        if held > 0 {
            // Start positions in the held bytes, seen with enough of the input to decide them.
            self.joined.clear();
            self.joined.extend_from_slice(&self.pending);
            self.joined.extend_from_slice(&input[..input.len().min(matcher.max_span())]);
            scan.buf = &self.joined;
            hold = matcher.scan(&mut scan, 0..held);
            // A start is undecided only if the data runs out before the longest occurrence does.
            debug_assert!(hold.is_none() || self.joined.len() == end);
        }
        if hold.is_none() {
            (scan.buf, scan.base) = (input, held);
            hold = matcher.scan(&mut scan, 0..input.len());
        }
        let hold = hold.unwrap_or(end);
        let mut done = scan.done;
        if hold > done {
            scan.sink.plain(done, hold);
            done = hold;
        }
        self.covered = done - hold;
        if hold < held {
            self.pending.clear();
            self.pending.extend_from_slice(&self.joined[hold..]);
        } else {
            self.pending.clear();
            self.pending.extend_from_slice(&input[hold - held..]);
        }
    }

    /// Ends the stream: redacts and appends the held-back bytes. The redactor is then ready for a
    /// new stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(matcher) = self.shared.matcher.as_ref() {
            let sink = Output { pending: &self.pending, input: &[], out, mask: &self.shared.mask };
            let scan = Scan { buf: &self.pending, base: 0, last: true, done: self.covered, sink };
            matcher.scan_to_end(scan);
        }
        self.pending.clear();
        self.covered = 0;
    }

    /// Redacts a whole buffer, as one complete stream. Independent of any stream in progress.
    pub fn redact(&self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        self.redact_into(input, &mut out);
        out
    }

    /// Like [`redact`](Self::redact), appending to `out`.
    pub fn redact_into(&self, input: &[u8], out: &mut Vec<u8>) {
        let Some(matcher) = self.shared.matcher.as_ref() else {
            out.extend_from_slice(input);
            return;
        };
        let sink = Output { pending: &[], input, out, mask: &self.shared.mask };
        matcher.scan_to_end(Scan { buf: input, base: 0, last: true, done: 0, sink });
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("patterns", &self.pattern_count())
            .field("skipped", &self.shared.skipped.len())
            .field("held_back", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// Writes decided output: stream positions below `pending.len()` are in `pending`, the rest in
/// `input`.
struct Output<'a> {
    pending: &'a [u8],
    input: &'a [u8],
    out: &'a mut Vec<u8>,
    mask: &'a [u8],
}

impl Sink for Output<'_> {
    #[inline]
    fn plain(&mut self, from: usize, to: usize) {
        let held = self.pending.len();
        if from < held {
            self.out.extend_from_slice(&self.pending[from..to.min(held)]);
        }
        if to > held {
            self.out.extend_from_slice(&self.input[from.max(held) - held..to - held]);
        }
    }

    #[inline]
    fn mask(&mut self) {
        self.out.extend_from_slice(self.mask);
    }
}
