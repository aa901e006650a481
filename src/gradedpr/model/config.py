"""The settings a checkpoint carries so that loading it needs no flags."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from gradedpr.config.schema import POOLINGS, SIMILARITIES, ModelConfig
from gradedpr.errors import CheckpointError

__all__ = ["CONFIG_NAME", "POOLINGS", "SIMILARITIES", "BiEncoderConfig"]

CONFIG_NAME = "gradedpr.json"


@dataclass
class BiEncoderConfig:
    """Pooling, similarity and lengths of a :class:`~gradedpr.model.BiEncoder`.

    ``score(q, p) = sim(q, p) / temperature`` where ``sim`` is the dot product or the cosine. With cosine
    the embeddings are L2-normalised, so inner-product search (FAISS ``IndexFlatIP``) ranks by cosine.
    """

    pooling: str = ModelConfig.pooling  # the defaults are the ``model`` config group's (one source)
    similarity: str = ModelConfig.similarity
    temperature: float = ModelConfig.temperature
    query_max_length: int = ModelConfig.query_max_length
    passage_max_length: int = ModelConfig.passage_max_length
    shared: bool = ModelConfig.shared

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.query_max_length < 2 or self.passage_max_length < 2:
            raise ValueError("query_max_length and passage_max_length must be >= 2")

    @property
    def normalize(self) -> bool:
        return self.similarity == "cosine"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BiEncoderConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown BiEncoder settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def load(cls, directory: str | Path) -> BiEncoderConfig:
        path = Path(directory) / CONFIG_NAME
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{path}: cannot read the checkpoint settings: {exc}") from exc
        values.pop("format_version", None)
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: {exc}") from exc
