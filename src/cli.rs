//! The command line: `serve`, `check-config`, and the dev tools
//! `listen` and `verify`. Errors are one clear
//! line on stderr and a non-zero exit, never a panic.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Parser)]
#[command(
    name = "hookd",
    version,
    about = "Webhook delivery daemon with embedded storage"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (built-in defaults when no config file is given).
    Serve {
        /// The TOML config file.
        #[arg(long, env = "HOOKD_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Validate a config file and exit (non-zero with a message on any error).
    CheckConfig {
        #[arg(long, env = "HOOKD_CONFIG")]
        config: PathBuf,
    },
    /// Receive webhooks locally, verify their signatures and print each event.
    Listen {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 9000)]
        port: u16,
        /// The webhook's secret (`whsec_...`), to verify signatures.
        #[arg(long)]
        secret: Option<String>,
        /// Answer every request with this status (rehearse failures with 500, 410, ...).
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(100..=599))]
        status: u16,
    },
    /// Check one captured request: `hookd verify --secret S --header 'k: v'... < body`.
    Verify {
        #[arg(long)]
        secret: String,
        /// A request header as `name: value`; repeat for each.
        #[arg(long = "header", short = 'H')]
        headers: Vec<String>,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config),
        Command::Verify { secret, headers } => crate::devtools::verify::run(&secret, &headers),
        Command::Listen {
            port,
            secret,
            status,
        } => {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(crate::devtools::listen::run(port, secret, status)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOOKD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: journald and log files get plain text.
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn serve(path: Option<PathBuf>) -> ExitCode {
    init_logging();
    let config = match &path {
        Some(p) => Config::load(p),
        None => Config::parse(""),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    crate::ops::alloc::start_purger();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(crate::ops::alloc::collect_on_park)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::daemon::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
