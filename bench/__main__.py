"""`python -m bench [--strict] [NAME [options]]`: the benchmarks (orchestration, api, recovery, webbuddy, blocking,
max_rate, crossposting, onec, tracker, tracker_embeddings, queue_split, dashboard, fuzz, chaos).

With no name all of them run in turn, each on its own fresh stack. Options after a name go to that benchmark
(`python -m bench recovery --trials 7`; `python -m bench api --help`). Each prints its tables and which
targets it met, and writes bench/results/<name>.json. The exit status is 0 unless a benchmark failed to run;
with --strict it is 1 when a target was missed too.
"""

import signal
import sys
import time

from bench import (
    api_latency,
    blocking,
    chaos,
    crossposting,
    dashboard,
    fuzz,
    max_rate,
    onec,
    orchestration,
    queue_split,
    recovery,
    tracker,
    tracker_embeddings,
    webbuddy,
)

BENCHMARKS = {
    "orchestration": orchestration.main,
    "api": api_latency.main,
    "recovery": recovery.main,
    "webbuddy": webbuddy.main,
    "blocking": blocking.main,
    "max_rate": max_rate.main,
    "crossposting": crossposting.main,
    "onec": onec.main,
    "tracker": tracker.main,
    "tracker_embeddings": tracker_embeddings.main,
    "queue_split": queue_split.main,
    "dashboard": dashboard.main,
    "fuzz": fuzz.main,
    "chaos": chaos.main,
}


def stop_cleanly(*_) -> None:
    # SIGTERM (a timeout, Ctrl-C from a supervisor) exits through the stacks' finally blocks,
    # so no Postgres, Temporal or worker is left behind.
    raise SystemExit(143)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, stop_cleanly)
    strict = "--strict" in argv[:1]
    argv = argv[1:] if strict else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv and argv[0] in BENCHMARKS:
        names, options = [argv[0]], argv[1:]
    elif not argv:
        names, options = list(BENCHMARKS), []
    else:
        print(f"unknown benchmark {argv[0]!r}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    missed = []
    for name in names:
        print(f"\n===== bench {name} =====", flush=True)
        started = time.monotonic()
        outcome = BENCHMARKS[name](options)
        print(f"===== bench {name}: {time.monotonic() - started:.0f}s =====", flush=True)
        missed += [f"{name}.{key}" for key, ok in outcome["met"].items() if not ok]
    if missed:
        print(f"\ntargets missed: {', '.join(missed)}")
    else:
        print("\nevery target met")
    return 1 if missed and strict else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
