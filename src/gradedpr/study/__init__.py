"""The study runner: regime x loss x seed training runs, baselines, aggregate tables, tests and plots."""
