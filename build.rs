//! Build script: compiles `src/input/isal_shim.c` and links ISA-L (`libisal`) when its header
//! and library are installed under one prefix (Debian: `libisal-dev`), for a faster gzip
//! inflate on `gzip -6` data; without them, if the shim does not compile, or with
//! `LOGWARDEN_NO_ISAL` set, every `.gz` goes through flate2 (zlib-rs) as before.

use std::path::Path;

/// (include dir, library dirs) of each prefix ISA-L may be installed under.
const PREFIXES: [(&str, &[&str]); 2] = [
    (
        "/usr/include",
        &["/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"],
    ),
    (
        "/usr/local/include",
        &["/usr/local/lib", "/usr/local/lib64"],
    ),
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(isal)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/input/isal_shim.c");
    println!("cargo::rerun-if-env-changed=LOGWARDEN_NO_ISAL");
    let linux_x86_64 = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64");
    if !linux_x86_64 || std::env::var_os("LOGWARDEN_NO_ISAL").is_some() {
        return;
    }
    // Header and library from the same prefix: a header of another version would give the
    // shim another layout of `struct inflate_state` than the library's.
    let found = PREFIXES.iter().find_map(|&(include, libs)| {
        let header = Path::new(include).join("isa-l/igzip_lib.h");
        let lib = libs
            .iter()
            .find(|dir| Path::new(dir).join("libisal.so").exists())?;
        header.exists().then_some((include, *lib, header))
    });
    let Some((include, lib, header)) = found else {
        return;
    };
    // Only paths that exist: cargo reruns the script on every build for a missing one.
    println!("cargo::rerun-if-changed={}", header.display());
    let mut build = cc::Build::new();
    build
        .file("src/input/isal_shim.c")
        .opt_level(2)
        .warnings(true);
    if include != "/usr/include" {
        build.include(include);
    }
    let built = build.try_compile("logwarden_isal_shim");
    if let Err(e) = built {
        println!("cargo::warning=ISA-L shim not built ({e}); gzip uses zlib-rs");
        return;
    }
    println!("cargo::rustc-link-search=native={lib}");
    println!("cargo::rustc-link-lib=isal");
    println!("cargo::rustc-cfg=isal");
}
