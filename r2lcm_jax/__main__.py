"""`python -m r2lcm_jax <subcommand> [flags]`: the same as the `r2lcm` console script."""

from r2lcm_jax.cli.main import run

if __name__ == "__main__":
  run()
