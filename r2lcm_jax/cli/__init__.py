"""Command-line interface: `r2lcm <subcommand> [--absl_flags]`."""
