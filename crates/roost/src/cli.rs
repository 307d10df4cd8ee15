//! The command line: `roost serve` and `roost config check`, with one flag per
//! catalogue setting. Built with clap's builder API from the catalogue so the
//! flags, their help and the documentation cannot drift apart.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Arg, ArgMatches, Command};

use crate::config::{Config, ConfigError, Layers, SETTINGS};

/// What the user asked for.
#[derive(Debug)]
pub enum Invocation {
    Serve(Layers),
    ConfigCheck(Layers),
}

pub fn command() -> Command {
    let with_settings =
        |cmd: Command| {
            let cmd =
                cmd.arg(Arg::new("config").long("config").value_name("FILE").help(
                    "configuration file (default: ./roost.toml when present; env ROOST_CONFIG)",
                ));
            SETTINGS.iter().fold(cmd, |cmd, s| {
                let help = if s.default.is_empty() {
                    format!("{} [env {}]", s.help, s.env)
                } else {
                    format!("{} [env {}] [default {}]", s.help, s.env, s.default)
                };
                cmd.arg(
                    Arg::new(s.key)
                        .long(s.flag())
                        .value_name("VALUE")
                        .help(help),
                )
            })
        };
    Command::new("roost")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Roost: a distributed caching tier (REST API, embedded sharded store)")
        .after_help(
            "Configuration precedence: defaults < roost.toml < environment (and .env) < flags.\n\
             See docs/configuration.md for every key.",
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(with_settings(
            Command::new("serve").about("run the cache gateway until SIGINT or SIGTERM"),
        ))
        .subcommand(
            Command::new("config")
                .about("inspect configuration")
                .subcommand_required(true)
                .subcommand(with_settings(Command::new("check").about(
                    "print the effective configuration, or say which value is wrong and why",
                ))),
        )
}

/// Parses the command line and gathers the configuration layers.
pub fn parse(env: &HashMap<String, String>) -> Result<Invocation, CliError> {
    let matches = command().get_matches();
    match matches.subcommand() {
        Some(("serve", m)) => Ok(Invocation::Serve(layers(m, env)?)),
        Some(("config", m)) => match m.subcommand() {
            Some(("check", m)) => Ok(Invocation::ConfigCheck(layers(m, env)?)),
            _ => unreachable!("clap enforces a config subcommand"),
        },
        _ => unreachable!("clap enforces a subcommand"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("config file {0} does not exist")]
    MissingFile(String),
}

fn layers(m: &ArgMatches, env: &HashMap<String, String>) -> Result<Layers, CliError> {
    let explicit = m
        .get_one::<String>("config")
        .cloned()
        .or_else(|| env.get("ROOST_CONFIG").cloned())
        .map(PathBuf::from);
    let mut layers = Layers::defaults();
    match explicit {
        Some(path) if !path.exists() => {
            return Err(CliError::MissingFile(path.display().to_string()))
        }
        Some(path) => layers = layers.with_file(&path)?,
        None if std::path::Path::new("roost.toml").exists() => {
            layers = layers.with_file(std::path::Path::new("roost.toml"))?
        }
        None => {}
    }
    let flags: Vec<(&'static str, String)> = SETTINGS
        .iter()
        .filter_map(|s| m.get_one::<String>(s.key).map(|v| (s.key, v.clone())))
        .collect();
    Ok(layers.with_env(env).with_flags(&flags))
}

/// The text `roost config check` prints for a valid configuration.
pub fn describe(layers: &Layers, config: &Config) -> String {
    let mut out = String::from("configuration is valid\n\n");
    for (env, value, origin) in layers.describe() {
        out.push_str(&format!("{env:<28} {value:<24} ({origin})\n"));
    }
    out.push_str(&format!("\nbackend: {}\n", config.backend.summary()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_a_flag_on_both_subcommands() {
        command().debug_assert();
        let cmd = command();
        let serve = cmd.find_subcommand("serve").expect("serve exists");
        for s in SETTINGS {
            assert!(
                serve
                    .get_arguments()
                    .any(|a| a.get_long() == Some(s.flag().as_str())),
                "missing --{}",
                s.flag()
            );
        }
    }
}
