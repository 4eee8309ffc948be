"""A pipeline runs numpy's BLAS on one thread (app.pipeline.limit_blas_threads): its idle threads spin and
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


def test_zero_leaves_the_process_blas_threads_as_they_are(corpus_hash_index: Settings) -> None:
    """For an application that embeds the pipeline and wants its own numpy threaded."""
    from dataclasses import replace

    from app.pipeline import build_pipeline

    with threadpool_limits(2, user_api="blas"):
        build_pipeline(replace(corpus_hash_index, blas_threads=0)).index.close()
        assert all(info["num_threads"] == 2 for info in threadpool_info() if info["user_api"] == "blas")
