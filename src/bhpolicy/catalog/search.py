"""Rank catalog entries for a free-text query.

An inverted index over each entry's code, descriptors, synonyms, plain language, description
and context. Every query word is expanded to the index words it resembles (exact, prefix, or
within an edit-distance ratio, via rapidfuzz), so typos and word order do not matter; a match
scores by the field's weight, the similarity and the word's rarity (IDF). Entries that match
more of the query's words rank higher.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from bhpolicy.catalog.model import CodeEntry
from bhpolicy.catalog.store import Catalog
from bhpolicy.errors import BhpolicyError

FIELD_WEIGHTS: dict[str, float] = {
    "code": 12.0,
    "official_descriptor": 3.0,
    "short_descriptor": 2.0,
    "synonyms": 3.0,
    "plain_language": 3.0,
    "description": 1.5,
    "clinical_context": 1.2,
}
STOPWORDS = frozenset(
    ["a", "an", "and", "as", "by", "for", "from", "in", "is", "of", "on", "or", "the", "to",
     "with"])
FUZZY_MIN_LENGTH = 4  # shorter words match exactly or as a prefix only
FUZZY_CUTOFF = 80.0  # rapidfuzz ratio, 0-100
PREFIX_SIMILARITY = 0.9
OTHER_FIELDS_SHARE = 0.25
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def _field_texts(entry: CodeEntry) -> dict[str, str]:
    texts = {"code": entry.code, "official_descriptor": entry.official_descriptor.value}
    for name in ("short_descriptor", "description", "clinical_context"):
        value = getattr(entry, name)
        if value is not None:
            texts[name] = value.value
    for name in ("synonyms", "plain_language"):
        value = getattr(entry, name)
        if value is not None:
            texts[name] = " ; ".join(value.value)
    return texts


@dataclass(frozen=True)
class Hit:
    code: str
    score: float
    matched: tuple[str, ...]  # fields that matched


@dataclass
class SearchIndex:
    postings: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    idf: dict[str, float] = field(default_factory=dict)
    phrases: dict[str, dict[str, str]] = field(default_factory=dict)
    vocabulary: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, catalog: Catalog) -> SearchIndex:
        postings: dict[str, set[tuple[str, str]]] = defaultdict(set)
        phrases: dict[str, dict[str, str]] = {}
        for code, entry in catalog.entries.items():
            texts = _field_texts(entry)
            phrases[code] = {name: " ".join(words(text)) for name, text in texts.items()}
            for name, text in texts.items():
                for word in words(text):
                    postings[word].add((code, name))
        total = max(len(catalog.entries), 1)
        idf = {w: math.log(1 + total / len({c for c, _ in p})) for w, p in postings.items()}
        return cls({w: sorted(p) for w, p in postings.items()}, idf, phrases, sorted(postings))

    def _expand(self, word: str) -> dict[str, float]:
        """Index words resembling ``word``, with a similarity in (0, 1]."""
        similar: dict[str, float] = {}
        if word in self.postings:
            similar[word] = 1.0
        if len(word) >= 3:
            for candidate in self.vocabulary:
                if candidate.startswith(word) and candidate != word:
                    similar[candidate] = PREFIX_SIMILARITY
        if len(word) >= FUZZY_MIN_LENGTH:
            for candidate, score, _ in process.extract(
                    word, self.vocabulary, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF,
                    limit=None):
                similar.setdefault(candidate, (score / 100.0) ** 2)
        return similar

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        terms = words(query)
        if not terms:
            raise BhpolicyError("empty query: give a code or some words to search for")
        scores: dict[str, float] = defaultdict(float)
        matched: dict[str, set[str]] = defaultdict(set)
        hits_per_code: dict[str, int] = defaultdict(int)
        for term in terms:
            # the best score of this term in each field of each entry
            by_field: dict[str, dict[str, float]] = defaultdict(dict)
            for candidate, similarity in self._expand(term).items():
                for code, name in self.postings[candidate]:
                    score = FIELD_WEIGHTS[name] * similarity * self.idf[candidate]
                    if score > by_field[code].get(name, 0.0):
                        by_field[code][name] = score
            for code, fields in by_field.items():
                ordered = sorted(fields.values(), reverse=True)
                # the best field counts whole; each further field that says it adds a little
                scores[code] += ordered[0] + OTHER_FIELDS_SHARE * sum(ordered[1:])
                matched[code].update(fields)
                hits_per_code[code] += 1
        phrase = " ".join(terms)
        ranked: list[Hit] = []
        for code, score in scores.items():
            coverage = hits_per_code[code] / len(terms)
            bonus = 1.5 if len(terms) > 1 and any(
                phrase in text for text in self.phrases[code].values()) else 1.0
            ranked.append(Hit(code, score * coverage * coverage * bonus,
                              tuple(sorted(matched[code]))))
        ranked.sort(key=lambda h: (-h.score, h.code))
        return ranked[:limit]
