"""Datasets: NUS / INTEL-TAU readers, render inputs and `r2lcm render`'s writer, the
dataset manifest, synthetic scenes, grain pipelines."""
