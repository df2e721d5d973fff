//! Command-line flags, Go style: `-name=value`, `--name=value`, `-name value`, `-bool`.

use std::path::PathBuf;

use super::ConfigError;

/// The parsed command line: where the file is, how to read it, and the flags that override it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigArgs {
    /// `-config.file`.
    pub config_file: Option<PathBuf>,
    /// `-config.expand-env`: expand `${VAR}` and `${VAR:default}` in the file.
    pub expand_env: bool,
    /// `-print.config`: print the effective config and exit.
    pub print_config: bool,
    /// Every other flag as (dotted YAML path with underscores, raw value), in command-line order.
    pub flags: Vec<(String, String)>,
}

/// Parses the arguments that follow the program name (`std::env::args().skip(1)`).
///
/// `-a.b-c.d=v` becomes the path `a.b_c.d`. A flag without `=` takes the next argument as its
/// value unless that argument is missing or is itself a flag, in which case the value is `true`
/// (so boolean flags work alone). `-help`/`-h` return [`ConfigError::Help`].
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<ConfigArgs, ConfigError> {
    let mut out = ConfigArgs::default();
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(ConfigError::BadFlag(format!(
                "unexpected argument {arg:?}: flags start with -"
            )));
        };
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (body, None),
        };
        if name.is_empty() {
            return Err(ConfigError::BadFlag(format!("bad flag syntax: {arg}")));
        }
        match name {
            "h" | "help" => return Err(ConfigError::Help),
            "print.config" => out.print_config = parse_bool(name, inline.as_deref())?,
            "config.expand-env" => out.expand_env = parse_bool(name, inline.as_deref())?,
            _ => {
                let value = match inline {
                    Some(value) => value,
                    None => match args.next_if(|next| !next.starts_with('-')) {
                        Some(value) => value,
                        None => "true".to_string(),
                    },
                };
                if name == "config.file" {
                    out.config_file = Some(PathBuf::from(value));
                } else {
                    out.flags.push((flag_to_path(name), value));
                }
            }
        }
    }
    Ok(out)
}

/// `a.b-c.d` → `a.b_c.d`.
pub(crate) fn flag_to_path(name: &str) -> String {
    name.replace('-', "_")
}

/// `a.b_c.d` → `-a.b-c.d`.
pub(crate) fn path_to_flag(path: &str) -> String {
    format!("-{}", path.replace('_', "-"))
}

fn parse_bool(name: &str, value: Option<&str>) -> Result<bool, ConfigError> {
    match value {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(ConfigError::BadFlag(format!(
            "invalid boolean value {other:?} for flag -{name}: use true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ConfigArgs, ConfigError> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    fn flags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flag_forms() {
        type Case<'a> = (&'a [&'a str], Vec<(String, String)>);
        let cases: &[Case<'_>] = &[
            (&["-target=all"], flags(&[("target", "all")])),
            (&["--target=all"], flags(&[("target", "all")])),
            (&["-target", "write"], flags(&[("target", "write")])),
            (
                &["-ingester.metrics.replication-factor=1"],
                flags(&[("ingester.metrics.replication_factor", "1")]),
            ),
            (
                &["-multitenancy-enabled"],
                flags(&[("multitenancy_enabled", "true")]),
            ),
            (
                &["-multitenancy-enabled", "-target=read"],
                flags(&[("multitenancy_enabled", "true"), ("target", "read")]),
            ),
            (
                &["-memberlist.advertise-address="],
                flags(&[("memberlist.advertise_address", "")]),
            ),
            (
                &["-signals=metrics,logs"],
                flags(&[("signals", "metrics,logs")]),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(&parse(args).unwrap().flags, want, "{args:?}");
        }
    }

    #[test]
    fn special_flags() {
        let a = parse(&[
            "-config.file",
            "x.yaml",
            "-config.expand-env",
            "-print.config=false",
        ])
        .unwrap();
        assert_eq!(a.config_file, Some(PathBuf::from("x.yaml")));
        assert!(a.expand_env);
        assert!(!a.print_config);
        assert!(a.flags.is_empty());
        let a = parse(&[
            "--config.file=y.yaml",
            "-print.config",
            "-config.expand-env=true",
        ])
        .unwrap();
        assert_eq!(a.config_file, Some(PathBuf::from("y.yaml")));
        assert!(a.print_config && a.expand_env);
    }

    #[test]
    fn errors() {
        assert!(matches!(parse(&["-help"]), Err(ConfigError::Help)));
        assert!(matches!(parse(&["-h"]), Err(ConfigError::Help)));
        assert!(matches!(
            parse(&["positional"]),
            Err(ConfigError::BadFlag(_))
        ));
        assert!(matches!(parse(&["-"]), Err(ConfigError::BadFlag(_))));
        assert!(matches!(
            parse(&["-print.config=maybe"]),
            Err(ConfigError::BadFlag(_))
        ));
    }

    #[test]
    fn flag_names_round_trip() {
        assert_eq!(path_to_flag(&flag_to_path("a.b-c.d")), "-a.b-c.d");
    }
}
