"""Where a dataset's file really is, and whether the sidecar may read it.

A path is taken relative to the spec's folder and resolved (symlinks followed); it must stay in
the folder it is written in, so a symlink there that points elsewhere (``data/tx.csv`` ->
``/etc/shadow``, placed or swapped in later) is refused unless the dataset sets
``allow_symlinks_out``. ``validate`` applies the rule to what is on disk now and the sidecar at
every poll, so a later swap is refused too.
"""

from __future__ import annotations

from pathlib import Path


def resolve(base: Path, written: str, allow_outside: bool = False) -> tuple[Path, str | None]:
    """(the resolved path, why it is refused or None)."""
    raw = base / Path(written).expanduser()
    folder = raw.parent.resolve()
    real = raw.resolve()
    if allow_outside or real.parent == folder or folder in real.parents:
        return real, None
    return real, (f"{written} resolves to {real}, outside its folder {folder} (a symlink); "
                  "set allow_symlinks_out: true on the dataset if that is intended")
