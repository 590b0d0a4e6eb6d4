"""Processes of this machine, read from /proc, and CPU pinning: a stand-in for parts of the stack on hosts of their
own when the machine has one host (bench/queue_split.py's split-pinned phase)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessStat:
    parent: int
    cpu_seconds: float  # user + system, so far


def process_stats() -> dict[int, ProcessStat]:
    """Every process still running, by pid."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, ProcessStat] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ... utime, stime
        out[int(entry)] = ProcessStat(int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    return out


def with_descendants(pids: Iterable[int], stats: dict[int, ProcessStat] | None = None) -> set[int]:
    """`pids` and every process below them (a worker's process pool, the emulator's own children)."""
    stats = process_stats() if stats is None else stats
    found = set(pids)
    grew = True
    while grew:
        below = {pid for pid, stat in stats.items() if stat.parent in found} - found
        found |= below
        grew = bool(below)
    return found


def threads_of(pids: Iterable[int]) -> Iterator[int]:
    """Every thread of `pids` now (a process gone meanwhile has none)."""
    for pid in pids:
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        yield from map(int, threads)


def pin(pids: Iterable[int], cpus: set[int]) -> int:
    """Every thread of `pids` may run on `cpus` only; threads and processes they start later inherit it. Returns
    how many threads were pinned."""
    pinned = 0
    for tid in threads_of(pids):
        try:
            os.sched_setaffinity(tid, cpus)
            pinned += 1
        except OSError:
            continue  # ended meanwhile
    return pinned


# cgroup v1's cpu controller (this machine's; Docker's `--cpus` and a Kubernetes container's `limits.cpu` set the same
# CFS quota).
CPU_CGROUPS = "/sys/fs/cgroup/cpu"
CFS_PERIOD_US = 100_000


class CpuLimit:
    """At most `cores` of CPU time for the processes added, together: what compose's `cpus:` gives a service. Needs
    root and cgroup v1's cpu controller; `close` moves the processes back and removes the group."""

    def __init__(self, name: str, cores: float) -> None:
        if not os.access(CPU_CGROUPS, os.W_OK):
            raise RuntimeError(f"a CPU limit needs cgroup v1's cpu controller at {CPU_CGROUPS}, writable (root)")
        self.path = f"{CPU_CGROUPS}/{name}"
        os.makedirs(self.path, exist_ok=True)
        self._write("cpu.cfs_period_us", str(CFS_PERIOD_US))
        self._write("cpu.cfs_quota_us", str(int(cores * CFS_PERIOD_US)))

    def _write(self, name: str, value: str, path: str | None = None) -> None:
        with open(f"{path or self.path}/{name}", "w") as f:
            f.write(value)

    def add(self, pids: Iterable[int]) -> int:
        """Every thread of `pids` into the group (threads and processes they start later follow); returns how many."""
        added = 0
        for tid in threads_of(pids):
            try:
                self._write("tasks", str(tid))
                added += 1
            except OSError:
                continue  # ended meanwhile
        return added

    def close(self) -> None:
        with open(f"{self.path}/tasks") as f:
            threads = f.read().split()
        for tid in threads:
            try:
                self._write("tasks", tid, CPU_CGROUPS)
            except OSError:
                continue
        os.rmdir(self.path)
