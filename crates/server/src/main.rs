//! `sextant -target=<targets> -signals=<signals> -config.file=<yaml> [-<yaml.path>=<value> ...]`

/// mimalloc instead of glibc malloc: queries allocate and free many sample vectors across
/// threads, where glibc's consolidation and arena locks cost a tenth of the time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sextant_server::run::main(std::env::args().skip(1).collect())
}
