"""The steps in their order, for a caller that runs them one by one (a DAG's tasks, the API's
ingest worker): land → check → quarantine → merge → accuracy → publish."""

from pipeline.accuracy import measure_accuracy
from pipeline.check import check
from pipeline.land import land
from pipeline.merge import merge
from pipeline.publish import publish
from pipeline.quarantine import quarantine
from pipeline.refs import IngestError, RunRef

__all__ = [
    "IngestError",
    "RunRef",
    "check",
    "land",
    "measure_accuracy",
    "merge",
    "publish",
    "quarantine",
]
