"""supportlog: the command line and the wiring (composition root) of the support desk.

The layers live in the top-level packages `domain`, `projections`, `consumers` and
`replay`; this package is the only one that knows all of them.
"""

__version__ = "0.1.0"
