//! Finding pattern occurrences: a gram filter picks candidate start positions, an anchored walk of
//! the Aho-Corasick trie at each candidate gives the longest pattern starting there.

use std::ops::Range;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::nfa::contiguous;
use aho_corasick::{Anchored, BuildError, MatchKind};
use zeroize::Zeroizing;

use crate::encode::Secret;

/// Longest gram (bytes) the filters index.
const MAX_GRAM: usize = 4;
/// Upper bound on the sampling stride: a longer stride indexes more grams per pattern, which fills
/// the filter and makes it less selective.
const MAX_STRIDE: usize = 16;

/// Receives the output decided by [`Matcher::scan`], in stream order.
pub(crate) trait Sink {
    /// Stream positions `from..to` are plain text.
    fn plain(&mut self, from: usize, to: usize);
    /// A masked region starts here (its extent is tracked by the scanner).
    fn mask(&mut self);
}

/// The compiled pattern set. Never holds the patterns as plain byte strings: they only exist inside
/// the automaton, and the filters keep a few hashed bits of each.
pub(crate) struct Matcher {
    nfa: contiguous::NFA,
    anchored_start: StateID,
    /// Per pattern ID: the pattern is a proper prefix of another pattern.
    extendable: Vec<bool>,
    max_len: usize,
    /// Gram length `q` = min(4, shortest pattern).
    gram: usize,
    /// Sampling stride `k`: every pattern is at least `k + q - 1` long, so with one sampled gram every
    /// `k` bytes, each occurrence (or prefix of `k + q - 1` bytes or more) wholly contains a sampled
    /// gram, at an offset below `k`.
    stride: usize,
    /// Grams at offsets `0..stride` of every pattern.
    sampled: GramSet,
    /// The first gram of every pattern.
    first: GramSet,
}

/// Result of walking the trie from one start position.
struct Walk {
    /// Length of the longest pattern starting there and lying inside the buffer; 0 for none.
    longest: usize,
    /// The rest of the buffer is a proper prefix of some pattern: more input may complete a match.
    open: bool,
}

impl Matcher {
    /// `patterns` must be sorted, deduplicated and not empty, with no empty pattern.
    pub(crate) fn new(patterns: &[Secret]) -> Result<Self, BuildError> {
        let nfa = contiguous::Builder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .prefilter(false)
            .build(patterns.iter().map(|p| p.as_slice()))?;
        let anchored_start =
            nfa.start_state(Anchored::Yes).expect("Aho-Corasick NFAs always support anchored searches");
        // In sorted order, a string that is a proper prefix of another is one of its successor.
        let extendable = (0..patterns.len())
            .map(|i| patterns.get(i + 1).is_some_and(|next| next.starts_with(&patterns[i])))
            .collect();
        let min_len = nfa.min_pattern_len();
        let gram = min_len.min(MAX_GRAM);
        let stride = (min_len - gram + 1).min(MAX_STRIDE);
        let mut sampled = GramSet::sized_for(patterns.len() * stride);
        let mut first = GramSet::sized_for(patterns.len());
        for p in patterns {
            first.insert(read_gram(p, gram));
            for offset in 0..stride {
                sampled.insert(read_gram(&p[offset..], gram));
            }
        }
        Ok(Matcher { max_len: nfa.max_pattern_len(), nfa, anchored_start, extendable, gram, stride, sampled, first })
    }

    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    pub(crate) fn patterns_len(&self) -> usize {
        self.nfa.patterns_len()
    }

    /// Visits, in order, the start positions `starts` of `buf` (stream position `base + i` for
    /// `buf[i]`): each occurrence is masked, merged into the current masked region when it overlaps
    /// it. `done` is the stream position up to which output has been produced (the end of the
    /// current masked region, if any).
    ///
    /// `buf` must extend at least `max_len` bytes past `starts.end`, or up to the end of the data
    /// received so far. Unless `last` (no more data will come), stops at the first start position
    /// whose match is still undecided, i.e. where the rest of the data is a proper prefix of a
    /// pattern, and returns it: output from there on must be held back.
    pub(crate) fn scan<S: Sink>(
        &self,
        buf: &[u8],
        base: usize,
        starts: Range<usize>,
        last: bool,
        done: &mut usize,
        sink: &mut S,
    ) -> Option<usize> {
        macro_rules! dispatch {
            ($($k:literal)*) => {
                match (self.gram, self.stride) {
                    $((4, $k) => self.scan_with::<4, $k, S>(buf, base, starts, last, done, sink),)*
                    // Shortest pattern below 4 bytes: q = its length, stride 1.
                    (3, _) => self.scan_with::<3, 1, S>(buf, base, starts, last, done, sink),
                    (2, _) => self.scan_with::<2, 1, S>(buf, base, starts, last, done, sink),
                    (1, _) => self.scan_with::<1, 1, S>(buf, base, starts, last, done, sink),
                    _ => unreachable!("stride is between 1 and MAX_STRIDE, 1 for grams under 4 bytes"),
                }
            };
        }
        const _: () = assert!(MAX_STRIDE == 16);
        dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }

    /// [`scan`](Self::scan) with gram length `Q` and stride `K` known at compile time.
    #[inline(always)]
    fn scan_with<const Q: usize, const K: usize, S: Sink>(
        &self,
        buf: &[u8],
        base: usize,
        starts: Range<usize>,
        last: bool,
        done: &mut usize,
        sink: &mut S,
    ) -> Option<usize> {
        /// Samples looked up together, before any branch.
        const BLOCK: usize = 8;
        let Range { start: mut s, end } = starts;
        let visit_sampled = |s: usize, done: &mut usize, sink: &mut S| -> Option<usize> {
            for c in s..(s + K).min(end) {
                if self.first.contains(gram::<Q>(buf, c)) {
                    if let Some(hold) = self.visit(buf, base, c, last, done, sink) {
                        return Some(hold);
                    }
                }
            }
            None
        };
        // Start positions s..s+K are covered by the sample at s+K-1, whose gram must fit in `buf`.
        while s + BLOCK * K <= end && s + BLOCK * K + Q - 1 <= buf.len() {
            let window = &buf[s..s + BLOCK * K + Q - 1];
            let mut hits = 0u32;
            for i in 0..BLOCK {
                hits |= u32::from(self.sampled.contains(gram::<Q>(window, i * K + K - 1))) << i;
            }
            while hits != 0 {
                let i = hits.trailing_zeros() as usize;
                hits &= hits - 1;
                if let Some(hold) = visit_sampled(s + i * K, done, sink) {
                    return Some(hold);
                }
            }
            s += BLOCK * K;
        }
        while s < end && s + K + Q - 1 <= buf.len() {
            if self.sampled.contains(gram::<Q>(buf, s + K - 1)) {
                if let Some(hold) = visit_sampled(s, done, sink) {
                    return Some(hold);
                }
            }
            s += K;
        }
        // The last few start positions, too close to the end of `buf` for a sample.
        for c in s..end {
            if c + Q <= buf.len() && !self.first.contains(gram::<Q>(buf, c)) {
                continue;
            }
            if let Some(hold) = self.visit(buf, base, c, last, done, sink) {
                return Some(hold);
            }
        }
        None
    }

    #[inline]
    fn visit<S: Sink>(
        &self,
        buf: &[u8],
        base: usize,
        c: usize,
        last: bool,
        done: &mut usize,
        sink: &mut S,
    ) -> Option<usize> {
        let walk = self.walk(&buf[c..]);
        let pos = base + c;
        if walk.longest > 0 {
            let end = pos + walk.longest;
            if pos < *done {
                // Overlaps the current masked region: extend it, no second mask.
                *done = end.max(*done);
            } else {
                sink.plain(*done, pos);
                sink.mask();
                *done = end;
            }
        }
        (walk.open && !last).then_some(pos)
    }

    /// Anchored walk of the trie along `hay`.
    #[inline]
    fn walk(&self, hay: &[u8]) -> Walk {
        let nfa = &self.nfa;
        let mut sid = self.anchored_start;
        let mut longest = 0;
        let mut longest_extendable = false;
        for (i, &byte) in hay.iter().enumerate() {
            sid = nfa.next_state(Anchored::Yes, sid, byte);
            if nfa.is_special(sid) {
                if nfa.is_dead(sid) {
                    return Walk { longest, open: false };
                }
                if nfa.is_match(sid) {
                    // A leftmost automaton's match state carries only its own pattern; a non-match
                    // state may inherit a shorter one through its failure link (a match that does not
                    // start here), recognisable by its length.
                    let pid = nfa.match_pattern(sid, 0);
                    if nfa.pattern_len(pid) == i + 1 {
                        longest = i + 1;
                        longest_extendable = self.extendable[pid.as_usize()];
                    }
                }
            }
        }
        // Still inside the trie at the end of the data: undecided unless `hay` is a whole pattern
        // that no longer pattern extends.
        Walk { longest, open: longest != hay.len() || longest_extendable }
    }

    /// Approximate heap bytes used.
    pub(crate) fn memory_usage(&self) -> usize {
        self.nfa.memory_usage() + self.extendable.len() + (self.sampled.bits.len() + self.first.bits.len()) * 8
    }
}

/// A set of grams with false positives (a one-hash Bloom filter).
struct GramSet {
    bits: Zeroizing<Vec<u64>>,
    shift: u32,
}

impl GramSet {
    fn sized_for(entries: usize) -> Self {
        // About 3% of the bits set: few false candidates, and still small enough for L2 cache.
        let slots = entries.saturating_mul(32).next_power_of_two().clamp(1 << 12, 1 << 22);
        GramSet { bits: Zeroizing::new(vec![0; slots / 64]), shift: 64 - slots.trailing_zeros() }
    }

    #[inline(always)]
    fn slot(&self, gram: u32) -> usize {
        (u64::from(gram).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    fn insert(&mut self, gram: u32) {
        let slot = self.slot(gram);
        self.bits[slot / 64] |= 1 << (slot % 64);
    }

    #[inline(always)]
    fn contains(&self, gram: u32) -> bool {
        let slot = self.slot(gram);
        (self.bits[slot / 64] >> (slot % 64)) & 1 != 0
    }
}

#[inline(always)]
fn gram<const Q: usize>(buf: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word[..Q].copy_from_slice(&buf[at..at + Q]);
    u32::from_le_bytes(word)
}

fn read_gram(bytes: &[u8], len: usize) -> u32 {
    let mut word = [0u8; 4];
    word[..len].copy_from_slice(&bytes[..len]);
    u32::from_le_bytes(word)
}
