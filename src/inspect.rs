//! `validate` as the API offers it (docs/DESIGN.md section 8.2): a directory of the Go bitgask
//! (docs/DESIGN.md section 14.1) is reported as foreign, with its Go data files checked by
//! adopt's reader; any other directory is validated by `validate.rs`. Reads only.

use std::path::Path;

use crate::adopt::inspect;
use crate::error::Result;
use crate::foreign::{recognise, Ownership, ADOPT_TMP};
use crate::report::{ProblemKind, Report};

/// Reads a database and reports every problem; changes nothing. `Err` only when it cannot
/// read the database at all.
pub fn validate(path: impl AsRef<Path>) -> Result<Report> {
    let root = path.as_ref();
    if root.is_dir() {
        match recognise(root)? {
            Ownership::Ours => {}
            Ownership::Foreign(markers) => return inspect(root, &markers),
            Ownership::AdoptInterrupted => {
                let mut report = Report::default();
                let why = "an interrupted `bitgask adopt`; run it again (or open) to finish";
                report.add(ProblemKind::Foreign, format!("{ADOPT_TMP}/"), 0, 0, why);
                return Ok(report);
            }
        }
    }
    crate::validate::validate(root)
}
