"""The measurement rule of the reference halves of `make bench-engine`: the median of timed
calls, at least `minimum` of them and for at least `seconds`."""
import statistics
import time


def timed(seconds, body, minimum=3):
    times, start = [], time.perf_counter()
    while len(times) < minimum or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        body()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
