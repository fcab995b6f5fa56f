//! The Dropbox content hash: SHA-256 over the concatenated SHA-256 digests of each
//! 4 MiB block, so a file can be checked block by block without holding it whole.

use sha2::{Digest, Sha256};

/// Size of one hashed block.
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// Incremental content hasher: feed it bytes in pieces of any size.
#[derive(Clone, Default)]
pub struct ContentHasher {
    overall: Sha256,
    block: Sha256,
    in_block: usize,
}

impl ContentHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = (BLOCK_SIZE - self.in_block).min(data.len());
            self.block.update(&data[..take]);
            self.in_block += take;
            data = &data[take..];
            if self.in_block == BLOCK_SIZE {
                self.finish_block();
            }
        }
    }

    fn finish_block(&mut self) {
        let digest = std::mem::take(&mut self.block).finalize();
        self.overall.update(digest);
        self.in_block = 0;
    }

    /// The lower-case hex hash of everything fed so far.
    pub fn finalize(mut self) -> String {
        if self.in_block > 0 {
            self.finish_block();
        }
        hex::encode(self.overall.finalize())
    }
}

/// Hash of a whole buffer in one call.
pub fn content_hash(data: &[u8]) -> String {
    let mut h = ContentHasher::new();
    h.update(data);
    h.finalize()
}

/// True when `s` has the shape of a content hash (64 hex digits).
pub fn is_valid(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_hashes_to_sha256_of_nothing() {
        // No blocks at all: the outer hash is over an empty string.
        assert_eq!(
            content_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn small_input_is_hash_of_hash() {
        let inner = Sha256::digest(b"hello");
        let outer = hex::encode(Sha256::digest(inner));
        assert_eq!(content_hash(b"hello"), outer);
    }

    #[test]
    fn piecewise_equals_whole_across_block_boundary() {
        let data: Vec<u8> = (0..(BLOCK_SIZE * 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut h = ContentHasher::new();
        for chunk in data.chunks(65_537) {
            h.update(chunk);
        }
        let whole = content_hash(&data);
        assert_eq!(h.finalize(), whole);
        let mut blocks = Sha256::new();
        for block in data.chunks(BLOCK_SIZE) {
            blocks.update(Sha256::digest(block));
        }
        assert_eq!(whole, hex::encode(blocks.finalize()));
    }
}
