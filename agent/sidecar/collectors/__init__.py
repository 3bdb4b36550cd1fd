"""What the sidecar fetches itself: GPU readings (NVML), scrape targets, datasets in files and
in SQL databases.

Owns the pollers (:mod:`.gpu`, :mod:`.scrape`, :mod:`.datasets` for files, :mod:`.sql_datasets`
for tables, each dataset reading on a thread of its own through :mod:`.background`, with
``_windows`` turning a store's window into a reading's parts and
``_dataset_drift`` for drift against the reference), the stores they read (:mod:`.stores`, one
module per store returning the same aggregates) and :mod:`.collection`, which says what is due
and folds a reading into the state. A new data source is one more store module.
May import ``state``, ``ingest``, ``judge``, ``detectors`` and the spec; never the lifecycle or
``http``. Public: all but ``_dataset_drift`` and ``_windows``.
"""
