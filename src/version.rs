//! The library's version: one definition for Rust callers ([`VERSION`]) and C callers
//! (`bitgask_version()` returns [`VERSION_NUL`]).

/// The library's version, "MAJOR.MINOR.PATCH": the string `bitgask_version()` gives C callers.
pub const VERSION: &str = match std::str::from_utf8(VERSION_NUL.as_bytes().split_at(VERSION_NUL.len() - 1).0) {
    Ok(v) => v,
    Err(_) => panic!("the package version is UTF-8"),
};

/// [`VERSION`] NUL-terminated, for C.
pub(crate) const VERSION_NUL: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_the_packages() {
        assert_eq!(VERSION, env!("CARGO_PKG_VERSION"));
        assert_eq!(VERSION_NUL, format!("{VERSION}\0"));
    }
}
