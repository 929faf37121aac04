"""Benchmarks: ``python -m bench`` prints the service's throughput and latency beside the HTTP floor."""
