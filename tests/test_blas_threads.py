"""A pipeline runs numpy's BLAS on one thread (app.pipeline.one_blas_thread): its idle threads spin and
take the cores from the embedding model's, which doubled the warm ``ask`` time on two cores."""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits

from ingest.settings import Settings


def test_building_a_pipeline_leaves_blas_one_thread(corpus_hash_index: Settings) -> None:
    from app.pipeline import build_pipeline

    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
    assert blas, "numpy's BLAS is loaded"
    with threadpool_limits(2, user_api="blas"):  # as a fresh process on two or more cores starts
        assert all(info["num_threads"] == 2 for info in threadpool_info() if info["user_api"] == "blas")
        build_pipeline(corpus_hash_index).index.close()
        assert all(info["num_threads"] == 1 for info in threadpool_info() if info["user_api"] == "blas")
