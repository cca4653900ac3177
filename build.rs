//! Build script: compiles `src/input/isal_shim.c` and links ISA-L (`libisal`) when its header
//! is installed (Debian: `libisal-dev`), for a gzip inflate about twice zlib-rs's speed; without
//! it, or with `LOGWARDEN_NO_ISAL` set, every `.gz` goes through flate2 (zlib-rs) as before.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(isal)");
    println!("cargo::rerun-if-changed=src/input/isal_shim.c");
    println!("cargo::rerun-if-env-changed=LOGWARDEN_NO_ISAL");
    let header = [
        "/usr/include/isa-l/igzip_lib.h",
        "/usr/local/include/isa-l/igzip_lib.h",
    ];
    for h in header {
        println!("cargo::rerun-if-changed={h}");
    }
    let linux_x86_64 = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64");
    let found = header.iter().any(|h| Path::new(h).exists());
    if !linux_x86_64 || !found || std::env::var_os("LOGWARDEN_NO_ISAL").is_some() {
        return;
    }
    cc::Build::new()
        .file("src/input/isal_shim.c")
        .include("/usr/local/include")
        .opt_level(2)
        .warnings(true)
        .compile("logwarden_isal_shim");
    println!("cargo::rustc-link-lib=isal");
    println!("cargo::rustc-cfg=isal");
}
