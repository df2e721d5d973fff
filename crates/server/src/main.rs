//! `sextant -target=<targets> -signals=<signals> -config.file=<yaml> [-<yaml.path>=<value> ...]`

fn main() -> std::process::ExitCode {
    sextant_server::run::main(std::env::args().skip(1).collect())
}
