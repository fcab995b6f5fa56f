//! The Dropbox content hash: SHA-256 over the concatenated SHA-256 digests of each
//! 4 MiB block, so a file can be checked block by block without holding it whole.

use sha2::{Digest, Sha256};

/// Size of one hashed block.
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// Incremental content hasher: feed it bytes in pieces of any size.
///
/// It keeps the digests of the whole blocks it has seen (32 bytes per 4 MiB), so that a
/// resumable upload can store them and carry on later: [`ContentHasher::resume`] with the
/// stored digests, then the bytes of the unfinished block again.
#[derive(Clone, Default)]
pub struct ContentHasher {
    digests: Vec<u8>,
    block: Sha256,
    in_block: usize,
}

impl ContentHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// A hasher that has seen whole blocks with these concatenated digests (as
    /// [`ContentHasher::block_digests`] gave them) and nothing of the next block.
    pub fn resume(digests: Vec<u8>) -> Self {
        ContentHasher {
            digests,
            ..Self::default()
        }
    }

    /// The concatenated digests of the whole blocks seen so far.
    pub fn block_digests(&self) -> &[u8] {
        &self.digests
    }

    /// The digests of every block, the unfinished one finished: `resume` with these,
    /// then `finalize`, gives this hasher's hash.
    pub fn into_block_digests(mut self) -> Vec<u8> {
        if self.in_block > 0 {
            self.finish_block();
        }
        self.digests
    }

    /// How many bytes of the unfinished block it has seen.
    pub fn in_block(&self) -> usize {
        self.in_block
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
        self.digests.extend_from_slice(&digest);
        self.in_block = 0;
    }

    /// The lower-case hex hash of everything fed so far.
    pub fn finalize(mut self) -> String {
        if self.in_block > 0 {
            self.finish_block();
        }
        hex::encode(Sha256::digest(&self.digests))
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

    #[test]
    fn resumed_from_block_digests_equals_whole() {
        let data: Vec<u8> = (0..(BLOCK_SIZE * 2 + 99))
            .map(|i| (i % 253) as u8)
            .collect();
        let cut = BLOCK_SIZE + 5;
        let mut first = ContentHasher::new();
        first.update(&data[..cut]);
        assert_eq!(first.in_block(), 5);
        let mut resumed = ContentHasher::resume(first.block_digests().to_vec());
        resumed.update(&data[cut - first.in_block()..]);
        assert_eq!(resumed.finalize(), content_hash(&data));
    }
}
