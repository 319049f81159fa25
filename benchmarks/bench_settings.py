"""The production settings plus one benchmark-only route (bench_urls.py): nothing else differs."""

from messageboard.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
