"""The projector: the topic folded into the read models, exactly once in effect.

`loop` runs it (poll, write, overlap each commit with the next poll), `batch_writer`
writes one batch's rows, applied versions, quarantine and offsets in one transaction,
`assignment` seeks each assigned partition to its stored offset, and `records` decodes
Kafka records into the planning items of `projections.planning`.
"""

from consumers.projector.batch_writer import BatchResult
from consumers.projector.loop import Projector, ProjectorConflictError

__all__ = ["BatchResult", "Projector", "ProjectorConflictError"]
