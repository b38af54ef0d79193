"""Clustering: estimators and wrappers, large-N handling, the model's own clusters, reducers and the metric set.

- :mod:`~musiclust.clustering.base`: the noise label, the requested k, ``fit_predict``;
- :mod:`~musiclust.clustering.estimators`: scikit-learn-style wrappers (DBSCAN with a data-driven eps,
  spectral clustering, the model's own clusters);
- :mod:`~musiclust.clustering.large_n`: MiniBatchKMeans and sampling for large collections;
- :mod:`~musiclust.clustering.reducers`: optional reduction of the embeddings before clustering;
- :mod:`~musiclust.clustering.metrics`: internal and external metrics, one noise policy, chance baselines.
"""

from musiclust.clustering.base import NOISE, check_k, fit_predict, requested_clusters

__all__ = ["NOISE", "check_k", "fit_predict", "requested_clusters"]
