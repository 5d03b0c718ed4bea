//! What every command shares about output: `--json`, stdout, progress bars on stderr.

use std::io::{self, BufWriter, IsTerminal, Stdout, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// Global output settings.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub json: bool,
    /// Progress may be drawn: stderr is a terminal and `--no-progress` was not given.
    pub progress: bool,
}

impl Ctx {
    pub fn new(json: bool, no_progress: bool) -> Ctx {
        Ctx { json, progress: !no_progress && io::stderr().is_terminal() }
    }

    /// A spinner with elapsed time for work whose size is unknown; hidden when piped.
    pub fn spinner(&self, msg: impl Into<String>) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"));
        pb.set_message(msg.into());
        pb.enable_steady_tick(Duration::from_millis(100));
        pb
    }

    /// A bar of `len` units; hidden when piped, or when `stdout_busy` (records stream to a
    /// terminal's stdout, which the bar would garble).
    pub fn bar(&self, len: u64, msg: impl Into<String>, bytes: bool, stdout_busy: bool) -> ProgressBar {
        if !self.progress || (stdout_busy && io::stdout().is_terminal()) {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let counts = if bytes { "{bytes}/{total_bytes}" } else { "{human_pos}/{human_len}" };
        let tpl = format!("{{msg}} [{{bar:40}}] {counts} ({{eta}})");
        pb.set_style(ProgressStyle::with_template(&tpl).expect("valid template").progress_chars("=> "));
        pb.set_message(msg.into());
        pb
    }
}

/// Buffered stdout; flush it before returning (errors surface there).
pub fn stdout() -> BufWriter<Stdout> {
    BufWriter::with_capacity(64 << 10, io::stdout())
}

/// Writes one JSON value on its own line.
pub fn json_line(out: &mut impl Write, v: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, v)?;
    out.write_all(b"\n")
}

/// Prints one JSON object (and flushes).
pub fn print_json(v: &Value) -> io::Result<()> {
    let mut out = stdout();
    json_line(&mut out, v)?;
    out.flush()
}

/// Prints text (and flushes).
pub fn print_text(s: &str) -> io::Result<()> {
    let mut out = stdout();
    out.write_all(s.as_bytes())?;
    out.flush()
}
