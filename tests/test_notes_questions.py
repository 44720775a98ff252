"""The lecture notes' own questions must be in the quizzes, in the notes' words, with the
notes' answers as the correct options."""

from __future__ import annotations

import pytest

from course_utils.learner.quiz import load_quiz_file, quiz_dir

# Copied from the lecture notes: prompt -> the notes' answers, word for word.
NOTES_QUESTIONS = {
    "What problems do RNN architectures without attention have for sequence-to-sequence "
    "problems?": [
        "It is hard to learn long-distance dependencies in RNNs.",
        "We cannot compute the future hidden states until the past hidden states have been "
        "computed.",
        "Lack of parallelizability.",
    ],
    "In the original Transformer model, how are attention weights calculated for a given "
    "token?": [
        "As the dot product between the token's embedding and those of all other tokens, "
        "followed by a softmax.",
    ],
    "What is the primary advantage of the Transformer architecture over traditional RNNs for "
    "sequence tasks?": [
        "The ability to capture long-range dependencies without the problem of vanishing "
        "gradients.",
    ],
    "What is one of the main disadvantages of transformer models for language modelling?": [
        "Large memory requirements.",
    ],
    "Which of the following properties will a good position encoding ideally have?": [
        "Unique for all positions.",
        "Relative distances are independent of absolute sequence position.",
        "Well-defined for arbitrary sequence lengths.",
    ],
}


def _notes_questions():
    found = []
    for path in sorted(quiz_dir().glob("*.yaml")):
        for question in load_quiz_file(path).questions:
            if question.source == "notes":
                found.append((path.name, question))
    return found


def test_every_notes_question_is_in_a_quiz():
    # A notes' question may be asked in more than one chapter (e.g. Q1 where an experiment
    # answers it and again in the notes' own quiz), but never dropped.
    prompts = [q.prompt for _, q in _notes_questions()]
    for prompt in NOTES_QUESTIONS:
        assert prompts.count(prompt) >= 1, f"the notes' question {prompt!r} is in no quiz"


@pytest.mark.parametrize("where, question", _notes_questions(), ids=lambda v: getattr(v, "id", v))
def test_notes_question_keeps_the_notes_wording_and_answers(where, question):
    assert question.prompt in NOTES_QUESTIONS, (
        f"{where}: question {question.id!r} is marked source: notes but its prompt is not one "
        "of the notes' questions word for word")
    correct = [o.text for o in question.options if o.correct]
    assert correct == NOTES_QUESTIONS[question.prompt], (
        f"{where}: question {question.id!r}: the correct options must be the notes' answers")
    assert question.kind == ("multiple" if len(correct) > 1 else "single")
