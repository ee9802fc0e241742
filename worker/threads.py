"""How many intra-op threads torch uses in each worker pool process.

torch's own default is one thread per core in every process. On a small
machine whose cores PostgreSQL, the broker and the API share, that is the
worst choice: OpenMP threads spin at their barriers while another process
holds the core they wait for. On 2 cores a worker with 2 threads finished the
small benchmark job (10 layers, 50 steps) at a seventh of the rate, and with a
median turnaround 4× as long, as with 1 (BENCHMARKS.md). So a worker leaves
one core to the rest of the service and divides the others among its pool's
processes, unless GRADATLAS_TORCH_THREADS (or OMP_NUM_THREADS) says otherwise.
"""

from __future__ import annotations

import logging
import os

from gradatlas.service.contracts.settings import Settings

log = logging.getLogger("gradatlas.worker")


def default_count(cpus: int, processes: int) -> int:
    """One core left to the database, broker and API; the rest shared by the
    pool's processes; never fewer than one thread."""
    return max(1, (cpus - 1) // processes)


def choose(settings: Settings, processes: int) -> tuple[int | None, str]:
    """The count for each of `processes` pool processes and where it came
    from; None leaves torch as OMP_NUM_THREADS set it."""
    if settings.torch_threads is not None:
        return settings.torch_threads, "GRADATLAS_TORCH_THREADS"
    if os.environ.get("OMP_NUM_THREADS"):  # an operator's explicit choice: kept
        return None, "OMP_NUM_THREADS"
    # The cores this process may run on: taskset and cgroup cpusets count;
    # a CPU quota (docker --cpus) does not.
    cpus = len(os.sched_getaffinity(0))
    return default_count(cpus, processes), f"default: max(1, ({cpus} cores - 1) // {processes} processes)"


def apply(count: int) -> None:
    """Set both of torch's thread counts in this process; idempotent."""
    import torch  # not at import: flower loads the Celery app without the tasks, so without torch

    torch.set_num_threads(count)
    if torch.get_num_interop_threads() == count:
        return
    try:
        torch.set_num_interop_threads(count)
    except RuntimeError:  # allowed once per process, before any inter-op work; the engine uses none
        log.warning("torch's inter-op thread count is already fixed at %d", torch.get_num_interop_threads())
