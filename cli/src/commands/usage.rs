//! clap's argument errors as the command's usage errors: exit code 2 always, the documented
//! `{"error", "exit_code"}` object with `--json`, and a missing `--dir` naming `BITGASK_DIR`.

use std::ffi::OsString;

use clap::error::ErrorKind;

use super::error::exit;

/// What the command prints for a clap error, and the exit code; `None`: let clap print it (help
/// and version, which are not errors, and errors it words as the command would).
pub fn render(e: &clap::Error, json: bool) -> Option<(String, i32)> {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => return None,
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand if !json => return None,
        _ => {}
    }
    let plain = e.render().to_string();
    let text = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        "error: a subcommand is required\n".to_string()
    } else {
        mention_env(&plain)
    };
    if !json && text == plain {
        return None; // clap prints it, styled for a terminal, and exits with 2
    }
    let shown = if json {
        serde_json::json!({"error": summary(&text), "exit_code": exit::USAGE}).to_string() + "\n"
    } else {
        text
    };
    Some((shown, exit::USAGE))
}

/// Whether `--json` is among the arguments (before a `--`): the error may come before clap has
/// parsed it.
pub fn json_requested<I: IntoIterator<Item = OsString>>(args: I) -> bool {
    args.into_iter().skip(1).take_while(|a| a != "--").any(|a| a == "--json")
}

/// clap lists a missing `--dir` without its environment variable.
fn mention_env(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_end() == "  --dir <DIR>" {
                "  --dir <DIR> (or the environment variable BITGASK_DIR)"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The error's first paragraph on one line, without clap's `error: ` (the usage line and the tip
/// about --help are for people).
fn summary(text: &str) -> String {
    let first = text.split("\n\n").next().unwrap_or(text);
    let first = first.strip_prefix("error: ").unwrap_or(first);
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn json_is_found_anywhere_before_a_double_dash() {
        assert!(json_requested(os(&["bitgask", "get", "--json"])));
        assert!(json_requested(os(&["bitgask", "--json", "get"])));
        assert!(!json_requested(os(&["bitgask", "get", "--", "--json"])));
        assert!(!json_requested(os(&["--json"])), "the program's own name does not count");
    }

    #[test]
    fn a_missing_dir_names_the_variable() {
        let text = "error: the following required arguments were not provided:\n  --dir <DIR>\n\nUsage: x\n";
        assert!(mention_env(text).contains("--dir <DIR> (or the environment variable BITGASK_DIR)\n"));
    }

    #[test]
    fn the_summary_is_the_first_paragraph_on_one_line() {
        let text = "error: the following required arguments were not provided:\n  --dir <DIR>\n  <KEY>\n\nUsage: x\n";
        assert_eq!(summary(text), "the following required arguments were not provided: --dir <DIR> <KEY>");
        assert_eq!(
            summary("error: unexpected argument '--x' found\n\n  tip: ...\n"),
            "unexpected argument '--x' found"
        );
    }
}
