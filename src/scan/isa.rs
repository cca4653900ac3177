//! Which instructions the hot loop may use. The loop is compiled twice: for baseline x86-64
//! and for x86-64-v3 (AVX2, BMI1/2, LZCNT, POPCNT, SSSE3, SSE4.1/4.2), picked per chunk at run
//! time ([`crate::agg::Aggregate::scan_chunk`]). Code inside takes a token whose type says
//! which build it is in, so the choice of a SIMD path is made at compile time.
//!
//! Invariant: a [`V3`] value exists only after the CPU was checked for every feature the v3
//! build enables ([`V3::detect`]), so code holding one may use them; the trait is sealed, so
//! no other type can say it holds them.

/// The instruction set a build of the hot loop targets. Sealed: only this module's two
/// tokens implement it, so no other crate can claim SSSE3 on a CPU without it (safe code
/// would then run instructions the CPU lacks).
pub trait Isa: Copy + sealed::Sealed {
    /// `pshufb` and the other SSSE3 instructions may be used.
    const SSSE3: bool;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Baseline {}
    impl Sealed for super::V3 {}
}

/// Baseline x86-64 (SSE2), or any other architecture.
#[derive(Debug, Clone, Copy)]
pub struct Baseline;

impl Isa for Baseline {
    const SSSE3: bool = false;
}

/// x86-64-v3, checked at run time.
#[derive(Debug, Clone, Copy)]
pub struct V3 {
    _checked: (),
}

impl Isa for V3 {
    const SSSE3: bool = true;
}

impl V3 {
    /// A token when this CPU has every feature of the v3 build (std caches the answers: a
    /// few loads per call).
    pub fn detect() -> Option<V3> {
        #[cfg(target_arch = "x86_64")]
        {
            let all = std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("bmi1")
                && std::is_x86_feature_detected!("bmi2")
                && std::is_x86_feature_detected!("lzcnt")
                && std::is_x86_feature_detected!("popcnt")
                && std::is_x86_feature_detected!("ssse3")
                && std::is_x86_feature_detected!("sse4.1")
                && std::is_x86_feature_detected!("sse4.2");
            if all {
                return Some(V3 { _checked: () });
            }
        }
        None
    }
}
