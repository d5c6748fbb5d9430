//! Reading a local file with a size limit: bundle files and publish requests. The limit is the
//! one a Registry response has, so a file is never more trusted than a network body.

use std::io::Read;
use std::path::Path;

use crate::client::DEFAULT_MAX_RESPONSE_BYTES;
use crate::RegistryError;

/// The largest file [`read_file_limited`] reads by default (as [`DEFAULT_MAX_RESPONSE_BYTES`]).
pub const DEFAULT_MAX_FILE_BYTES: usize = DEFAULT_MAX_RESPONSE_BYTES;

/// Reads the regular file at `path` (symlinks are followed) into memory, refusing anything
/// larger than `limit` bytes.
///
/// A directory, device (`/dev/zero`), FIFO or socket is refused before it is opened, so such a
/// path neither blocks nor streams forever. At most `limit + 1` bytes are read even when the
/// file grows while it is read (or reports a size of 0, as `/proc` files do).
pub fn read_file_limited(path: &Path, limit: usize) -> Result<Vec<u8>, RegistryError> {
    let io = |source| RegistryError::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(io)?;
    check_regular(path, &metadata)?;
    if metadata.len() > limit as u64 {
        return Err(too_large(path, limit));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    // The path may have been replaced between the check and the open: check what was opened.
    check_regular(path, &file.metadata().map_err(io)?)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() > limit {
        return Err(too_large(path, limit));
    }
    Ok(bytes)
}

fn too_large(path: &Path, limit: usize) -> RegistryError {
    RegistryError::FileTooLarge {
        path: path.to_owned(),
        limit,
    }
}

fn check_regular(path: &Path, metadata: &std::fs::Metadata) -> Result<(), RegistryError> {
    let file_type = metadata.file_type();
    if file_type.is_file() {
        return Ok(());
    }
    Err(RegistryError::NotAFile {
        path: path.to_owned(),
        kind: kind_of(&file_type),
    })
}

#[cfg(unix)]
fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(not(unix))]
fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}
