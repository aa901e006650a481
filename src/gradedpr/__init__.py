"""gradedpr: DPR-style dual encoders trained from graded relevance with listwise NDCG surrogates."""

__version__ = "0.1.0"
