//! Finding occurrences: a gram filter picks candidate start positions, a walk of the sorted form
//! table at each candidate gives the longest form starting there, read as is or percent-decoded.

use std::ops::Range;

use zeroize::Zeroizing;

use crate::encode::{FormArena, ENCODED_FLOOR};

/// Longest gram (bytes) the filters index.
const MAX_GRAM: usize = 4;
/// Upper bound on the sampling stride: a longer stride indexes more grams per form, which fills
/// the filter and makes it less selective.
const MAX_STRIDE: usize = 16;
/// From this many forms on, [`FormTable`] indexes them by their first two bytes (512 KiB).
const PAIR_INDEX_FROM: usize = 4096;
/// A percent-decoded byte takes at most this many bytes of text (`%XX`).
const MAX_ESCAPE: usize = 3;

/// Receives the output decided by [`Matcher::scan`], in stream order.
pub(crate) trait Sink {
    /// Stream positions `from..to` are plain text.
    fn plain(&mut self, from: usize, to: usize);
    /// A masked region starts here (its extent is tracked by the scanner).
    fn mask(&mut self);
}

/// The compiled forms. They exist once, in [`FormTable`]'s wiped buffer; the filters keep a few
/// hashed bits of each.
pub(crate) struct Matcher {
    forms: FormTable,
    /// Longest text an occurrence can take: the longest form with every byte percent-encoded.
    max_span: usize,
    /// Gram length `q` = min(4, shortest form).
    gram: usize,
    /// Sampling stride `k`: every form is at least `k + q - 1` long, so with one sampled gram every
    /// `k` bytes, each occurrence (or prefix of `k + q - 1` bytes or more) wholly contains a sampled
    /// gram, at an offset below `k`.
    stride: usize,
    /// Grams at offsets `0..stride` of every form.
    sampled: GramSet,
    /// The first gram of every form.
    first: GramSet,
    /// The bytes that occur in some form.
    form_bytes: ByteSet,
    /// Where forms hold a space, what is around it: see [`Matcher::plus_may_be_inside`].
    around_spaces: GramSet,
}

/// A set of byte values.
struct ByteSet([u64; 4]);

impl ByteSet {
    fn of(bytes: &[u8]) -> Self {
        // A flag per byte value first: each byte is one independent store, where setting bits
        // made each byte wait for the previous one's read-modify-write of the same word (the
        // forms of 10,000 values are about 4 MB: a quarter of compiling them went here).
        let mut seen = [false; 256];
        for &b in bytes {
            seen[usize::from(b)] = true;
        }
        let mut set = ByteSet([0; 4]);
        for b in (0..=255u8).filter(|&b| seen[usize::from(b)]) {
            set.0[usize::from(b >> 6)] |= 1 << (b & 63);
        }
        set
    }

    #[inline(always)]
    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] >> (b & 63) & 1 != 0
    }
}

/// The state of one call to [`Matcher::scan`]: the data, where it sits in the stream, and the
/// output decided so far.
pub(crate) struct Scan<'a, S> {
    /// `buf[i]` is stream position `base + i`.
    pub(crate) buf: &'a [u8],
    pub(crate) base: usize,
    /// No more data will come: no start position is left undecided.
    pub(crate) last: bool,
    /// Stream position up to which output has been produced (the end of the current masked
    /// region, if any).
    pub(crate) done: usize,
    pub(crate) sink: S,
}

/// Result of walking the forms from one start position.
#[derive(Clone, Copy)]
struct Walk {
    /// Length (in the text) of the longest occurrence starting there and lying inside the buffer;
    /// 0 for none.
    longest: usize,
    /// The rest of the buffer is a proper prefix of some occurrence: more input may complete one.
    open: bool,
}

impl Walk {
    fn or(self, other: Walk) -> Walk {
        Walk { longest: self.longest.max(other.longest), open: self.open || other.open }
    }
}

/// The forms, sorted and deduplicated, one after another in a buffer wiped on drop. Forms that
/// share a prefix are adjacent, so the forms starting with what has been read so far are one
/// range: walking the table narrows it byte by byte, as a trie walk would, with one byte of memory
/// per form byte (an automaton takes tens).
struct FormTable {
    bytes: Zeroizing<Vec<u8>>,
    /// Form `i` is `bytes[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<u32>,
    /// Forms `by_first[b]..by_first[b + 1]` start with byte `b`.
    by_first: Box<[u32; 257]>,
    /// `by_pair[(a << 8) | b]`: the range of the forms that start with bytes `a`, `b`, so that the
    /// second step of a walk needs no binary search over thousands of forms. Empty for fewer
    /// forms than [`PAIR_INDEX_FROM`], whose binary searches are short anyway.
    by_pair: Vec<(u32, u32)>,
}

/// The forms sharing the first `depth` bytes read: `lo..hi`, never empty.
#[derive(Clone, Copy)]
struct Cursor {
    lo: usize,
    hi: usize,
    depth: usize,
}

impl FormTable {
    /// Sorts and deduplicates the forms into a table of their own; `None` if they take 4 GiB or
    /// more.
    fn new(arena: &FormArena) -> Option<Self> {
        let form = |i: usize| &arena.bytes[arena.spans[i].clone()];
        // Sorting by the first eight bytes settles nearly every comparison without reading the
        // forms again (a zero-padded big-endian prefix orders like the bytes themselves).
        let mut keyed: Vec<(u64, u32)> = (0..arena.spans.len())
            .map(|i| {
                let mut key = [0u8; 8];
                let bytes = form(i);
                let n = bytes.len().min(8);
                key[..n].copy_from_slice(&bytes[..n]);
                (u64::from_be_bytes(key), i as u32)
            })
            .collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| form(a.1 as usize).cmp(form(b.1 as usize))));
        keyed.dedup_by(|a, b| a.0 == b.0 && form(a.1 as usize) == form(b.1 as usize));
        let total: usize = keyed.iter().map(|&(_, i)| form(i as usize).len()).sum();
        u32::try_from(total).ok()?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(total));
        let mut ends = Vec::with_capacity(keyed.len());
        let mut by_first = Box::new([0u32; 257]);
        for &(_, i) in &keyed {
            let form = form(i as usize);
            // Counts per first byte, summed below into range starts.
            by_first[usize::from(form[0]) + 1] += 1;
            bytes.extend_from_slice(form);
            ends.push(bytes.len() as u32);
        }
        for b in 1..257 {
            by_first[b] += by_first[b - 1];
        }
        let indexed = ends.len() >= PAIR_INDEX_FROM;
        let mut by_pair = if indexed { vec![(0u32, 0u32); 1 << 16] } else { Vec::new() };
        let mut start = 0;
        for (i, &end) in ends.iter().enumerate().take_while(|_| indexed) {
            let form = &bytes[start..end as usize];
            start = end as usize;
            if let [a, b, ..] = *form {
                // Sorted: the forms sharing their first two bytes are one run.
                let range = &mut by_pair[(usize::from(a) << 8) | usize::from(b)];
                if range.0 == range.1 {
                    range.0 = i as u32;
                }
                range.1 = i as u32 + 1;
            }
        }
        Some(FormTable { bytes, ends, by_first, by_pair })
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    #[inline(always)]
    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1] as usize
        }
    }

    #[inline(always)]
    fn form_len(&self, i: usize) -> usize {
        self.ends[i] as usize - self.start(i)
    }

    fn form(&self, i: usize) -> &[u8] {
        &self.bytes[self.start(i)..self.ends[i] as usize]
    }

    fn root(&self) -> Cursor {
        Cursor { lo: 0, hi: self.len(), depth: 0 }
    }

    /// The forms that continue with `byte`, if any.
    #[inline(always)]
    fn step(&self, cursor: Cursor, byte: u8) -> Option<Cursor> {
        let Cursor { mut lo, hi, depth } = cursor;
        if depth == 0 {
            let (lo, hi) = (self.by_first[usize::from(byte)] as usize, self.by_first[usize::from(byte) + 1] as usize);
            return (lo < hi).then_some(Cursor { lo, hi, depth: 1 });
        }
        if depth == 1 && !self.by_pair.is_empty() {
            let first = self.bytes[self.start(lo)];
            let (lo, hi) = self.by_pair[(usize::from(first) << 8) | usize::from(byte)];
            return (lo < hi).then_some(Cursor { lo: lo as usize, hi: hi as usize, depth: 2 });
        }
        // The form that ends here, if any, sorts first: it has no next byte.
        if self.form_len(lo) == depth {
            lo += 1;
        }
        let byte_at = |i: usize| self.bytes[self.start(i) + depth];
        if hi - lo <= 1 {
            return (lo < hi && byte_at(lo) == byte).then_some(Cursor { lo, hi, depth: depth + 1 });
        }
        let lo = partition_point(lo, hi, |i| byte_at(i) < byte);
        let hi = partition_point(lo, hi, |i| byte_at(i) <= byte);
        (lo < hi).then_some(Cursor { lo, hi, depth: depth + 1 })
    }

    /// The bytes read so far are a whole form.
    #[inline(always)]
    fn complete(&self, cursor: Cursor) -> bool {
        cursor.depth > 0 && self.form_len(cursor.lo) == cursor.depth
    }

    /// Some form is longer than the bytes read so far (and starts with them).
    #[inline(always)]
    fn extendable(&self, cursor: Cursor) -> bool {
        cursor.hi - cursor.lo > 1 || self.form_len(cursor.lo) > cursor.depth
    }

    fn memory_usage(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * 4 + 257 * 4 + self.by_pair.len() * 8
    }
}

/// The first index in `lo..hi` where `below` is false (`below` must be true, then false).
#[inline(always)]
fn partition_point(mut lo: usize, mut hi: usize, below: impl Fn(usize) -> bool) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

impl Matcher {
    /// `arena` must hold at least one form, none empty. `None` if the forms take 4 GiB or more.
    pub(crate) fn new(arena: &FormArena) -> Option<Self> {
        let forms = FormTable::new(arena)?;
        let (mut min_len, mut max_len) = (usize::MAX, 0);
        for i in 0..forms.len() {
            min_len = min_len.min(forms.form_len(i));
            max_len = max_len.max(forms.form_len(i));
        }
        let gram = min_len.min(MAX_GRAM);
        let stride = (min_len - gram + 1).min(MAX_STRIDE);
        let mut sampled = GramSet::sized_for(forms.len() * stride);
        // Eight times the room of `sampled` per entry: the start positions before each `%` and `+`
        // are all looked up here, so its false positives cost more.
        let mut first = GramSet::sized_for((forms.len() * 8).min(1 << 18));
        for i in 0..forms.len() {
            let form = forms.form(i);
            first.insert(read_gram(form, gram));
            for offset in 0..stride {
                sampled.insert(read_gram(&form[offset..], gram));
            }
        }
        let form_bytes = ByteSet::of(&forms.bytes);
        let around_spaces = around_spaces(&forms);
        Some(Matcher { max_span: MAX_ESCAPE * max_len, forms, gram, stride, sampled, first, form_bytes, around_spaces })
    }

    /// The longest text an occurrence may take; held-back data is always shorter.
    pub(crate) fn max_span(&self) -> usize {
        self.max_span
    }

    pub(crate) fn patterns_len(&self) -> usize {
        self.forms.len()
    }

    /// Visits, in order, the start positions `starts` of `scan.buf`: each occurrence is masked,
    /// merged into the current masked region when it overlaps it.
    ///
    /// `scan.buf` must extend at least `max_span` bytes past `starts.end`, or up to the end of the
    /// data received so far. Unless `scan.last`, stops at the first start position whose match is
    /// still undecided, i.e. where the rest of the data is a proper prefix of an occurrence, and
    /// returns it: output from there on must be held back.
    pub(crate) fn scan<S: Sink>(&self, scan: &mut Scan<'_, S>, starts: Range<usize>) -> Option<usize> {
        macro_rules! dispatch {
            ($($k:literal)*) => {
                match (self.gram, self.stride) {
                    $((4, $k) => self.scan_with::<4, $k, S>(scan, starts),)*
                    // Shortest form below 4 bytes: q = its length, stride 1.
                    (3, _) => self.scan_with::<3, 1, S>(scan, starts),
                    (2, _) => self.scan_with::<2, 1, S>(scan, starts),
                    (1, _) => self.scan_with::<1, 1, S>(scan, starts),
                    _ => unreachable!("stride is between 1 and MAX_STRIDE, 1 for grams under 4 bytes"),
                }
            };
        }
        const _: () = assert!(MAX_STRIDE == 16);
        dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }

    /// Scans every start position of `scan.buf`, the last data of the stream, and writes the
    /// rest of it.
    pub(crate) fn scan_to_end<S: Sink>(&self, mut scan: Scan<'_, S>) {
        debug_assert!(scan.last && scan.base == 0);
        let len = scan.buf.len();
        self.scan(&mut scan, 0..len);
        if len > scan.done {
            scan.sink.plain(scan.done, len);
        }
    }

    /// [`scan`](Self::scan) with gram length `Q` and stride `K` known at compile time.
    ///
    /// A percent-encoded occurrence escapes the gram filter only if one of its first `K + Q - 1`
    /// bytes starts an escape (a longer plain start holds a sampled gram of the form). So start
    /// positions up to `K + Q - 2` bytes before each escape ([`next_escape`](Self::next_escape))
    /// are checked one by one, their first gram read as is and decoded; the rest go through the
    /// filter.
    #[inline(always)]
    fn scan_with<const Q: usize, const K: usize, S: Sink>(
        &self,
        scan: &mut Scan<'_, S>,
        starts: Range<usize>,
    ) -> Option<usize> {
        let reach = K + Q - 2;
        let Range { start: mut s, end } = starts;
        while s < end {
            let horizon = (end + reach).min(scan.buf.len());
            let special = self.next_escape(scan.buf, s, horizon);
            let filtered_end = special.map_or(end, |p| p.saturating_sub(reach).clamp(s, end));
            if let Some(hold) = self.scan_filtered::<Q, K, S>(scan, s..filtered_end) {
                return Some(hold);
            }
            let Some(special) = special else { break };
            let window_end = (special + 1).min(end);
            for c in filtered_end..window_end {
                let buf = scan.buf;
                let raw_hit = c + Q > buf.len() || self.first.contains(gram::<Q>(buf, c));
                // Before the gram reaches the escape, it reads the same decoded.
                let decoded_hit =
                    || c + Q > special && decoded_gram::<Q>(buf, c).is_none_or(|g| self.first.contains(g));
                if raw_hit || decoded_hit() {
                    if let Some(hold) = self.visit(scan, c) {
                        return Some(hold);
                    }
                }
            }
            s = window_end;
        }
        None
    }

    /// The first position in `from..to` where decoding reads a byte of some form from something
    /// else than that byte: a `%XX` escape, a `+` that [may be inside an
    /// occurrence](Self::plus_may_be_inside), or an escape cut off by the end of `buf`. Elsewhere
    /// the decoded text is the text, or holds a byte no form has, or a space between bytes no
    /// form has around a space (a log line's `+0000` timestamp, in most logs).
    #[inline]
    fn next_escape(&self, buf: &[u8], mut from: usize, to: usize) -> Option<usize> {
        while from < to {
            let at = from + memchr::memchr2(b'%', b'+', &buf[from..to])?;
            match decode_at(buf, at) {
                None => return Some(at),
                Some((byte, width)) if width > 1 || buf[at] == b'+' => {
                    if self.form_bytes.contains(byte) && (width > 1 || self.plus_may_be_inside(buf, at)) {
                        return Some(at);
                    }
                }
                // A `%` that starts no escape reads as itself.
                Some(_) => {}
            }
            from = at + 1;
        }
        None
    }

    /// Whether the `+` at `buf[at]`, read as a space, can be part of a percent-decoded occurrence.
    /// One long enough to be masked ([`ENCODED_FLOOR`] bytes of text) decodes to two bytes or
    /// more, so the space starts it, ends it, or lies between two of its bytes: the byte decoded
    /// after it (decoding goes on from `at + 1` whatever the start), and the one decoded before
    /// it, which is `buf[at - 1]` (a space for `+`) or, when `buf[at - 3..at]` is an escape `%XY`
    /// read from its `%`, the byte it encodes. [`around_spaces`] holds each of these that some
    /// form has. Data that ends before the next byte decodes leaves it open.
    #[inline]
    fn plus_may_be_inside(&self, buf: &[u8], at: usize) -> bool {
        let Some((next, _)) = decode_at(buf, at + 1) else { return true };
        if self.around_spaces.contains(space_starts(next)) {
            return true;
        }
        let Some(&before) = at.checked_sub(1).and_then(|i| buf.get(i)) else { return false };
        let before = if before == b'+' { b' ' } else { before };
        if self.around_spaces.contains(space_ends(before)) || self.around_spaces.contains(space_between(before, next)) {
            return true;
        }
        if at >= 3 && buf[at - 3] == b'%' {
            if let (Some(high), Some(low)) = (hex_digit(buf[at - 2]), hex_digit(buf[at - 1])) {
                let escaped = (high << 4) | low;
                return self.around_spaces.contains(space_ends(escaped))
                    || self.around_spaces.contains(space_between(escaped, next));
            }
        }
        false
    }

    /// Start positions `starts` through the gram filter.
    #[inline(always)]
    fn scan_filtered<const Q: usize, const K: usize, S: Sink>(
        &self,
        scan: &mut Scan<'_, S>,
        starts: Range<usize>,
    ) -> Option<usize> {
        /// Samples looked up together, before any branch.
        const BLOCK: usize = 8;
        let Range { start: mut s, end } = starts;
        let buf = scan.buf;
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
                if let Some(hold) = self.visit_sampled::<Q, K, S>(scan, s + i * K, end) {
                    return Some(hold);
                }
            }
            s += BLOCK * K;
        }
        while s < end && s + K + Q - 1 <= buf.len() {
            if self.sampled.contains(gram::<Q>(buf, s + K - 1)) {
                if let Some(hold) = self.visit_sampled::<Q, K, S>(scan, s, end) {
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
            if let Some(hold) = self.visit(scan, c) {
                return Some(hold);
            }
        }
        None
    }

    /// The start positions `s..s + K` (below `end`) a sampled gram hit covers.
    #[inline(always)]
    fn visit_sampled<const Q: usize, const K: usize, S: Sink>(
        &self,
        scan: &mut Scan<'_, S>,
        s: usize,
        end: usize,
    ) -> Option<usize> {
        for c in s..(s + K).min(end) {
            if self.first.contains(gram::<Q>(scan.buf, c)) {
                if let Some(hold) = self.visit(scan, c) {
                    return Some(hold);
                }
            }
        }
        None
    }

    #[inline]
    fn visit<S: Sink>(&self, scan: &mut Scan<'_, S>, c: usize) -> Option<usize> {
        let walk = self.walk(&scan.buf[c..]);
        let pos = scan.base + c;
        if walk.longest > 0 {
            let end = pos + walk.longest;
            if pos < scan.done {
                // Overlaps the current masked region: extend it, no second mask.
                scan.done = end.max(scan.done);
            } else {
                scan.sink.plain(scan.done, pos);
                scan.sink.mask();
                scan.done = end;
            }
        }
        (walk.open && !scan.last).then_some(pos)
    }

    /// Walks the forms along `hay` as is, and from its first `%` or `+` on also percent-decoded.
    #[inline]
    fn walk(&self, hay: &[u8]) -> Walk {
        let forms = &self.forms;
        let mut cursor = forms.root();
        let mut longest = 0;
        // Where decoding would first read something else than the bytes themselves.
        let mut decode_from = None;
        let mut i = 0;
        let plain = loop {
            let Some(&byte) = hay.get(i) else {
                break Walk { longest, open: forms.extendable(cursor) };
            };
            if decode_from.is_none() && (byte == b'%' || byte == b'+') {
                decode_from = Some((i, cursor));
            }
            let Some(next) = forms.step(cursor, byte) else {
                break Walk { longest, open: false };
            };
            cursor = next;
            i += 1;
            if forms.complete(cursor) {
                longest = i;
            }
        };
        match decode_from {
            Some((i, cursor)) => plain.or(self.walk_decoded(hay, i, cursor)),
            None => plain,
        }
    }

    /// Continues a walk at `hay[i]`, reading `%XX` as the byte it encodes and `+` as a space.
    /// Occurrences shorter than [`ENCODED_FLOOR`] are not counted.
    fn walk_decoded(&self, hay: &[u8], mut i: usize, mut cursor: Cursor) -> Walk {
        let forms = &self.forms;
        let mut longest = 0;
        loop {
            let Some((byte, width)) = decode_at(hay, i) else {
                // The data ends, maybe inside an escape: any form longer than what was read may follow.
                return Walk { longest, open: forms.extendable(cursor) };
            };
            let Some(next) = forms.step(cursor, byte) else {
                return Walk { longest, open: false };
            };
            cursor = next;
            i += width;
            if forms.complete(cursor) && i >= ENCODED_FLOOR {
                longest = i;
            }
        }
    }

    /// Approximate heap bytes used.
    pub(crate) fn memory_usage(&self) -> usize {
        self.forms.memory_usage()
            + (self.sampled.bits.len() + self.first.bits.len() + self.around_spaces.bits.len()) * 8
    }
}

/// The byte a URL decoder reads at `buf[at]` (`%XX` in either case, `+` for space, any other byte
/// as itself) and how many bytes it takes; `None` if the data ends there or within an escape.
#[inline(always)]
fn decode_at(buf: &[u8], at: usize) -> Option<(u8, usize)> {
    match *buf.get(at)? {
        b'+' => Some((b' ', 1)),
        b'%' => match (buf.get(at + 1).map(|&d| hex_digit(d)), buf.get(at + 2).map(|&d| hex_digit(d))) {
            (Some(Some(high)), Some(Some(low))) => Some(((high << 4) | low, 3)),
            // `%` or `%X` at the end: an escape may still complete.
            (None, _) | (Some(Some(_)), None) => None,
            // Not an escape: a plain `%`.
            _ => Some((b'%', 1)),
        },
        byte => Some((byte, 1)),
    }
}

#[inline(always)]
fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The first `Q` bytes decoded from `buf[at..]`, as a gram; `None` if the data ends first.
#[inline(always)]
fn decoded_gram<const Q: usize>(buf: &[u8], mut at: usize) -> Option<u32> {
    let mut word = [0u8; 4];
    for slot in word.iter_mut().take(Q) {
        let (byte, width) = decode_at(buf, at)?;
        *slot = byte;
        at += width;
    }
    Some(u32::from_le_bytes(word))
}

/// What the forms hold around each space, as keys of one [`GramSet`]: a form that starts with a
/// space and the byte after it ([`space_starts`]), one that ends with a byte and a space
/// ([`space_ends`]), and each byte, space, byte inside a form ([`space_between`]).
fn around_spaces(forms: &FormTable) -> GramSet {
    let mut keys = Vec::new();
    for i in 0..forms.len() {
        let form = forms.form(i);
        // memchr: most forms hold no space, and these are all the forms' bytes.
        for at in memchr::memchr_iter(b' ', form) {
            match (at.checked_sub(1).map(|i| form[i]), form.get(at + 1)) {
                (None, Some(&next)) => keys.push(space_starts(next)),
                (Some(before), None) => keys.push(space_ends(before)),
                (Some(before), Some(&next)) => keys.push(space_between(before, next)),
                (None, None) => {}
            }
        }
    }
    let mut set = GramSet::sized_for(keys.len());
    for key in keys {
        set.insert(key);
    }
    set
}

fn space_starts(next: u8) -> u32 {
    0x0100_0000 | u32::from(next)
}

fn space_ends(before: u8) -> u32 {
    0x0200_0000 | u32::from(before) << 8
}

fn space_between(before: u8, next: u8) -> u32 {
    0x0300_0000 | u32::from(before) << 8 | u32::from(next)
}

/// A set of grams with false positives (a one-hash Bloom filter).
struct GramSet {
    bits: Zeroizing<Vec<u64>>,
    shift: u32,
}

impl GramSet {
    fn sized_for(entries: usize) -> Self {
        // About 3% of the bits set: few false candidates. Capped at 4 MiB, which 10,000 values of
        // 8 to 64 bytes reach.
        let slots = entries.saturating_mul(32).next_power_of_two().clamp(1 << 12, 1 << 25);
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
