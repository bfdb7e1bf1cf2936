//! Read-only memory maps of index files, and `f32` views into them.
//!
//! One of the two modules of the crate allowed to use `unsafe` (the other is `simd`).
#![allow(unsafe_code)]

use std::fs::File;
use std::sync::Arc;

/// A whole index file mapped read-only.
#[derive(Debug)]
pub(crate) struct MappedFile {
    map: memmap2::Mmap,
}

impl MappedFile {
    /// Maps `file` read-only.
    pub(crate) fn map(file: &File) -> std::io::Result<Arc<Self>> {
        // SAFETY: the mapping is read-only and private to this process. Its contents could
        // change under us only if another process rewrote the file in place; Prism never
        // does (`Index::save` writes a temporary file and renames it over the old one, so a
        // mapping keeps the old inode), and the file's documentation says not to.
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(Arc::new(MappedFile { map }))
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// `len` little-endian `f32`s stored at byte `offset` of a mapped file.
#[derive(Debug, Clone)]
pub(crate) struct MappedF32 {
    file: Arc<MappedFile>,
    offset: usize,
    len: usize,
}

impl MappedF32 {
    /// The view, or `None` when the range is out of the file, misaligned, or the machine is
    /// big-endian (callers then copy and convert instead).
    pub(crate) fn new(file: Arc<MappedFile>, offset: usize, len: usize) -> Option<Self> {
        let end = offset.checked_add(len.checked_mul(4)?)?;
        if cfg!(target_endian = "big") || end > file.bytes().len() {
            return None;
        }
        let ptr = file.bytes()[offset..].as_ptr();
        if ptr.align_offset(std::mem::align_of::<f32>()) != 0 {
            return None;
        }
        Some(MappedF32 { file, offset, len })
    }

    /// The floats.
    pub(crate) fn as_slice(&self) -> &[f32] {
        let bytes = &self.file.bytes()[self.offset..self.offset + self.len * 4];
        // SAFETY: every bit pattern is a valid `f32`, the bytes live as long as `self.file`
        // (borrowed through `&self`), and `new` checked that the start is aligned for `f32`
        // and the machine is little-endian, so the prefix is empty and the middle part holds
        // all `len` floats in file order.
        let (prefix, floats, _) = unsafe { bytes.align_to::<f32>() };
        debug_assert!(prefix.is_empty());
        floats
    }
}
