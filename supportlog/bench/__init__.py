"""`supportlog bench`: every stage of the pipeline measured against its raw baseline in
the same run, on the same servers, so the figures are ratios a noisy machine can't skew.

One module per stage (`ingest`, `relay`, `projection`, `rebuild`, `latency`, `rss`), each
timing the real code path and then the bare library doing the same I/O; `runner` plays
the workload and runs them in order on throwaway databases and topics, and `report`
prints the result. Nothing here is imported by the rest of the program.
"""
