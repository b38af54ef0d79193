"""Imported by the feature-extraction fork server (``audio.WORKER_PRELOAD``), never by the pipeline: loads
librosa and runs it once, so that every worker forked from the server starts with numba's code loaded."""

from musiclust.features.audio import warm_up

warm_up()
