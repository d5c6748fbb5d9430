//! Strict boolean flags.
//!
//! Environment flags accept exactly `1`, `true`, `yes`, `on` (true) and `0`, `false`, `no`, `off`
//! (false), case-insensitively and ignoring surrounding whitespace. Anything else is an error
//! rather than a silent `false`.

/// The accepted spellings, as shown in error messages.
pub const ACCEPTED: &str = "1, true, yes, on, 0, false, no, off (case-insensitive)";

/// A flag value that is not one of the accepted spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for {var}: expected one of {ACCEPTED}")]
pub struct FlagError {
    /// The variable (or option) the value was given for.
    pub var: String,
    /// The value as given.
    pub value: String,
}

/// Parses `value` as a boolean without naming a variable; `None` when it is not an accepted
/// spelling.
fn parse(value: &str) -> Option<bool> {
    let value = value.trim();
    const TRUE: [&str; 4] = ["1", "true", "yes", "on"];
    const FALSE: [&str; 4] = ["0", "false", "no", "off"];
    if TRUE.iter().any(|t| value.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|f| value.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

/// Parses the value of the environment variable (or option) `var_name`.
///
/// Accepts `1`/`true`/`yes`/`on` and `0`/`false`/`no`/`off`, case-insensitively and trimmed;
/// anything else (including the empty string) is a [`FlagError`] naming `var_name` and the
/// accepted values.
pub fn parse_bool(var_name: &str, value: &str) -> Result<bool, FlagError> {
    parse(value).ok_or_else(|| FlagError {
        var: var_name.to_owned(),
        value: value.to_owned(),
    })
}

/// A clap value parser for boolean flags with the same rules as [`parse_bool`].
///
/// Use as `#[arg(long, env = "X", default_value = "0", value_parser = observability::flags::bool_flag)]`.
/// On a `bool` field clap makes that a switch (`--x` alone means true) and runs the variable's
/// value through this parser; add `action = clap::ArgAction::Set` to also accept `--x off`.
/// clap's error names the option (`invalid value 'nah' for '--x': expected one of …`), whose
/// `--help` line shows the variable.
pub fn bool_flag(s: &str) -> Result<bool, String> {
    parse(s).ok_or_else(|| format!("expected one of {ACCEPTED}"))
}

/// A clap value parser for the boolean variable `var`: like [`bool_flag`], but its error names
/// the environment variable, which is what an operator set.
///
/// Use as `#[arg(long, env = "X", value_parser = observability::flags::bool_env("X"))]`.
pub fn bool_env(
    var: &'static str,
) -> impl Fn(&str) -> Result<bool, String> + Clone + Send + Sync + 'static {
    move |s: &str| parse(s).ok_or_else(|| format!("{var} must be one of {ACCEPTED}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_spelling_case_insensitively_and_trimmed() {
        for v in [
            "1", "true", "TRUE", "True", "yes", "YES", "on", "On", " true ", "\t1\n",
        ] {
            assert_eq!(parse_bool("X", v), Ok(true), "{v:?}");
        }
        for v in [
            "0", "false", "FALSE", "no", "No", "off", "OFF", " off ", "\n0",
        ] {
            assert_eq!(parse_bool("X", v), Ok(false), "{v:?}");
        }
    }

    #[test]
    fn rejects_anything_else_naming_the_variable() {
        for v in [
            "", " ", "2", "-1", "y", "n", "t", "f", "enabled", "truee", "o n",
        ] {
            let err = parse_bool("ANIP_FLAG", v).expect_err(v);
            let msg = err.to_string();
            assert!(msg.contains("ANIP_FLAG"), "{msg}");
            assert!(msg.contains("1, true, yes, on, 0, false, no, off"), "{msg}");
            assert_eq!(err.value, v);
        }
    }

    #[test]
    fn bool_env_names_the_variable() {
        let parse = bool_env("STUDIO_READ_ONLY");
        assert_eq!(parse("on"), Ok(true));
        let err = parse("maybe").expect_err("maybe is not a flag");
        assert!(err.contains("STUDIO_READ_ONLY"), "{err}");
    }

    #[test]
    fn bool_flag_matches_parse_bool() {
        assert_eq!(bool_flag("Yes"), Ok(true));
        assert_eq!(bool_flag("off"), Ok(false));
        let err = bool_flag("maybe").expect_err("maybe is not a flag");
        assert!(err.contains("true"), "{err}");
    }
}
