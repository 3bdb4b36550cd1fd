"""Collectors: GPU (NVML), scrape targets, dataset files."""
