//! Password hashing with argon2id at OWASP's minimum cost (m = 19 MiB, t = 2, p = 1), on a
//! few threads of its own, each with its working memory allocated once.

use std::sync::{Arc, Mutex};

use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Runs hashes and verifications on one thread per CPU. Each takes 19 MiB while it runs:
/// on tokio's blocking pool (up to 512 threads) a few hundred parallel logins or
/// registrations took gigabytes, and even run a few at a time, every hash left its
/// 19 MiB behind in the allocator (measured: 30 logins, 445 MiB). Here each worker keeps
/// one buffer for all its hashes, so hashing takes at most 19 MiB per CPU, however many
/// requests queue. Database calls stay on the blocking pool, off this queue, so a flood
/// of logins never stalls the rest of the API behind it.
pub struct HashQueue {
    jobs: std::sync::mpsc::Sender<Job>,
}

/// A job gets its worker's argon2 memory.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// The queue's workers are gone (they cannot be, short of failing to start).
#[derive(Debug, thiserror::Error)]
#[error("the password hashing queue is gone")]
pub struct QueueGone;

impl HashQueue {
    /// One worker per CPU the process may use.
    pub fn per_cpu() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_workers(cpus)
    }

    pub fn with_workers(workers: usize) -> Self {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..workers.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&queue));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        HashQueue { jobs }
    }

    /// A PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<Result<String, String>, QueueGone> {
        self.run(move |mem| hash_with(&password, mem)).await
    }

    /// True when `password` matches `phc`; `None` checks against a dummy hash, so that an
    /// unknown e-mail costs the same time as a wrong password.
    pub async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, QueueGone> {
        self.run(move |mem| match phc {
            Some(phc) => verify_with(&password, &phc, mem),
            None => {
                let dummy = dummy_hash(mem).to_string();
                verify_with(&password, &dummy, mem);
                false
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, QueueGone> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |mem| {
                let _ = tx.send(f(mem));
            }))
            .map_err(|_| QueueGone)?;
        rx.await.map_err(|_| QueueGone)
    }
}

/// A worker: takes jobs until the queue is dropped.
fn work(queue: &Mutex<std::sync::mpsc::Receiver<Job>>) {
    let mut mem = Memory::default();
    loop {
        // The lock is held only while waiting for the next job.
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A panicking job drops its reply (its caller gets `QueueGone`); the worker lives on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut mem)));
    }
}

/// A worker's argon2 working memory, allocated at its first hash and kept.
#[derive(Default)]
pub struct Memory(Vec<Block>);

impl Memory {
    /// At least `blocks` blocks.
    fn blocks(&mut self, blocks: usize) -> &mut [Block] {
        if self.0.len() < blocks {
            self.0 = vec![Block::default(); blocks];
        }
        &mut self.0[..blocks]
    }
}

fn params() -> Params {
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`). CPU-heavy: call off async workers.
pub fn hash(password: &str) -> Result<String, String> {
    hash_with(password, &mut Memory::default())
}

/// The raw argon2 output of `out_len` bytes, in `mem`.
fn compute(
    (algorithm, version, params): (Algorithm, Version, &Params),
    password: &str,
    salt: argon2::password_hash::Salt<'_>,
    out_len: usize,
    mem: &mut Memory,
) -> Result<Output, argon2::password_hash::Error> {
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let argon = Argon2::new(algorithm, version, params.clone());
    let blocks = mem.blocks(params.block_count());
    Output::init_with(out_len, |out| {
        argon
            .hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, blocks)
            .map_err(Into::into)
    })
}

fn hash_with(password: &str, mem: &mut Memory) -> Result<String, String> {
    let params = params();
    let salt = SaltString::generate(&mut OsRng);
    let out_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let how = (Algorithm::Argon2id, Version::V0x13, &params);
    let output = compute(how, password, salt.as_salt(), out_len, mem).map_err(|e| e.to_string())?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// True when `password` matches `phc`. CPU-heavy: call off async workers.
pub fn verify(password: &str, phc: &str) -> bool {
    verify_with(password, phc, &mut Memory::default())
}

/// Recomputes the hash with the parameters stored in `phc` (an older cost, too) and
/// compares in constant time.
fn verify_with(password: &str, phc: &str, mem: &mut Memory) -> bool {
    let mut check = || -> Result<bool, argon2::password_hash::Error> {
        let parsed = PasswordHash::new(phc)?;
        let algorithm = Algorithm::try_from(parsed.algorithm)?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let params = Params::try_from(&parsed)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Ok(false);
        };
        let computed = compute(
            (algorithm, version, &params),
            password,
            salt,
            expected.len(),
            mem,
        )?;
        // `Output`'s equality is constant-time.
        Ok(computed == expected)
    };
    check().unwrap_or(false)
}

/// A hash to verify against when the e-mail is unknown, so that an unknown e-mail costs
/// the same time as a wrong password and timing tells nothing. Made on first use.
fn dummy_hash(mem: &mut Memory) -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_with("dbx-dummy-password", mem).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_with_argon2id_at_owasp_cost_and_verifies() {
        let phc = hash("correct horse").unwrap_or_default();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse", &phc));
        assert!(!verify("wrong horse", &phc));
        assert!(!verify("x", "not a hash"));
        // Hashes made by argon2's own API (the server's before this queue) still verify.
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let old = Argon2::default()
            .hash_password(b"legacy pw", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(verify("legacy pw", &old));
        assert!(!verify("legacy px", &old));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_queue_runs_no_more_than_its_slots_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let queue = Arc::new(HashQueue::with_workers(2));
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (queue, now, peak) = (queue.clone(), now.clone(), peak.clone());
                tokio::spawn(async move {
                    queue
                        .run(move |_| {
                            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(n, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            now.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert!(matches!(t.await, Ok(Ok(()))));
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }
}
