//! Everything that touches files: data files, the lock, scans and fs helpers.

pub mod active_map;
pub mod batch_scan;
pub mod datafile;
pub mod fault;
pub mod fs;
pub mod growth;
pub mod lock;
pub mod scan;
