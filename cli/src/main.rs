//! `bitgask`: operate bitgask databases from the shell.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "bitgask", about = "Operate bitgask databases", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the library version.
    Version,
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => println!("bitgask {}", env!("CARGO_PKG_VERSION")),
    }
}
