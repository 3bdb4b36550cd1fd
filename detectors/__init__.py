"""Pure statistics on windows of data: arrays in, typed results out; no I/O, no globals."""
