//! Reuse of the default network within one build: a pool of network namespaces that
//! already have their NAT program (`user_nat`) attached, like BuildKit's CNI provider
//! pools its namespaces. Starting a NAT program costs tens of milliseconds per step; a
//! reused namespace costs a `setns` in the init.
//!
//! The pool is open while at least one [`NetworkPoolScope`] lives (the engine holds one
//! per build). A default-network step takes a free namespace, or gets a fresh one when
//! none is free — so steps running at the same time never share one — and gives it back
//! once its init has been reaped. With the last scope gone, every pooled NAT program is
//! killed and reaped and its namespace released (the pool holds a namespace by an open
//! `/proc/<pid>/ns/net` descriptor only: no bind mount, no holder process, so a killed
//! rbuild leaves nothing mounted, and its NAT programs die by their parent-death signal).
//! Outside a scope every step gets a fresh namespace that is not kept.
//!
//! NAT programs for pooled namespaces are started by a thread the pool owns, because the
//! parent-death signal fires when the *thread* that forked the program ends, and a step's
//! thread may end before the build does.
//!
//! What one step can leave behind for the next, and why it is harmless:
//! - Processes and their sockets (listening ones, abstract unix sockets, connections): a
//!   namespace goes back only after the step's init was reaped, and the kernel reaps every
//!   process of a pid namespace before its init's exit completes, so none survive.
//!   Closed TCP connections may linger in TIME_WAIT; they refuse nothing a new step does.
//! - Addresses, routes, interface state, firewall rules, `net.*` sysctls: changing them
//!   needs `CAP_NET_ADMIN`, which no step has (`privileges` keeps Docker's default set;
//!   `RUN --security=insecure` is refused by the frontend, so no RUN mode grants more),
//!   and `/proc/sys` is read-only in the sandbox. `lo` is brought up by every init anyway.
//! - The neighbour cache (10.0.2.2 and 10.0.2.3, the NAT program's own addresses) and
//!   conntrack entries of finished flows: the same for every step and expiring on their
//!   own; there are no netfilter rules a stale entry could match.
//!
//! This module does not start or configure a NAT program (`user_nat`) nor decide which
//! steps use the default network (the spec).

use std::fs::File;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::error::SandboxError;
use crate::nat_helper::NatHelper;
use crate::user_nat::{StartingNat, UserNat};

/// A network namespace with its NAT program running; dropping it kills the program and
/// releases the namespace.
pub(crate) struct StepNetwork {
    /// Keeps the namespace alive and lets the next init `setns` into it.
    pub(crate) netns: File,
    nat: UserNat,
}

impl StepNetwork {
    fn usable(&mut self) -> bool {
        self.nat.running()
    }
}

/// The pool while it is open.
struct OpenPool {
    scopes: usize,
    free: Vec<StepNetwork>,
    starter: NatStarter,
}

static POOL: Mutex<Option<OpenPool>> = Mutex::new(None);

fn pool() -> MutexGuard<'static, Option<OpenPool>> {
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Keeps the pool open while it lives (one per build); the last one to go kills every
/// free pooled NAT program.
#[must_use = "the pool closes when the scope is dropped"]
pub struct NetworkPoolScope {
    _private: (),
}

impl NetworkPoolScope {
    pub fn open() -> NetworkPoolScope {
        let mut pool = pool();
        match pool.as_mut() {
            Some(open) => open.scopes += 1,
            None => {
                *pool = Some(OpenPool {
                    scopes: 1,
                    free: Vec::new(),
                    starter: NatStarter::spawn(),
                })
            }
        }
        NetworkPoolScope { _private: () }
    }
}

impl Drop for NetworkPoolScope {
    fn drop(&mut self) {
        let closed = {
            let mut pool = pool();
            match pool.as_mut() {
                Some(open) if open.scopes > 1 => {
                    open.scopes -= 1;
                    None
                }
                _ => pool.take(),
            }
        };
        // Outside the lock: killing and reaping takes a moment.
        if let Some(mut closed) = closed {
            let count = closed.free.len();
            for network in &mut closed.free {
                network.nat.signal_end();
            }
            reap_off_the_build_path(std::mem::take(&mut closed.free));
            drop(closed.starter);
            tracing::debug!(count, "network pool closed");
        }
    }
}

/// Reaps NAT programs that were sent their end. Each exit tears down a tap device, which
/// takes tens of milliseconds the build need not wait for: a thread waits for them (a
/// process that exits first leaves them to init, already killed). Inline when no thread
/// can be started.
fn reap_off_the_build_path(ending: Vec<StepNetwork>) {
    if ending.is_empty() {
        return;
    }
    // On a spawn error the closure, and with it `ending`, is dropped here: reaped inline.
    let _ = std::thread::Builder::new()
        .name("rbuild-nat-reaper".into())
        .spawn(move || drop(ending));
}

/// A free pooled network whose NAT program still runs, if the pool is open and has one;
/// without, the caller unshares a fresh namespace and `start`s its NAT program.
pub(crate) fn take_free() -> Option<StepNetwork> {
    loop {
        let mut network = pool().as_mut()?.free.pop()?;
        if network.usable() {
            return Some(network);
        }
        tracing::debug!("dropping a pooled network whose NAT program ended");
    }
}

/// Starts `helper` on `netns` — from the pool's own thread while the pool is open.
pub(crate) fn start(helper: &'static NatHelper, netns: File) -> Result<StepNetwork, SandboxError> {
    let starter = pool().as_ref().map(|open| open.starter.requests.clone());
    let nat = match starter {
        Some(requests) => NatStarter::start_on_thread(&requests, helper, &netns)?,
        None => UserNat::start(helper, &netns)?,
    };
    Ok(StepNetwork { netns, nat })
}

/// Returns a step's network once every process of the step is gone: to the pool when it
/// is open, else it is dropped (program killed, namespace released).
pub(crate) fn give_back(network: StepNetwork) {
    let mut pool = pool();
    if let Some(open) = pool.as_mut() {
        open.free.push(network);
    }
}

type StartRequest = (
    &'static NatHelper,
    File,
    Sender<Result<StartingNat, SandboxError>>,
);

/// The thread that forks the pool's NAT programs, alive as long as the pool is open. It only
/// forks: each requester waits for its own program to be ready, so steps starting together
/// do not queue behind one another's NAT start.
struct NatStarter {
    requests: Sender<StartRequest>,
    thread: Option<JoinHandle<()>>,
}

impl NatStarter {
    fn spawn() -> NatStarter {
        let (requests, receive) = channel::<StartRequest>();
        let thread = std::thread::Builder::new()
            .name("rbuild-nat-starter".into())
            .spawn(move || {
                for (helper, netns, reply) in receive {
                    let _ = reply.send(UserNat::spawn(helper, &netns));
                }
            })
            .ok();
        NatStarter { requests, thread }
    }

    fn start_on_thread(
        requests: &Sender<StartRequest>,
        helper: &'static NatHelper,
        netns: &File,
    ) -> Result<UserNat, SandboxError> {
        let failed = |reason: String| SandboxError::NatFailed {
            helper: helper.name(),
            reason,
        };
        let netns = netns
            .try_clone()
            .map_err(|e| failed(format!("passing the network namespace on: {e}")))?;
        let (reply, answer) = channel();
        if requests.send((helper, netns, reply)).is_err() {
            return Err(failed("the pool's starter thread is gone".into()));
        }
        answer
            .recv()
            .map_err(|_| failed("the pool's starter thread is gone".into()))??
            .wait_until_ready()
    }
}

impl Drop for NatStarter {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        let (closed, _) = channel();
        self.requests = closed;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
