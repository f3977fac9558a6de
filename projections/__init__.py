"""Read models folded from the event log: pure fold functions plus their SQL tables.

Importing this package registers every projection's folds in `projections.changes.FOLDS`.
"""

from projections import customers, readmodels  # noqa: F401  (registers folds)
