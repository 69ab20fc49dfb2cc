"""Evaluating a perception model on a generated dataset: detectors, COCO metrics sliced
by condition, and comparison against a baseline."""
