"""`python -m rag watch`: keep the index in step with the corpus folder while it runs.

File events come from `watchfiles` (the operating system's notifications; a network file system that sends
none needs WATCHFILES_FORCE_POLLING=1). A burst of changes (a copy of many files, an editor's save) is
debounced into one batch, and each batch is one incremental ingest, reported in one line. Only article files
count (.txt .md .html .htm .pdf, not hidden ones: an upload's temporary file is hidden until it is complete).
If another process holds the ingest lock (the chat's "Re-index", `python -m rag ingest`), the batch waits for
it and then runs, so no change is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import watchfiles

from rag.errors import Conflict, DataFolderGone, RagError, describe_error
from rag.index.documents import SUPPORTED

if TYPE_CHECKING:
    from rag.index.ingest import IngestReport
    from rag.pipeline import Pipeline

logger = logging.getLogger(__name__)

DEBOUNCE_MS = 1600  # changes within this long of each other are one batch
LOCK_RETRY_S = 2.0  # how often a batch tries again while another ingest runs


def is_article(folder: Path, path: str) -> bool:
    """Whether a change to `path` can change the index of `folder`: an article file, not hidden, not in a
    hidden folder inside it.

    >>> c = Path("/c")
    >>> is_article(c, "/c/2024/a.md"), is_article(c, "/c/.write.x.tmp"), is_article(c, "/c/.git/a.txt")
    (True, False, False)
    """
    try:
        parts = Path(path).relative_to(folder).parts
    except ValueError:  # not under the folder as given (a symlink resolved): judge by its name
        parts = (Path(path).name,)
    return Path(path).suffix.lower() in SUPPORTED and not any(part.startswith(".") for part in parts)


def watch(
    pipeline: Pipeline,
    *,
    report: Callable[[str], object] = print,
    stop: threading.Event | None = None,
    debounce_ms: int = DEBOUNCE_MS,
) -> None:
    """Ingest once (to catch up), then after every batch of changes, until `stop` is set (or Ctrl-C)."""
    folder = pipeline.corpus.folder.resolve()
    pipeline.corpus.require()
    report(f"in step: {_ingest(pipeline, stop).summary().splitlines()[0]}")
    report(f"watching {pipeline.corpus.folder} for added, changed and removed articles (Ctrl-C stops)")
    articles = partial(_changed_article, folder)
    for changes in watchfiles.watch(
        folder, watch_filter=articles, debounce=debounce_ms, stop_event=stop, raise_interrupt=False
    ):
        started = time.strftime("%H:%M:%S")
        try:
            done = _ingest(pipeline, stop)
        except DataFolderGone as e:  # every later batch would fail alike: stop and say why
            report(f"{started} {len(changes)} change(s); not indexed: {e}")
            raise
        except RagError as e:
            report(f"{started} {len(changes)} change(s); not indexed: {e}")
            continue
        except Exception as e:  # a failure of one batch never stops the watch; the next change tries again
            logger.warning("the ingest after a change failed", exc_info=True)
            report(f"{started} {len(changes)} change(s); not indexed: {describe_error(e)}")
            continue
        report(f"{started} {len(changes)} change(s): {done.summary()}")
        try:
            followed = pipeline.check_follows(after=done)
        except RagError as e:
            report(f"{started} followed questions not checked: {e}")
            continue
        for f in followed:
            if f.status != "unchanged":
                report(f"{started} followed {f.line()}")


def _changed_article(folder: Path, change: Any, path: str) -> bool:
    return is_article(folder, path)


def _ingest(pipeline: Pipeline, stop: threading.Event | None) -> IngestReport:
    """An incremental ingest, waiting for another process's ingest to finish first (until `stop`)."""
    while True:
        try:
            return pipeline.ingest()
        except Conflict:
            if (stop or threading.Event()).wait(LOCK_RETRY_S):  # stopped meanwhile
                raise
