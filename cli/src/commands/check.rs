//! validate, repair and adopt.

use bitgask::Report;

use super::db_args::{DbArgs, DirArg};
use super::error::{exit, CliError, CmdResult};
use super::output::{print_text, Ctx};

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub dir: DirArg,
}

/// Reads every file and reports problems; changes nothing and takes no lock. Exit code 3 when
/// the database is damaged.
pub fn validate(a: ValidateArgs, ctx: &Ctx) -> CmdResult {
    let pb = ctx.spinner(format!("validating {}", a.dir.dir.display()));
    let r = bitgask::validate(&a.dir.dir);
    pb.finish_and_clear();
    let r = r.map_err(|e| CliError::from(e).context(format!("validate {}", a.dir.dir.display())))?;
    show(&r, ctx)
}

#[derive(clap::Args, Debug)]
pub struct RepairArgs {
    #[command(flatten)]
    pub db: DbArgs,
}

/// Mends what validate reports (takes the LOCK: exit code 4 while the database is open
/// elsewhere). Exit code 3 when something could not be mended.
pub fn repair(a: RepairArgs, ctx: &Ctx) -> CmdResult {
    let opts = a.db.options()?;
    let pb = ctx.spinner(format!("repairing {}", a.db.dir.display()));
    let r = bitgask::repair(&a.db.dir, &opts);
    pb.finish_and_clear();
    let r = r.map_err(|e| CliError::from(e).context(format!("repair {}", a.db.dir.display())))?;
    show(&r, ctx)
}

#[derive(clap::Args, Debug)]
pub struct AdoptArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Skip damaged records and keys over the size limits, listing them, instead of refusing.
    #[arg(long)]
    pub salvage: bool,
    /// Delete the Go system's files once the adopted database is in place (kept in
    /// <dir>/go-original/ otherwise).
    #[arg(long)]
    pub discard_original: bool,
}

/// Converts the Go bitgask's database in place (see `bitgask adopt --help`).
pub fn adopt(a: AdoptArgs, ctx: &Ctx) -> CmdResult {
    let mut opts = a.db.options()?;
    opts.set_adopt_salvage(a.salvage).set_adopt_discard_original(a.discard_original);
    let pb = ctx.spinner(format!("adopting {}", a.db.dir.display()));
    let r = bitgask::adopt(&a.db.dir, &opts);
    pb.finish_and_clear();
    let r = r.map_err(|e| CliError::from(e).context(format!("adopt {}", a.db.dir.display())))?;
    show(&r, ctx)
}

fn show(r: &Report, ctx: &Ctx) -> CmdResult {
    if ctx.json {
        print_text(&format!("{}\n", r.json()))?;
    } else {
        print_text(&r.text())?;
    }
    Ok(if r.clean() { exit::OK } else { exit::CORRUPT })
}
