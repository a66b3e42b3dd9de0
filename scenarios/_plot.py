"""The load run as a picture: latency distribution and completions over time (needs the [plot] extra)."""

from __future__ import annotations

__all__ = ["plot_run"]


def plot_run(path: str, latencies: list[float], completed_at: list[float]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib: pip install -e '.[plot]'")
        return
    start = min(completed_at, default=0.0)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.hist(latencies, bins=60, color="#4C72B0")
    left.set(title="request latency", xlabel="seconds", ylabel="requests")
    right.hist([t - start for t in completed_at], bins=60, color="#55A868")
    right.set(title="completions over time", xlabel="seconds since the first completion", ylabel="requests per bin")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"wrote {path}")
