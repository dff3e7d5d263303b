"""Benchmarks behind `snarkgpt bench`: medians of repeated runs, printed as a table or JSON."""
import json
import statistics
import time


def median_time(fn, repeats: int) -> float:
    """Median wall time of `repeats` calls of fn() (after one untimed warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def report(results: dict, as_json: bool, title: str):
    """Print a two-column table, or one JSON object on the last line."""
    if as_json:
        print(json.dumps(results))
        return
    print(title)
    width = max(len(k) for k in results)
    for k, v in results.items():
        shown = f"{v:.6g}" if isinstance(v, float) else str(v)
        print(f"  {k:<{width}}  {shown}")
