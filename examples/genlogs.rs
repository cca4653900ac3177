//! genlogs: a deterministic, fast generator of realistic Apache "combined" access logs.
//!
//! Defines the fixture generator used by `scripts/bench.sh` and by anyone who needs
//! multi-GB inputs: N dated files `access_YYYY-MM-DD.log` (or `.log.gz`), one per day,
//! each about `--size-mb` MB (10^6 bytes) of uncompressed text. Output is byte-identical
//! for the same arguments (hand-written PRNG, no clocks, no hashing of addresses).
//!
//! ```text
//! cargo run --release --example genlogs -- --out DIR --files N --size-mb M [--seed S]
//!     [--gzip] [--gzip-level L] [--clients C] [--start 2023-06-19]
//!     [--failing-clients F] [--no-odd]
//! ```
//!
//! Traffic model (per line, before the failing-client quota):
//! * ~96.5% ordinary clients: a pool of `--clients` addresses (90% IPv4, 10% IPv6), skewed
//!   so a few clients are heavy; each keeps one user agent. Static assets, pages, API
//!   calls with query strings; statuses mostly 200/304/301/302, ~3% 4xx, ~0.5% 5xx.
//! * ~2% attackers: 16 fixed addresses, each active in bursts (a window of the day),
//!   hammering /wp-login.php, /.env, /admin, /xmlrpc.php ... with 401/403/404.
//! * ~1.5% scanners: 40 addresses with scanner user agents probing paths (mostly 404).
//! * ~0.05% odd lines (unless `--no-odd`): a TLS handshake on port 80 (`"\x16\x03\x01..." 400`),
//!   `"-" 408`, `PRI * HTTP/2.0` 400, a request with an escaped quote `\"`. The first two
//!   have a one-token request, so `awk '$9'` does not see their status.
//! * `--failing-clients F`: F further distinct addresses (disjoint from the pool), each sends
//!   at least one 404 per file, spread through the day (the file grows past M if needed).
//!
//! Some user agents contain IPv4 addresses and the text ` 404 `; they never affect the
//! request/status/size fields.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::exit;
use std::time::Instant;

use flate2::write::GzEncoder;
use flate2::Compression;

/// Input bytes per gzip member (nginx/pigz style multi-member files) and per write.
const CHUNK: usize = 1 << 20;

// ---------------------------------------------------------------------------------------
// PRNG: splitmix64 for seeding, xoshiro256** for the stream.

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct Rng {
    s: [u64; 4],
}

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    #[inline]
    fn next(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in 0..n (n > 0), multiply-shift (Lemire) without rejection: bias < 2^-32.
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() >> 32) * n) >> 32
    }

    /// Uniform in 0..n for large n (u64 range).
    #[inline]
    fn below_wide(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in 0..10_000 (per-mille-and-a-half resolution for weights).
    #[inline]
    fn permyriad(&mut self) -> u32 {
        self.below(10_000) as u32
    }

    #[inline]
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A bijection on u32 (xor-shift and odd multiplies are invertible): distinct counters give
/// distinct addresses, so uniqueness needs no hash set.
fn permute32(mut x: u32, key: u32) -> u32 {
    x ^= key;
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

// ---------------------------------------------------------------------------------------
// Byte formatting helpers (no format! on the hot path).

#[inline]
fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

#[inline]
fn push_hex16(buf: &mut Vec<u8>, n: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut started = false;
    for shift in [12u32, 8, 4, 0] {
        let d = ((n >> shift) & 0xf) as usize;
        if d != 0 || started || shift == 0 {
            buf.push(HEX[d]);
            started = true;
        }
    }
}

#[inline]
fn push2(buf: &mut Vec<u8>, n: u32) {
    buf.push(b'0' + (n / 10) as u8);
    buf.push(b'0' + (n % 10) as u8);
}

// ---------------------------------------------------------------------------------------
// Address pools: all addresses rendered once into one byte arena.

struct Pool {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl Pool {
    fn with_capacity(n: usize) -> Pool {
        Pool {
            bytes: Vec::with_capacity(n * 16),
            ends: Vec::with_capacity(n),
        }
    }
    fn len(&self) -> usize {
        self.ends.len()
    }
    #[inline]
    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }
    fn close(&mut self) {
        self.ends.push(self.bytes.len() as u32);
    }
}

/// Realistic IPv6 prefixes (Hetzner, AWS, Facebook, OVH, Google, China Telecom, DTAG, Comcast...).
const V6_PREFIXES: &[&str] = &[
    "2a01:4f8",
    "2600:1f18",
    "2a03:2880",
    "2001:41d0",
    "2607:f8b0",
    "240e:3b7",
    "2003:e2",
    "2601:647",
    "2a02:8108",
    "2804:14c",
    "2409:8a1e",
    "2a00:23c5",
];

/// Address space is split by counter range so the pools are disjoint:
/// ordinary clients [0, 2^30), failing clients [2^30, 2^31), attackers/scanners [2^31, ..).
const BASE_CLIENTS: u32 = 0;
const BASE_FAILING: u32 = 1 << 30;
const BASE_HOSTILE: u32 = 1 << 31;

/// Appends `count` distinct addresses (`v6_permyriad` of them IPv6) to `pool`.
fn fill_pool(pool: &mut Pool, count: usize, base: u32, key: u32, v6_permyriad: u32, rng: &mut Rng) {
    let mut counter = base;
    for _ in 0..count {
        if rng.permyriad() < v6_permyriad {
            // Unique by the counter in the last two hextets.
            let prefix = *rng.pick(V6_PREFIXES);
            pool.bytes.extend_from_slice(prefix.as_bytes());
            let r = rng.next();
            let (h3, h4) = ((r >> 16) as u16 | 1, (r >> 32) as u16);
            pool.bytes.push(b':');
            push_hex16(&mut pool.bytes, h3);
            pool.bytes.push(b':');
            push_hex16(&mut pool.bytes, h4);
            pool.bytes.extend_from_slice(b"::");
            push_hex16(&mut pool.bytes, (counter >> 16) as u16 | 0x100);
            pool.bytes.push(b':');
            push_hex16(&mut pool.bytes, counter as u16);
            counter += 1;
        } else {
            // Unique because permute32 is a bijection; skip non-public-looking first octets.
            let ip = loop {
                let ip = permute32(counter, key);
                counter += 1;
                let a = ip >> 24;
                if a != 0 && a != 10 && a != 127 && a < 224 {
                    break ip;
                }
            };
            for (k, shift) in [24u32, 16, 8, 0].iter().enumerate() {
                if k > 0 {
                    pool.bytes.push(b'.');
                }
                push_u64(&mut pool.bytes, ((ip >> shift) & 0xff) as u64);
            }
        }
        pool.close();
    }
}

// ---------------------------------------------------------------------------------------
// Vocabulary.

/// (user agent, weight). Some contain IPv4 addresses or " 404 " (they must not matter).
const USER_AGENTS: &[(&str, u32)] = &[
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36", 30),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/114.0", 10),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.5 Safari/605.1.15", 12),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36", 10),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.5 Mobile/15E148 Safari/604.1", 14),
    ("Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.130 Mobile Safari/537.36", 12),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36", 4),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36 Edg/114.0.1823.51", 6),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 4),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 2),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 2),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", 1),
    ("curl/7.88.1", 2),
    ("python-requests/2.31.0", 2),
    ("Go-http-client/1.1", 1),
    ("okhttp/4.11.0", 2),
    ("Prometheus/2.45.0 blackbox-exporter probe from 10.20.30.40", 1),
    ("Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/) src=203.0.113.77", 1),
    ("check_http/v2.3.3 (monitoring-plugins 2.3.3) 192.168.1.10 expect 200 404 ok", 1),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko; proxy 172.16.5.4", 1),
];

/// Scanner / attacker user agents (some are plain browser strings, as real bots fake them).
const HOSTILE_AGENTS: &[&str] = &[
    "Mozilla/5.0 zgrab/0.x",
    "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "sqlmap/1.7.2#stable (https://sqlmap.org)",
    "Mozilla/5.0 (X11; Linux x86_64; rv:68.0) Gecko/20100101 Firefox/68.0",
    "python-requests/2.25.1",
    "Hello from 45.83.64.1",
    "Mozilla/5.0 (compatible; Nimbostratus-Bot/v1.3.2; +http://cloudsystemnetworks.com)",
    "fasthttp",
    "-",
];

const STATIC_PATHS: &[&str] = &[
    "/static/css/main.3f2a1c9e.css",
    "/static/js/app.7b1d44c2.js",
    "/static/js/vendor.91ae03f7.js",
    "/images/logo.png",
    "/images/hero-1600.jpg",
    "/images/icons/sprite.svg",
    "/favicon.ico",
    "/fonts/inter-var.woff2",
    "/static/js/runtime.0c1e5a.js",
    "/images/products/thumb-",
    "/apple-touch-icon.png",
    "/manifest.webmanifest",
];

const PAGE_PATHS: &[&str] = &[
    "/",
    "/about",
    "/contact",
    "/pricing",
    "/blog/",
    "/blog/2023/06/faster-log-analysis",
    "/blog/2023/05/rust-in-production",
    "/docs/getting-started",
    "/docs/api/reference",
    "/products/",
    "/category/outdoor?page=",
    "/search?q=tent&sort=price",
    "/robots.txt",
    "/sitemap.xml",
    "/feed/",
    "/login",
    "/account/orders",
    "/cart",
];

const API_PATHS: &[&str] = &[
    "/api/v1/users/",
    "/api/v1/orders?status=open&page=",
    "/api/v2/search?q=backpack&limit=20&offset=",
    "/api/v1/products/",
    "/api/v1/cart/items?session=",
    "/api/v2/metrics?from=1687132800&step=",
    "/graphql?operationName=ProductList&page=",
    "/api/v1/health",
];

const REFERERS: &[&str] = &[
    "https://www.example-shop.com/",
    "https://www.example-shop.com/products/",
    "https://www.example-shop.com/blog/2023/06/faster-log-analysis",
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://t.co/",
    "https://www.facebook.com/",
    "https://news.ycombinator.com/",
    "android-app://com.google.android.gm/",
];

/// (method, path, user, statuses to pick from, size base). Attackers hammer these.
const ATTACKS: &[(&str, &str, &str, &[u16])] = &[
    ("POST", "/wp-login.php", "-", &[401, 403, 403]),
    ("GET", "/wp-login.php", "-", &[403, 404]),
    ("POST", "/xmlrpc.php", "-", &[403, 401]),
    ("GET", "/.env", "-", &[404, 403]),
    ("GET", "/admin/", "admin", &[401, 401, 403]),
    ("GET", "/admin/config.php", "-", &[403, 404]),
    ("POST", "/api/v1/login", "-", &[401, 401, 409]),
    ("GET", "/.git/config", "-", &[403, 404]),
    ("GET", "/phpmyadmin/index.php", "-", &[404]),
];

const PROBES: &[&str] = &[
    "/.env", "/.git/HEAD", "/wp-admin/setup-config.php", "/phpmyadmin/", "/pma/", "/admin",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/cgi-bin/luci/;stok=/locale",
    "/boaform/admin/formLogin", "/HNAP1/", "/actuator/health", "/server-status", "/.aws/credentials",
    "/config.json", "/solr/admin/info/system?wt=json", "/owa/auth/logon.aspx", "/.DS_Store",
    "/index.php?s=/Index/\\\\think\\\\app/invokefunction&function=call_user_func_array&vars[0]=md5&vars[1][]=HelloThinkPHP21",
    "/?XDEBUG_SESSION_START=phpstorm", "/remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession",
    "/console/", "/druid/index.html", "/telescope/requests", "/_ignition/execute-solution",
];

const MONTHS: &[&[u8; 3]; 12] = &[
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

// ---------------------------------------------------------------------------------------
// Dates (proleptic Gregorian, days since 1970-01-01; Howard Hinnant's algorithms).

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if it.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

// ---------------------------------------------------------------------------------------
// CLI.

struct Args {
    out: PathBuf,
    files: u32,
    size_bytes: u64,
    seed: u64,
    gzip: bool,
    gzip_level: u32,
    clients: usize,
    start_day: i64,
    failing: usize,
    odd: bool,
}

const USAGE: &str =
    "usage: genlogs --out DIR --files N --size-mb M [--seed S] [--gzip] [--gzip-level 0-9]
               [--clients C] [--start YYYY-MM-DD] [--failing-clients F] [--no-odd]
Writes N files DIR/access_YYYY-MM-DD.log[.gz], one per day from --start (default 2023-06-19),
each about M MB (10^6 bytes, fractions allowed) of uncompressed Apache combined log.
Defaults: --seed 42, --clients 50000, --failing-clients 0, --gzip-level 1 (nginx's default).
--gzip writes multi-member gzip, one member per ~1 MiB of input.
--no-odd leaves out the few lines whose request is one token (TLS handshake, \"-\" 408) etc.";

fn die(msg: &str) -> ! {
    eprintln!("genlogs: {msg}\n{USAGE}");
    exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        out: PathBuf::new(),
        files: 0,
        size_bytes: 0,
        seed: 42,
        gzip: false,
        gzip_level: 1,
        clients: 50_000,
        start_day: parse_date("2023-06-19").unwrap(),
        failing: 0,
        odd: true,
    };
    let (mut have_out, mut have_files, mut have_size) = (false, false, false);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .unwrap_or_else(|| die(&format!("{name} needs a value")))
        };
        fn num<T: std::str::FromStr>(name: &str, v: &str) -> T {
            v.parse()
                .unwrap_or_else(|_| die(&format!("bad value for {name}: {v:?}")))
        }
        match flag.as_str() {
            "--out" => {
                args.out = PathBuf::from(value("--out"));
                have_out = true;
            }
            "--files" => {
                args.files = num("--files", &value("--files"));
                have_files = true;
            }
            "--size-mb" => {
                let mb: f64 = num("--size-mb", &value("--size-mb"));
                if !(mb > 0.0 && mb.is_finite()) {
                    die("--size-mb must be > 0");
                }
                args.size_bytes = (mb * 1e6) as u64;
                have_size = true;
            }
            "--seed" => args.seed = num("--seed", &value("--seed")),
            "--gzip" => args.gzip = true,
            "--gzip-level" => {
                args.gzip_level = num("--gzip-level", &value("--gzip-level"));
                if args.gzip_level > 9 {
                    die("--gzip-level must be 0-9");
                }
            }
            "--clients" => {
                args.clients = num("--clients", &value("--clients"));
                if args.clients == 0 {
                    die("--clients must be > 0");
                }
            }
            "--start" => {
                let v = value("--start");
                args.start_day = parse_date(&v).unwrap_or_else(|| die(&format!("bad date {v:?}")));
            }
            "--failing-clients" => {
                args.failing = num("--failing-clients", &value("--failing-clients"))
            }
            "--no-odd" => args.odd = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                exit(0)
            }
            other => die(&format!("unknown argument {other:?}")),
        }
    }
    if !(have_out && have_files && have_size) {
        die("--out, --files and --size-mb are required");
    }
    if args.clients + args.failing > (1 << 29) {
        die("--clients + --failing-clients too large");
    }
    args
}

// ---------------------------------------------------------------------------------------
// Output sink: plain (BufWriter 1 MiB) or multi-member gzip (one member per CHUNK of input).

enum Sink {
    Plain(BufWriter<File>),
    Gzip(BufWriter<File>, Compression),
}

impl Sink {
    fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(chunk),
            Sink::Gzip(w, level) => {
                let mut enc = GzEncoder::new(Vec::with_capacity(chunk.len() / 2 + 64), *level);
                enc.write_all(chunk)?;
                w.write_all(&enc.finish()?)
            }
        }
    }
    fn finish(self) -> io::Result<()> {
        let mut w = match self {
            Sink::Plain(w) | Sink::Gzip(w, _) => w,
        };
        w.flush()
    }
}

// ---------------------------------------------------------------------------------------
// Line generation.

struct World {
    clients: Pool,
    client_ua: Vec<u8>,
    failing: Pool,
    hostile: Pool, // attackers first, then scanners
}

const ATTACKERS: usize = 16;
const SCANNERS: usize = 40;

fn build_world(args: &Args) -> World {
    let mut rng = Rng::new(args.seed ^ 0xC11E_475E_ED00_0001);
    let key = rng.next() as u32;
    let mut clients = Pool::with_capacity(args.clients);
    fill_pool(
        &mut clients,
        args.clients,
        BASE_CLIENTS,
        key,
        1000,
        &mut rng,
    );
    let mut failing = Pool::with_capacity(args.failing);
    fill_pool(
        &mut failing,
        args.failing,
        BASE_FAILING,
        key,
        1000,
        &mut rng,
    );
    let mut hostile = Pool::with_capacity(ATTACKERS + SCANNERS);
    fill_pool(
        &mut hostile,
        ATTACKERS + SCANNERS,
        BASE_HOSTILE,
        key,
        800,
        &mut rng,
    );

    // Weighted user-agent table: 100 slots.
    let total: u32 = USER_AGENTS.iter().map(|&(_, w)| w).sum();
    let mut ua_table = Vec::with_capacity(128);
    for (i, &(_, w)) in USER_AGENTS.iter().enumerate() {
        let slots = (w * 128).div_ceil(total);
        ua_table.extend(std::iter::repeat_n(i as u8, slots as usize));
    }
    let client_ua = (0..args.clients).map(|_| *rng.pick(&ua_table)).collect();
    World {
        clients,
        client_ua,
        failing,
        hostile,
    }
}

/// Per-file generator state.
struct Day<'w> {
    w: &'w World,
    rng: Rng,
    /// "[dd/Mon/yyyy:" prefix of the timestamp.
    date_prefix: [u8; 13],
    /// Current "HH:MM:SS" bytes and the second they stand for.
    hms: [u8; 8],
    sec: u32,
    /// Attacker activity windows, seconds of the day [start, end).
    windows: [(u32, u32); ATTACKERS],
    odd: bool,
}

impl<'w> Day<'w> {
    fn set_second(&mut self, sec: u32) {
        if sec != self.sec {
            self.sec = sec;
            let (h, m, s) = (sec / 3600, sec / 60 % 60, sec % 60);
            let mut v = Vec::with_capacity(8);
            push2(&mut v, h);
            v.push(b':');
            push2(&mut v, m);
            v.push(b':');
            push2(&mut v, s);
            self.hms.copy_from_slice(&v);
        }
    }

    #[inline]
    fn head(&self, buf: &mut Vec<u8>, ip: &[u8], user: &[u8]) {
        buf.extend_from_slice(ip);
        buf.extend_from_slice(b" - ");
        buf.extend_from_slice(user);
        buf.extend_from_slice(b" ");
        buf.extend_from_slice(&self.date_prefix);
        buf.extend_from_slice(&self.hms);
        buf.extend_from_slice(b" +0000] \"");
    }

    #[inline]
    fn tail(
        &mut self,
        buf: &mut Vec<u8>,
        status: u16,
        size: Option<u64>,
        referer: &[u8],
        ua: &[u8],
    ) {
        buf.extend_from_slice(b"\" ");
        push_u64(buf, status as u64);
        buf.push(b' ');
        match size {
            Some(n) => push_u64(buf, n),
            None => buf.push(b'-'),
        }
        buf.extend_from_slice(b" \"");
        buf.extend_from_slice(referer);
        buf.extend_from_slice(b"\" \"");
        buf.extend_from_slice(ua);
        buf.extend_from_slice(b"\"\n");
    }

    fn referer(&mut self) -> &'static [u8] {
        let r = self.rng.permyriad();
        if r < 4500 {
            b"-"
        } else {
            self.rng.pick(REFERERS).as_bytes()
        }
    }

    /// One ordinary visitor request.
    fn normal(&mut self, buf: &mut Vec<u8>) {
        let w = self.w;
        let n = w.clients.len() as u64;
        // 60% from a skewed distribution (u^3: the top client makes ~1.6% of the lines, a few
        // hundred clients much of the traffic), 40% uniform.
        let idx = if self.rng.permyriad() < 6000 {
            let u = (self.rng.next() >> 11) as f64 / (1u64 << 53) as f64;
            ((u * u * u) * n as f64) as usize
        } else {
            self.rng.below(n) as usize
        }
        .min(n as usize - 1);
        let ip = w.clients.get(idx);
        let ua = USER_AGENTS[w.client_ua[idx] as usize].0.as_bytes();

        let kind = self.rng.permyriad();
        let (method, status_roll) = (self.rng.permyriad(), self.rng.permyriad());
        self.head(buf, ip, b"-");
        let (status, size): (u16, Option<u64>);
        if kind < 5500 {
            // Static asset.
            buf.extend_from_slice(if method < 9900 { b"GET " } else { b"HEAD " });
            let p = self.rng.pick(STATIC_PATHS).as_bytes();
            buf.extend_from_slice(p);
            if p.ends_with(b"-") {
                push_u64(buf, self.rng.below(5000));
                buf.extend_from_slice(b".webp");
            }
            buf.extend_from_slice(b" HTTP/1.1");
            (status, size) = match status_roll {
                0..=6999 => (200, Some(800 + self.rng.below(250_000))),
                7000..=9749 => (304, None),
                9750..=9949 => (404, Some(196)),
                9950..=9989 => (206, Some(1 + self.rng.below(65_536))),
                _ => (503, Some(299)),
            };
        } else if kind < 8200 {
            // Page.
            buf.extend_from_slice(if method < 9700 { b"GET " } else { b"POST " });
            let p = self.rng.pick(PAGE_PATHS).as_bytes();
            buf.extend_from_slice(p);
            if p.ends_with(b"=") || p.ends_with(b"/") && p.len() > 1 && self.rng.permyriad() < 5000
            {
                push_u64(buf, 1 + self.rng.below(400));
            }
            buf.extend_from_slice(if self.rng.permyriad() < 9000 {
                b" HTTP/1.1"
            } else {
                b" HTTP/2.0"
            });
            (status, size) = match status_roll {
                0..=8499 => (200, Some(3_000 + self.rng.below(60_000))),
                8500..=9199 => (304, None),
                9200..=9499 => (301, Some(234)),
                9500..=9599 => (302, Some(0)),
                9600..=9849 => (404, Some(196 + self.rng.below(9_000))),
                9850..=9899 => (403, Some(199)),
                9900..=9919 => (400, Some(226)),
                9920..=9969 => (500, Some(527)),
                9970..=9989 => (502, Some(157)),
                _ => (504, Some(167)),
            };
        } else {
            // API call with a query string or id.
            let m: &[u8] = match method {
                0..=6499 => b"GET ",
                6500..=8499 => b"POST ",
                8500..=9299 => b"PUT ",
                9300..=9799 => b"DELETE ",
                _ => b"OPTIONS ",
            };
            buf.extend_from_slice(m);
            let p = self.rng.pick(API_PATHS).as_bytes();
            buf.extend_from_slice(p);
            if p.ends_with(b"=") || p.ends_with(b"/") {
                push_u64(buf, self.rng.below(2_000_000));
            }
            if self.rng.permyriad() < 3000 {
                buf.extend_from_slice(b"&utm_source=newsletter&utm_medium=email");
            }
            buf.extend_from_slice(b" HTTP/1.1");
            (status, size) = match status_roll {
                0..=8599 => (200, Some(40 + self.rng.below(20_000))),
                8600..=8999 => (201, Some(60 + self.rng.below(400))),
                9000..=9199 => (204, None),
                9200..=9399 => (400, Some(87)),
                9400..=9499 => (401, Some(61)),
                9500..=9599 => (403, Some(58)),
                9600..=9749 => (404, Some(52)),
                9750..=9849 => (409, Some(73)),
                9850..=9899 => (429, Some(31)),
                9900..=9969 => (500, Some(95)),
                _ => (503, Some(299)),
            };
        }
        let referer = self.referer();
        let size = if status == 200 && self.rng.permyriad() < 50 {
            None
        } else {
            size
        };
        self.tail(buf, status, size, referer, ua);
    }

    /// One line of an active attacker, or None when no attacker is active now.
    fn attack(&mut self, buf: &mut Vec<u8>) -> bool {
        let first = self.rng.below(ATTACKERS as u64) as usize;
        let Some(a) = (0..ATTACKERS)
            .map(|k| (first + k) % ATTACKERS)
            .find(|&a| (self.windows[a].0..self.windows[a].1).contains(&self.sec))
        else {
            return false;
        };
        let ip = self.w.hostile.get(a);
        let ua = HOSTILE_AGENTS[a % HOSTILE_AGENTS.len()].as_bytes();
        let &(method, path, user, statuses) =
            &ATTACKS[(a + self.rng.below(3) as usize) % ATTACKS.len()];
        self.head(buf, ip, user.as_bytes());
        buf.extend_from_slice(method.as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(path.as_bytes());
        buf.extend_from_slice(b" HTTP/1.1");
        let status = *self.rng.pick(statuses);
        let size = if status == 401 {
            Some(381)
        } else {
            Some(150 + self.rng.below(300))
        };
        self.tail(buf, status, size, b"-", ua);
        true
    }

    fn scan(&mut self, buf: &mut Vec<u8>) {
        let s = self.rng.below(SCANNERS as u64) as usize;
        let ip = self.w.hostile.get(ATTACKERS + s);
        let ua = HOSTILE_AGENTS[s % HOSTILE_AGENTS.len()].as_bytes();
        self.head(buf, ip, b"-");
        buf.extend_from_slice(if self.rng.permyriad() < 8500 {
            b"GET "
        } else {
            b"POST "
        });
        buf.extend_from_slice(self.rng.pick(PROBES).as_bytes());
        buf.extend_from_slice(b" HTTP/1.1");
        let (status, size) = match self.rng.permyriad() {
            0..=7999 => (404, Some(196)),
            8000..=8999 => (403, Some(199)),
            9000..=9499 => (400, Some(226)),
            9500..=9799 => (301, Some(162)),
            _ => (200, Some(1_024 + self.rng.below(4_000))),
        };
        self.tail(buf, status, size, b"-", ua);
    }

    fn odd_line(&mut self, buf: &mut Vec<u8>) {
        let s = self.rng.below(SCANNERS as u64) as usize;
        let ip = self.w.hostile.get(ATTACKERS + s);
        self.head(buf, ip, b"-");
        match self.rng.below(5) {
            0 => {
                buf.extend_from_slice(b"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03");
                self.tail(buf, 400, Some(226), b"-", b"-");
            }
            1 => {
                buf.push(b'-');
                self.tail(buf, 408, None, b"-", b"-");
            }
            2 => {
                buf.extend_from_slice(b"PRI * HTTP/2.0");
                self.tail(buf, 400, Some(226), b"-", b"-");
            }
            3 => {
                // Request ending in an escaped backslash: the closing quote follows `\\`.
                buf.extend_from_slice(b"GET /share\\\\");
                self.tail(buf, 400, Some(226), b"-", b"-");
            }
            _ => {
                buf.extend_from_slice(b"GET /search?q=\\\"tent\\\"&x=\\\\ HTTP/1.1");
                self.tail(
                    buf,
                    200,
                    Some(5_210),
                    b"https://www.example-shop.com/",
                    USER_AGENTS[0].0.as_bytes(),
                );
            }
        }
    }

    fn failing(&mut self, buf: &mut Vec<u8>, idx: usize) {
        let ip = self.w.failing.get(idx);
        let ua = USER_AGENTS[(idx * 7 + 3) % USER_AGENTS.len()].0.as_bytes();
        self.head(buf, ip, b"-");
        buf.extend_from_slice(b"GET ");
        buf.extend_from_slice(self.rng.pick(PROBES).as_bytes());
        buf.extend_from_slice(b" HTTP/1.1");
        self.tail(buf, 404, Some(196), b"-", ua);
    }
}

/// Relative traffic per hour of the day (quiet at night, peaks late morning and evening).
const HOURLY: [f64; 24] = [
    3.0, 2.2, 1.7, 1.4, 1.3, 1.5, 2.2, 3.4, 4.8, 5.8, 6.3, 6.4, 6.2, 6.1, 6.0, 5.9, 5.8, 5.7, 5.8,
    6.0, 6.1, 5.6, 4.6, 3.6,
];

/// Maps the written fraction of a file (0..1, non-decreasing) to a second of the day,
/// non-decreasing, following `HOURLY`.
struct Clock {
    cum: [f64; 25],
    hour: usize,
}

impl Clock {
    fn new() -> Clock {
        let total: f64 = HOURLY.iter().sum();
        let mut cum = [0.0; 25];
        for h in 0..24 {
            cum[h + 1] = cum[h] + HOURLY[h] / total;
        }
        cum[24] = 1.0;
        Clock { cum, hour: 0 }
    }

    #[inline]
    fn second(&mut self, frac: f64) -> u32 {
        while self.hour < 23 && frac >= self.cum[self.hour + 1] {
            self.hour += 1;
        }
        let h = self.hour;
        let within = ((frac - self.cum[h]) / (self.cum[h + 1] - self.cum[h])).clamp(0.0, 0.999_999);
        (h as u32 * 3600 + (within * 3600.0) as u32).min(86_399)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Writes one day's file; returns (bytes of text, lines).
fn write_day(args: &Args, world: &World, file_no: u32, sink: &mut Sink) -> io::Result<(u64, u64)> {
    let day = args.start_day + file_no as i64;
    let (y, m, d) = civil_from_days(day);
    let mut date_prefix = [0u8; 13];
    {
        let mut v = Vec::with_capacity(13);
        v.push(b'[');
        push2(&mut v, d);
        v.push(b'/');
        v.extend_from_slice(MONTHS[m as usize - 1]);
        v.push(b'/');
        push_u64(&mut v, y as u64);
        v.push(b':');
        date_prefix.copy_from_slice(&v);
    }
    let mut rng = Rng::new(
        args.seed
            .wrapping_mul(0x9E37_79B9)
            .wrapping_add(file_no as u64 + 1),
    );
    let mut windows = [(0u32, 0u32); ATTACKERS];
    for win in windows.iter_mut() {
        let start = rng.below(86_400) as u32;
        let len = 600 + rng.below(3 * 3600) as u32;
        *win = (start, (start + len).min(86_400));
    }
    let mut g = Day {
        w: world,
        rng,
        date_prefix,
        hms: *b"00:00:00",
        sec: 0,
        windows,
        odd: args.odd,
    };

    // Failing clients: visit all F in a per-file order (start + k*stride mod F).
    let f = world.failing.len() as u64;
    let (fail_start, fail_stride) = if f > 0 {
        let mut stride = 1 + g.rng.below_wide(f);
        while gcd(stride, f) != 1 {
            stride += 1;
        }
        (g.rng.below_wide(f), stride % f.max(1))
    } else {
        (0, 1)
    };
    let mut fail_done = 0u64;

    let target = args.size_bytes;
    let mut clock = Clock::new();
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 64 * 1024);
    let (mut written, mut lines) = (0u64, 0u64);
    loop {
        let total = written + buf.len() as u64;
        if total >= target && fail_done == f {
            break;
        }
        // Time runs with the share of the target written so far, through a diurnal profile.
        let sec = if total >= target {
            86_399
        } else {
            clock.second(total as f64 / target as f64)
        };
        g.set_second(sec);

        let remaining_fail = f - fail_done;
        let must_fail = remaining_fail > 0 && {
            // Spread the quota over the expected remaining lines.
            let avg = total.checked_div(lines).map_or(230, |a| a.max(1));
            let est_left = target.saturating_sub(total) / avg;
            est_left <= remaining_fail || g.rng.below_wide(est_left) < remaining_fail
        };
        if must_fail {
            let idx = ((fail_start as u128 + fail_done as u128 * fail_stride as u128) % f as u128)
                as usize;
            g.failing(&mut buf, idx);
            fail_done += 1;
        } else {
            let r = g.rng.permyriad();
            if r < 200 {
                if !g.attack(&mut buf) {
                    g.normal(&mut buf);
                }
            } else if r < 350 {
                g.scan(&mut buf);
            } else if r < 355 && g.odd {
                g.odd_line(&mut buf);
            } else {
                g.normal(&mut buf);
            }
        }
        lines += 1;
        if buf.len() >= CHUNK {
            sink.write_chunk(&buf)?;
            written += buf.len() as u64;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        sink.write_chunk(&buf)?;
        written += buf.len() as u64;
    }
    Ok((written, lines))
}

fn main() {
    let args = parse_args();
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        die(&format!("cannot create {}: {e}", args.out.display()));
    }
    let t0 = Instant::now();
    let world = build_world(&args);
    let (mut bytes, mut lines) = (0u64, 0u64);
    for file_no in 0..args.files {
        let (y, m, d) = civil_from_days(args.start_day + file_no as i64);
        let name = format!(
            "access_{y:04}-{m:02}-{d:02}.log{}",
            if args.gzip { ".gz" } else { "" }
        );
        let path = args.out.join(name);
        let file = File::create(&path)
            .unwrap_or_else(|e| die(&format!("cannot create {}: {e}", path.display())));
        let w = BufWriter::with_capacity(CHUNK, file);
        let mut sink = if args.gzip {
            Sink::Gzip(w, Compression::new(args.gzip_level))
        } else {
            Sink::Plain(w)
        };
        let res =
            write_day(&args, &world, file_no, &mut sink).and_then(|r| sink.finish().map(|_| r));
        match res {
            Ok((b, l)) => {
                bytes += b;
                lines += l;
                eprintln!(
                    "genlogs: {} ({} lines, {:.1} MB text)",
                    path.display(),
                    l,
                    b as f64 / 1e6
                );
            }
            Err(e) => {
                eprintln!("genlogs: writing {}: {e}", path.display());
                exit(1)
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "genlogs: {} files, {} lines, {:.1} MB of text in {:.2}s ({:.0} MB/s)",
        args.files,
        lines,
        bytes as f64 / 1e6,
        secs,
        bytes as f64 / 1e6 / secs.max(1e-9)
    );
}
