"""Datasets: NUS / INTEL-TAU readers, synthetic scenes, grain pipelines."""
