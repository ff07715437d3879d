"""One file per schema revision, a linear history from 0001 (the baseline)."""
