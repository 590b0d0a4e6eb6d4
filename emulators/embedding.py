"""Embeddings that place similar texts near each other, without a model: hashed features, L2-normalised.

Why: semantic search and RAG context rank by cosine similarity, so a test of them needs vectors where a paraphrase
is closer than an unrelated text; random vectors per text make every pair equally far. Each lower-cased word
(Unicode letters and digits) and each character trigram of a word (``^wo``, ``wor``, ``rd$``: shared stems of
inflected words count, Russian and Ukrainian ones included) adds a signed weight to one coordinate chosen by its
hash (the "hashing trick"), with sublinear term frequency. Texts sharing more words and stems share more weight.
The same text always gives the same vector, at any dimension. A text with no word (emoji, punctuation, empty)
gets a unit vector seeded by its hash, as before.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter

_WORD = re.compile(r"\w+")
WORD_WEIGHT = 1.0
TRIGRAM_WEIGHT = 0.4

# Output sizes of real embedding models (OpenAI's, and Ollama's usual ones), used when a request names no size.
DEFAULT_DIMENSIONS = 1536
MODEL_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "nomic-embed-text": 768,
    "mxbai-embed-large": 1024,
    "all-minilm": 384,
}
# OpenAI's older model has one size: asking it for another is a 400.
FIXED_SIZE_MODELS = frozenset({"text-embedding-ada-002"})


def default_dimensions(model: str) -> int:
    return MODEL_DIMENSIONS.get(model.split(":", 1)[0], DEFAULT_DIMENSIONS)  # Ollama tags: "nomic-embed-text:v1.5"


def features(text: str) -> Counter[str]:
    weights: Counter[str] = Counter()
    for word in _WORD.findall(text.lower()):
        weights["w:" + word] += 1
        padded = f"^{word}$"
        for i in range(len(padded) - 2):
            weights["c:" + padded[i : i + 3]] += 1
    return weights


def embed(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for feature, count in features(text).items():
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest[:7], "big") % dimensions
        sign = 1.0 if digest[7] & 1 else -1.0
        weight = WORD_WEIGHT if feature.startswith("w:") else TRIGRAM_WEIGHT
        vector[bucket] += sign * weight * (1 + math.log(count))
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        return _seeded(text, dimensions)
    return [x / norm for x in vector]


def _seeded(text: str, dimensions: int) -> list[float]:
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))
