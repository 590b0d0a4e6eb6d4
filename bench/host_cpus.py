"""Processes of this machine, read from /proc, and CPU pinning: a stand-in for parts of the stack on hosts of their
own when the machine has one host (bench/queue_split.py's split-pinned phase)."""

from __future__ import annotations

import os
from collections.abc import Iterable
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


def pin(pids: Iterable[int], cpus: set[int]) -> int:
    """Every thread of `pids` may run on `cpus` only; threads and processes they start later inherit it. Returns
    how many threads were pinned (a process gone meanwhile is skipped)."""
    pinned = 0
    for pid in pids:
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in threads:
            try:
                os.sched_setaffinity(int(tid), cpus)
                pinned += 1
            except OSError:
                continue  # ended meanwhile
    return pinned
