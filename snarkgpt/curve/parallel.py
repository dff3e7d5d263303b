"""Python threads running the nogil curve kernels side by side (g1.py, fixed_base.py, msm.py).

The kernels are compiled with nogil=True, so plain Python threads run them concurrently. This
avoids Numba's parallel=True machinery (and its compile time); the thread count follows
numba.get_num_threads() / NUMBA_NUM_THREADS.
"""
from concurrent.futures import ThreadPoolExecutor

import numba as nb

_POOL = {}


def threads() -> int:
    """The number of threads the kernels may use."""
    return max(1, nb.get_num_threads())


def parallel_ranges(fn, n: int, min_per_thread: int = 1, tasks: int | None = None) -> None:
    """Run fn(lo, hi) over a split of range(n) into about one piece per thread (or `tasks`
    pieces), with at least `min_per_thread` items a piece."""
    nthreads = threads()
    k = tasks or max(1, min(nthreads, n // max(1, min_per_thread)))
    if k <= 1 or n <= 1:
        if n:
            fn(0, n)
        return
    step = -(-n // k)
    bounds = [(lo, min(n, lo + step)) for lo in range(0, n, step)]
    pool = _POOL.get(nthreads)
    if pool is None:
        pool = _POOL[nthreads] = ThreadPoolExecutor(max_workers=nthreads,
                                                    thread_name_prefix="snarkgpt-g1")
    # the calling thread takes the first piece itself (one hand-off fewer per call)
    futures = [pool.submit(fn, lo, hi) for lo, hi in bounds[1:]]
    try:
        fn(*bounds[0])
    finally:
        for f in futures:
            f.result()
