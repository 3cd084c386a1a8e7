"""The rate-distortion benchmark (`r2lcm bench rd`): splits, rendering, BD-rate, reports."""
