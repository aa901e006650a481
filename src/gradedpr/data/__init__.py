"""Collections (corpus, queries, graded qrels) from BEIR / TREC / DPR-json, the built-in dataset,
training groups with graded labels, negative sources and the in-batch collator."""

from gradedpr.data.collator import CollatedBatch, collate_groups
from gradedpr.data.collection import Collection, load_collection
from gradedpr.data.corpus import Corpus
from gradedpr.data.sampler import GroupSampler, TrainGroup

__all__ = ["CollatedBatch", "Collection", "Corpus", "GroupSampler", "TrainGroup", "collate_groups", "load_collection"]
