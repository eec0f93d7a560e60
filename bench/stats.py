"""The one percentile rule every benchmark reports with."""

import statistics


def percentile(values: list[float], p: int) -> float:
    """The p-th percentile (1-99), interpolated between the samples (`statistics.quantiles`' inclusive method: never
    beyond the slowest sample, which the exclusive one reaches past with few samples)."""
    if not values:
        raise ValueError("no samples")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]
