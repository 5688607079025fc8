"""Ingest jobs started over HTTP: one at a time, each in a thread, with its progress and report kept for the
client to poll. Across processes, ingests are serialised by the index's file lock as well (a job that meets
another process's ingest fails with that message)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rag.errors import Conflict, NotFound, RagError, describe_error

if TYPE_CHECKING:
    from rag.follows import Followed
    from rag.pipeline import Pipeline

logger = logging.getLogger(__name__)

KEPT = 100  # finished jobs remembered for GET /v1/jobs/{id}


@dataclass
class Job:
    id: str
    kind: str = "ingest"
    state: str = "running"  # running, done, failed
    done: int = 0  # chunks embedded so far
    total: int = 0  # chunks to embed (known once the changed files are read)
    report: dict[str, Any] | None = None  # the ingest report (the keys of `ingest --json`)
    error: str = ""
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": {"chunks_embedded": self.done, "chunks_total": self.total},
            "report": self.report,
            "error": self.error,
            "started": self.started,
            "finished": self.finished,
        }


class Jobs:
    """The ingest jobs of one pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._running: Job | None = None

    def start(self, rebuild: bool = False, before: Callable[[], object] | None = None) -> Job:
        """Start an ingest in a thread and return its job; Conflict if one is running. `before` runs first,
        while no other job can start (a file deleted before the ingest that removes it from the index)."""
        with self._lock:
            if self._running is not None:
                raise Conflict(f"an ingest is running (job {self._running.id}); wait for it to finish")
            if before is not None:
                before()
            job = self._running = Job(uuid.uuid4().hex[:12])
            self._jobs[job.id] = job
            for old in list(self._jobs)[:-KEPT]:
                del self._jobs[old]
        threading.Thread(target=self._run, args=(job, rebuild), name=f"ingest-{job.id}", daemon=True).start()
        return job

    @property
    def running(self) -> Job | None:
        return self._running

    def get(self, job_id: str) -> Job:
        if (job := self._jobs.get(job_id)) is None:
            raise NotFound(f"no job {job_id!r} (only the last {KEPT} are kept)")
        return job

    def wait(self, job: Job, timeout: float) -> Job:
        """Poll until `job` is finished or `timeout` seconds pass (for tests and scripts)."""
        deadline = time.monotonic() + timeout
        while job.state == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        return job

    @staticmethod
    def _followed(check: Callable[[], list[Followed]]) -> dict[str, Any]:
        """The report's `follows` (the followed questions, as `check` checks them after the ingest); a failure
        there is said in `follows_error` and does not fail the ingest, which has landed."""
        try:
            return {"follows": [f.to_json() for f in check()]}
        except RagError as e:
            return {"follows": [], "follows_error": str(e)}
        except Exception as e:  # as for the ingest: the report says it, the log has the trace
            logger.warning("checking the followed questions after an ingest job failed", exc_info=True)
            return {"follows": [], "follows_error": f"unexpected failure: {describe_error(e)}"}

    def _run(self, job: Job, rebuild: bool) -> None:
        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total

        try:
            report = self.pipeline.ingest(progress=progress, rebuild=rebuild)
            job.report = report.to_json()
        except RagError as e:
            job.state, job.error = "failed", str(e)
        except Exception as e:  # the job's thread has no caller to tell: the job says it, the log has the trace
            logger.warning("ingest job %s failed", job.id, exc_info=True)
            job.state, job.error = "failed", f"unexpected failure: {describe_error(e)}"
        else:
            job.report.update(self._followed(lambda: self.pipeline.check_follows(after=report)))
            job.state = "done"
        finally:
            job.finished = time.time()
            with self._lock:
                self._running = None
