//! The member-by-member gzip reader on arbitrary bytes: never panics, never loops, output
//! bounded by what is read. Half the inputs are made of valid members with the fuzzer's bytes
//! mixed in, so the decoder gets deep.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logwarden::input::source::GzipMembers;
use std::io::{Read, Write};

fuzz_target!(|data: &[u8]| {
    let bytes = if data.first().is_some_and(|b| b & 1 == 1) {
        let mut out = Vec::new();
        for part in data[1..].chunks(64) {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part).unwrap();
            out.extend(e.finish().unwrap());
        }
        if data.len() > 3 {
            let at = data[1] as usize % out.len().max(1);
            out[at] ^= data[2];
        }
        out
    } else {
        data.to_vec()
    };
    let mut reader = GzipMembers::new(&bytes[..]);
    let mut sink = vec![0u8; 1 << 16];
    let mut total = 0usize;
    loop {
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                // deflate expands at most ~1032x; anything past that would be a reader bug.
                assert!(total <= bytes.len() * 1100 + 1024);
            }
        }
    }
});
