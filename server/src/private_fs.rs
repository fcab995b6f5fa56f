//! Files only the server's own user may read: the data dir is 0700, the database, blobs
//! and the JWT secret 0600, whatever the umask. The data dir holds every user's files and
//! the key that signs their sessions.

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode 0700, and takes group and other access
/// away from an existing one.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    tighten(dir, DIR_MODE)
}

/// Creates an empty `file` with mode 0600 unless it exists, and takes group and other
/// access away from an existing one. For files another library creates (SQLite's
/// database, whose `-wal` and `-shm` files copy its mode).
pub fn create_file(file: &Path) -> io::Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(file)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => tighten(file, FILE_MODE),
        Err(e) => Err(e),
    }
}

/// Sets `mode` on `path` when its group or other bits are set.
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            from = format!("{current:o}"),
            to = format!("{mode:o}"),
            "others could read the server's data: permissions tightened"
        );
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// The permission bits of `path`.
pub fn mode(path: &Path) -> io::Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_and_tightens_private_dirs_and_files() -> io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().join("a/b");
        create_dir(&dir)?;
        assert_eq!(mode(&dir)?, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        create_dir(&dir)?;
        assert_eq!(mode(&dir)?, 0o700);

        let file = dir.join("db");
        create_file(&file)?;
        assert_eq!(mode(&file)?, 0o600);
        std::fs::write(&file, b"keep me")?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
        create_file(&file)?;
        assert_eq!(mode(&file)?, 0o600);
        assert_eq!(
            std::fs::read(&file)?,
            b"keep me",
            "an existing file is kept"
        );
        Ok(())
    }
}
