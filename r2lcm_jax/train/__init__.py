"""Training: the loop (`loop`), what it trains (`task_api.Task`, built by `task`), the
jitted steps (`step`), optimizer, plateau schedule, state, checkpoints and metrics."""
