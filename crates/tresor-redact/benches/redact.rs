//! Redaction throughput: 1,000 random values of 8–64 bytes over 100 MB of log-like text, beside
//! plain copies of the same bytes; throughput over 20 MB with 10, 1,000 and 10,000 values (it
//! should not depend on the number); the time to compile 10, 1,000 and 10,000 values.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use tresor_redact::{RedactOptions, Redactor};

const TEXT_LEN: usize = 100 * 1024 * 1024;
const VALUES: usize = 1_000;
const CHUNK: usize = 64 * 1024;

/// SplitMix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// API-token-like values, a third of them password-like with symbols (so that their URL and JSON
/// forms differ from the raw value).
fn values(rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    const TOKEN: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const PASSWORD: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~ \"\\";
    (0..count)
        .map(|i| {
            let alphabet = if i % 3 == 0 { PASSWORD } else { TOKEN };
            let len = 8 + rng.below(57);
            (0..len).map(|_| *rng.pick(alphabet)).collect()
        })
        .collect()
}

fn base64(input: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let w = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for i in 0..4 {
            out.push(if i <= chunk.len() { B64[(w >> (18 - 6 * i)) as usize & 63] as char } else { '=' });
        }
    }
    out
}

/// Every byte percent-encoded, as a URL encoder that escapes everything writes it.
fn percent_all(input: &[u8]) -> String {
    input.iter().map(|b| format!("%{b:02X}")).collect()
}

/// Log lines with timestamps, levels, ids, paths, messages; one line in 500 carries a value, raw,
/// base64-encoded or percent-encoded.
fn log_text(rng: &mut Rng, values: &[Vec<u8>], len: usize) -> Vec<u8> {
    const LEVELS: &[&str] = &["INFO ", "INFO ", "INFO ", "DEBUG", "WARN ", "ERROR"];
    const COMPONENTS: &[&str] = &["api", "worker", "scheduler", "db-pool", "auth", "cache", "http"];
    const METHODS: &[&str] = &["GET", "GET", "POST", "PUT", "DELETE"];
    const PATHS: &[&str] = &["/api/v1/items", "/api/v1/users", "/healthz", "/api/v2/orders", "/metrics", "/login"];
    const WORDS: &[&str] = &[
        "request",
        "completed",
        "started",
        "connection",
        "established",
        "closed",
        "timeout",
        "retrying",
        "user",
        "session",
        "token",
        "refreshed",
        "cache",
        "miss",
        "hit",
        "query",
        "took",
        "rows",
        "returned",
        "failed",
        "to",
        "the",
        "of",
        "for",
        "with",
        "upstream",
        "responded",
        "slowly",
        "batch",
        "processed",
    ];
    let hex = |rng: &mut Rng, n: usize| -> String {
        (0..n).map(|_| char::from(b"0123456789abcdef"[rng.below(16)])).collect()
    };
    let mut text = Vec::with_capacity(len + 4096);
    let mut line = String::new();
    while text.len() < len {
        line.clear();
        let (h, m, s, ms) = (rng.below(24), rng.below(60), rng.below(60), rng.below(1000));
        line.push_str(&format!(
            "2024-05-17T{h:02}:{m:02}:{s:02}.{ms:03}Z {} [{}-{}] ",
            rng.pick(LEVELS),
            rng.pick(COMPONENTS),
            rng.below(16)
        ));
        line.push_str(&format!("request_id={} ", hex(rng, 16)));
        if rng.below(2) == 0 {
            line.push_str(&format!(
                "method={} path={}/{} status={} duration_ms={} ",
                rng.pick(METHODS),
                rng.pick(PATHS),
                rng.below(100_000),
                [200, 200, 200, 201, 204, 404, 500][rng.below(7)],
                rng.below(2000)
            ));
        }
        line.push_str("msg=\"");
        for i in 0..3 + rng.below(10) {
            if i > 0 {
                line.push(' ');
            }
            let word: &&str = rng.pick(WORDS);
            line.push_str(word);
        }
        line.push('"');
        text.extend_from_slice(line.as_bytes());
        if rng.below(500) == 0 {
            let value = rng.pick(values);
            match rng.below(3) {
                0 => {
                    text.extend_from_slice(b" secret=");
                    text.extend_from_slice(value);
                }
                1 => {
                    text.extend_from_slice(b" auth=Basic ");
                    text.extend_from_slice(base64(value).as_bytes());
                }
                _ => {
                    text.extend_from_slice(b" url=https://db/?password=");
                    text.extend_from_slice(percent_all(value).as_bytes());
                }
            }
        }
        text.push(b'\n');
    }
    text.truncate(len);
    text
}

/// Redacts `text` as one stream in `CHUNK`-sized pushes, each into `out` as a pipe relay would.
fn push_in_chunks(stream: &mut Redactor, text: &[u8], out: &mut Vec<u8>) {
    for chunk in text.chunks(CHUNK) {
        out.clear();
        stream.push(chunk, out);
        black_box(&*out);
    }
    out.clear();
    stream.finish(out);
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x7265_6461_6374);
    let values = values(&mut rng, VALUES);
    let text = log_text(&mut rng, &values, TEXT_LEN);
    let redactor = Redactor::new(&values, &RedactOptions::default()).unwrap();
    eprintln!(
        "{} values -> {} patterns, {} KiB compiled; {} MB of text",
        values.len(),
        redactor.pattern_count(),
        redactor.memory_usage() / 1024,
        text.len() >> 20
    );
    let redacted = redactor.redact(&text);
    let masks = redacted.windows(10).filter(|w| w == b"[REDACTED]").count();
    eprintln!("{masks} masks in the output");

    let mut group = c.benchmark_group("redact_100MB");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    // Chunked runs write into a chunk-sized buffer, as a pipe relay would; the whole-buffer run into
    // one sized for the whole output.
    let mut out = Vec::with_capacity(2 * CHUNK);

    group.bench_function("copy_chunks", |b| {
        b.iter(|| {
            for chunk in text.chunks(CHUNK) {
                out.clear();
                out.extend_from_slice(chunk);
                black_box(&out);
            }
        })
    });
    group.bench_function("copy_lines_memchr", |b| {
        b.iter(|| {
            for chunk in text.chunks(CHUNK) {
                out.clear();
                let mut start = 0;
                for nl in memchr::memchr_iter(b'\n', chunk) {
                    out.extend_from_slice(&chunk[start..=nl]);
                    start = nl + 1;
                }
                out.extend_from_slice(&chunk[start..]);
                black_box(&out);
            }
        })
    });
    group.bench_function("redact_stream_64KiB_pushes", |b| {
        let mut stream = redactor.fork();
        b.iter(|| push_in_chunks(&mut stream, &text, &mut out))
    });
    let mut whole = Vec::with_capacity(TEXT_LEN + TEXT_LEN / 8);
    group.bench_function("redact_whole", |b| {
        b.iter(|| {
            whole.clear();
            redactor.redact_into(&text, &mut whole);
            black_box(&whole);
        })
    });
    group.finish();
}

/// Compiling the values, and redacting 20 MB with as many of them.
fn scaling(c: &mut Criterion) {
    const TEXT: usize = 20 * 1024 * 1024;
    let mut group = c.benchmark_group("values");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for count in [10, 1_000, 10_000] {
        let mut rng = Rng(0x0073_6361_6c65 + count as u64);
        let values = values(&mut rng, count);
        let text = log_text(&mut rng, &values, TEXT);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_function(format!("build_{count}"), |b| {
            b.iter(|| black_box(Redactor::new(&values, &RedactOptions::default()).unwrap()))
        });
        let redactor = Redactor::new(&values, &RedactOptions::default()).unwrap();
        eprintln!(
            "{count} values -> {} patterns, {} KiB compiled",
            redactor.pattern_count(),
            redactor.memory_usage() / 1024
        );
        let mut out = Vec::with_capacity(2 * CHUNK);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("redact_20MB_{count}"), |b| {
            let mut stream = redactor.fork();
            b.iter(|| push_in_chunks(&mut stream, &text, &mut out))
        });
    }
    group.finish();
}

criterion_group!(benches, bench, scaling);
criterion_main!(benches);
