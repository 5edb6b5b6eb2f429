//! The `flowgate` binary: parse, run, exit. Everything else is in the library.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = flowgate::cli::Cli::parse();
    // Only the check was measured to need it; `sample` pays for it (see below).
    if matches!(cli.command, flowgate::cli::Command::Check(_)) {
        give_freed_memory_back();
    }
    std::process::ExitCode::from(flowgate::cli::run(cli))
}

/// Fixes glibc malloc's mmap threshold at its documented default (128 KiB).
///
/// Left alone, glibc raises the threshold each time a mapped block is freed, up to 32 MiB, so
/// that later blocks up to that size come from its heaps, where a freed block stays in the
/// process. A check with many failing policies grows hash tables of several MiB by doubling
/// them: with the moving threshold the old tables stayed resident, ~90 MiB of the 299 MiB
/// peak of issue 21's set d on a week (docs/performance.md). With a fixed threshold every
/// large block is mapped on its own and given back when freed; the archives' buffers are
/// reused per worker, so no time was measured to go to mapping. Not for `sample`: its
/// per-archive buffers above 128 KiB were then mapped and unmapped for every archive (230,000
/// page faults on the bench week against 52,000, 3-9% more CPU; its memory is bounded by
/// its own caps).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn give_freed_memory_back() {
    use std::ffi::c_int;
    /// `M_MMAP_THRESHOLD` of glibc's `<malloc.h>`.
    const M_MMAP_THRESHOLD: c_int = -3;
    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }
    // SAFETY: glibc's mallopt takes two ints and changes only the allocator's tuning; it is
    // called before any other thread exists (parsing the arguments starts none). A refusal
    // (0) leaves the default behaviour.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_freed_memory_back() {}
