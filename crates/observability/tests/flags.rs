//! `bool_flag` as a clap value parser, from arguments and from the environment.

use clap::{ArgAction, Parser};
use observability::flags::{bool_flag, parse_bool};

/// The services' form: a `bool` field is a switch (`--migrate-only`), and the environment
/// variable's value goes through `bool_flag`.
#[derive(Parser, Debug)]
struct Switches {
    #[arg(long, env = "OBS_TEST_RUN_MIGRATIONS", default_value = "1", value_parser = bool_flag)]
    run_migrations: bool,
    #[arg(long, env = "OBS_TEST_MIGRATE_ONLY", default_value = "0", value_parser = bool_flag)]
    migrate_only: bool,
}

/// With `action = Set` the option takes a value too (`--migrate-only off`).
#[derive(Parser, Debug)]
struct Valued {
    #[arg(long, env = "OBS_TEST_VALUED", default_value = "0", value_parser = bool_flag, action = ArgAction::Set)]
    migrate_only: bool,
}

#[test]
fn clap_switches_read_the_environment_strictly() {
    let cli = Switches::try_parse_from(["x"]).unwrap();
    assert!(cli.run_migrations);
    assert!(!cli.migrate_only);
    let cli = Switches::try_parse_from(["x", "--migrate-only"]).unwrap();
    assert!(cli.migrate_only);

    // This is the only test in this binary touching these variables.
    std::env::set_var("OBS_TEST_RUN_MIGRATIONS", " No ");
    let cli = Switches::try_parse_from(["x"]).unwrap();
    assert!(!cli.run_migrations);
    std::env::set_var("OBS_TEST_RUN_MIGRATIONS", "nah");
    let msg = Switches::try_parse_from(["x"]).unwrap_err().to_string();
    // clap names the option (whose help shows the variable), not the variable itself.
    assert!(msg.contains("--run-migrations"), "{msg}");
    assert!(msg.contains("nah"), "{msg}");
    assert!(msg.contains("1, true, yes, on, 0, false, no, off"), "{msg}");
    std::env::remove_var("OBS_TEST_RUN_MIGRATIONS");
}

#[test]
fn clap_valued_options_parse_strictly() {
    let cli = Valued::try_parse_from(["x"]).unwrap();
    assert!(!cli.migrate_only);
    let cli = Valued::try_parse_from(["x", "--migrate-only", "ON"]).unwrap();
    assert!(cli.migrate_only);
    let cli = Valued::try_parse_from(["x", "--migrate-only=off"]).unwrap();
    assert!(!cli.migrate_only);
    let msg = Valued::try_parse_from(["x", "--migrate-only", "maybe"])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("--migrate-only"), "{msg}");
    assert!(msg.contains("maybe"), "{msg}");
}

#[test]
fn parse_bool_error_names_variable_and_values() {
    assert_eq!(parse_bool("ANIP_X", "TRUE"), Ok(true));
    assert_eq!(parse_bool("ANIP_X", " 0 "), Ok(false));
    let msg = parse_bool("ANIP_X", "2").unwrap_err().to_string();
    assert_eq!(
        msg,
        "invalid value \"2\" for ANIP_X: expected one of 1, true, yes, on, 0, false, no, off (case-insensitive)"
    );
}
