"""Experiments: presets (YAML), training runs, official-style CV, comparisons."""
