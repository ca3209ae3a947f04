"""Shared pieces of the Python benchmarks (bench/compare, bench/regression): fixture
contexts, wall-clock timing of whole commands with the child's peak RSS, medians, and the
rbuild store template. It deliberately knows nothing of BuildKit or Buildah (bench/compare
drives those) and asserts no absolute time: benchmarks report ratios measured in one run."""

import os
import resource
import shutil
import statistics
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUSYBOX = os.path.join(os.path.dirname(REPO), "shared", "images", "busybox")
TEXT = b"".join(b"line %06d of a compressible log file\n" % i for i in range(60000))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(data)


def dockerfile(ctx, text):
    write(os.path.join(ctx, "Dockerfile"), text.encode())


def small_files(ctx, dirs=100, per_dir=100, size=4096):
    """`dirs` × `per_dir` random files of `size` bytes under ctx/src, COPY'd then listed."""
    for d in range(dirs):
        for f in range(per_dir):
            write(os.path.join(ctx, "src", f"d{d:03}", f"f{f:03}.txt"), os.urandom(size))
    dockerfile(ctx, "FROM busybox\nCOPY src/ /ctx/\nRUN ls /ctx | wc -l > /count\n")


def big_files(ctx, megabytes=256):
    """4 MB files, each half random and half repetitive text, COPY'd then summed."""
    for f in range(megabytes // 4):
        write(os.path.join(ctx, "data", f"f{f:02}.bin"), os.urandom(2 << 20) + TEXT[: 2 << 20])
    dockerfile(ctx, "FROM busybox\nCOPY data/ /data/\nRUN du -s /data > /size\n")


def many_runs(ctx, steps=30):
    lines = ["FROM busybox"] + [f"RUN echo {i} > /step{i}" for i in range(steps)]
    dockerfile(ctx, "\n".join(lines) + "\n")


def parallel_stages(ctx, stages=4):
    text = "".join(f"FROM busybox AS s{i}\nRUN sleep 1 && echo {i} > /out\n" for i in range(stages))
    text += "FROM busybox\n" + "".join(f"COPY --from=s{i} /out /out{i}\n" for i in range(stages))
    dockerfile(ctx, text)


def edit_one_file(ctx, round_no):
    """Changes one file of a small_files context (new bytes each round)."""
    write(os.path.join(ctx, "src", "d050", "f050.txt"), b"edit %d\n" % round_no + os.urandom(4000))


class Sample:
    """One run: wall seconds, CPU seconds (user + system, the whole process tree) and peak
    RSS. CPU time tells work apart from waiting when the machine is loaded."""

    def __init__(self, seconds, cpu_seconds, peak_rss_kb):
        self.seconds = seconds
        self.cpu_seconds = cpu_seconds
        self.peak_rss_kb = peak_rss_kb


def run_timed(argv, env=None, cwd=None):
    """Runs argv to completion; its wall time and peak RSS (largest of the process tree
    it waited for). A failing command stops the benchmark with its output."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(argv)}\n"
                         + output.decode(errors="replace")[-3000:])
    return Sample(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


def quiet(argv, env=None):
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def median(values):
    return statistics.median(values)


def rbuild_binary(release=True):
    """$RBUILD, else a release build of the CLI from this checkout."""
    if os.environ.get("RBUILD"):
        return os.environ["RBUILD"]
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "rbuild-cli"], cwd=REPO,
                   check=True, stdout=subprocess.DEVNULL)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.path.join(target, "release", "rbuild")


class RbuildStores:
    """A template store in the state `docker builder prune -af` leaves Docker in: busybox
    loaded and unpacked (docker load unpacks; rbuild unpacks on first use, so one build
    uses it), no build cache. Each cold run gets a fresh copy of it."""

    def __init__(self, rbuild, work):
        self.rbuild = rbuild
        self.work = work
        self.template = os.path.join(work, "rbuild-template")
        quiet([rbuild, "--root", self.template, "load", BUSYBOX])
        warm = os.path.join(work, "unpack-busybox")
        dockerfile(warm, "FROM busybox\nRUN true\n")
        quiet([rbuild, "--root", self.template, "--network", "none", warm])
        quiet([rbuild, "--root", self.template, "cache", "prune", "--all"])
        shutil.rmtree(warm)
        self.count = 0
        self.used = []

    def fresh(self):
        self.count += 1
        root = os.path.join(self.work, f"rbuild-store-{self.count}")
        shutil.rmtree(root, ignore_errors=True)
        quiet(["cp", "-a", self.template, root])
        self.used.append(root)
        return root

    def drop_used(self, keep=None):
        """Deletes the stores handed out so far (but `keep`), then lets ext4 settle."""
        for root in self.used:
            if root != keep:
                drop_store(root)
        self.used = [keep] if keep else []
        settle()

    def build(self, root, ctx, *extra):
        return [self.rbuild, "--root", root, "--progress", "plain", *extra, ctx]


# ext4 without a journal (this machine's root) skips inodes freed in the last 60 s when it
# allocates new ones, reading inode table blocks for every file created: a build that starts
# right after 10,000 files were deleted spends most of its time there (perf: ext4_create →
# recently_deleted). bench/compare deletes nothing until it ends; bench/regression waits
# this long after a bulk delete (its ratios compare rbuild with baselines that create files
# too, so a shorter wait is enough there).
SETTLE_SECONDS = 6


def drop_store(root):
    shutil.rmtree(root, ignore_errors=True)


def settle():
    time.sleep(SETTLE_SECONDS)


def warm_memory(reserve_kb=2 << 20):
    """Touches the machine's free memory once, through a tmpfs file that is then deleted.
    On a fresh virtual machine the first write into each page of guest memory costs a
    hypervisor fault: page-cache writes then run at ~0.4 GB/s instead of ~4 GB/s (measured
    here: a new 142 MB file took 370 ms before and 30 ms after), so whichever engine writes
    first pays for memory nobody touched yet. Benchmarks compare engines on a machine that
    has run for a while. Returns the seconds it took (0 without /dev/shm)."""
    if not os.path.isdir("/dev/shm"):
        return 0.0
    with open("/proc/meminfo") as meminfo:
        fields = dict(line.split(":", 1) for line in meminfo)
    budget = (int(fields["MemAvailable"].split()[0]) - reserve_kb) * 1024
    block = b"\0" * (64 << 20)
    path = f"/dev/shm/rbuild-bench-warm-{os.getpid()}"
    start = time.monotonic()
    try:
        with open(path, "wb") as out:
            for _ in range(max(0, budget // len(block))):
                out.write(block)
    except OSError:
        pass  # a full tmpfs has touched what it could
    finally:
        if os.path.exists(path):
            os.remove(path)
    return time.monotonic() - start


def raise_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
