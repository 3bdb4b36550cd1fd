"""What the sidecar fetches itself: GPU readings (NVML), scrape targets, dataset files.

Owns the pollers (:mod:`.gpu`, :mod:`.scrape`, :mod:`.datasets`, with ``_dataset_drift`` for a
file's drift against its reference) and :mod:`.collection`, which says what is due and folds a
reading into the state. A new data source is one more module here returning the same aggregates.
May import ``state``, ``ingest``, ``judge``, ``detectors`` and the spec; never the lifecycle or
``http``. Public: all but ``_dataset_drift``.
"""
