"""Where per-song extraction runs: worker processes on this machine, or a Dask cluster — one joblib code path.

:func:`musiclust.features.audio.extract_audio` hands chunks of files to ``joblib.Parallel`` inside the executor's
:meth:`parallel` context: the local executor selects joblib's loky process pool, the Dask executor joblib's
``dask`` backend on a ``distributed.Client`` (a ``LocalCluster`` it starts, or a running scheduler given by its
address: dask-jobqueue's ``SLURMCluster``, ``dask scheduler`` + ``dask worker`` on several machines, ...). The
chunk function and its results are the same on both, so are the features.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from time import sleep
from typing import Any

from musiclust.errors import ConfigError

log = logging.getLogger(__name__)

#: seconds an idle worker process waits for the next extraction before it exits
WORKER_IDLE_SECONDS = 300
#: how often a worker process checks that the process that started it is still alive
PARENT_CHECK_SECONDS = 0.5
#: how to get Dask when executor=dask is chosen without it
DASK_INSTALL = "pip install 'musiclust[dask]'"


def dask_installed() -> bool:
    """Whether ``distributed`` (Dask's cluster scheduler) can be imported, without importing it."""
    return importlib.util.find_spec("distributed") is not None


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker as soon as the process that started it is gone, even SIGKILLed.

    loky workers otherwise wait out their idle timeout (minutes) as orphans; and loky's resource tracker
    exits once the last worker holding its pipe has.
    """
    import threading

    def watch() -> None:
        while os.getppid() == parent:  # an orphan is re-parented, so its parent id changes
            sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="musiclust-exit-with-parent", daemon=True).start()


class LocalExecutor:
    """Worker processes on this machine (joblib's loky pool), kept for the next extraction in this process.

    How many: ``feature.n_jobs`` (-1 = the idle cores), and only as many as the audio pays for
    (:func:`musiclust.features.audio.worker_count`); one process runs the files itself, with no pool.
    """

    #: the number of processes is chosen from the audio and the machine (a cluster has its own size)
    sizes_pool = True

    def __init__(self, name: str = "local") -> None:
        self.name = name

    def describe(self, workers: int) -> str:
        return f"{workers} process{'es' if workers > 1 else ''}"

    @contextmanager
    def parallel(self, workers: int) -> Iterator[int]:
        """A joblib backend for ``workers`` processes; yields how many tasks run at once."""
        from joblib import parallel_config

        # processes, not threads: librosa's Python-level work holds the GIL. One BLAS thread each: the
        # parallelism is across files. The watchdog ends workers whose parent was killed
        with parallel_config(backend="loky", inner_max_num_threads=1, idle_worker_timeout=WORKER_IDLE_SECONDS,
                             initializer=_exit_with_parent, initargs=(os.getpid(),)):
            yield workers


class DaskExecutor:
    """Extraction on a Dask cluster through joblib's ``dask`` backend.

    ``address`` None: a ``distributed.LocalCluster`` of ``n_workers`` processes (None = ``feature.n_jobs``, -1 =
    all cores) with ``threads_per_worker`` threads each, started for the extraction and closed after it. An
    address (``tcp://host:8786``, or a scheduler file's address) joins a running cluster — e.g. one that
    dask-jobqueue's ``SLURMCluster`` started — and uses all of its workers, which must be able to import musiclust
    and read the audio paths. ``cluster`` holds further ``LocalCluster`` arguments (``memory_limit``, ...).
    """

    sizes_pool = False

    def __init__(self, name: str = "dask", address: str | None = None, n_workers: int | None = None,
                 threads_per_worker: int = 1, processes: bool = True, timeout: float = 60.0,
                 cluster: dict[str, Any] | None = None) -> None:
        if not dask_installed():
            raise ConfigError(f"executor=dask needs Dask, which is not installed: {DASK_INSTALL} "
                              "(or use executor=local).")
        if n_workers is not None and int(n_workers) < 1:
            raise ConfigError(f"executor.n_workers={n_workers}: use null (feature.n_jobs) or 1, 2, ...")
        self.name, self.address, self.processes, self.timeout = name, address, bool(processes), float(timeout)
        self.n_workers = None if n_workers is None else int(n_workers)
        self.threads_per_worker = int(threads_per_worker)
        self.cluster_options = dict(cluster or {})

    def describe(self, workers: int) -> str:
        where = self.address or "a local cluster"
        return f"{workers} Dask worker thread{'s' if workers > 1 else ''} on {where}"

    @contextmanager
    def parallel(self, workers: int) -> Iterator[int]:
        """Connect to (or start) the cluster; yields the number of worker threads that run tasks."""
        from distributed import Client, LocalCluster
        from joblib import effective_n_jobs, parallel_config

        if self.address:
            client = Client(self.address, timeout=self.timeout)
            cluster = None
        else:
            count = self.n_workers or effective_n_jobs(workers)
            cluster = LocalCluster(n_workers=count, threads_per_worker=self.threads_per_worker,
                                   processes=self.processes, dashboard_address=None,
                                   **{"silence_logs": logging.WARNING, **self.cluster_options})
            client = Client(cluster, timeout=self.timeout)
        try:
            client.wait_for_workers(1, timeout=self.timeout)
            slots = sum(client.nthreads().values())
            log.info("Dask cluster %s: %d workers, %d threads", client.scheduler.address, len(client.nthreads()),
                     slots)
            with parallel_config(backend="dask", wait_for_workers_timeout=self.timeout):
                yield slots if workers == -1 else min(slots, workers)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
