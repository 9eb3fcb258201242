#!/usr/bin/env python3
"""tools.pick_demo_questions: a question is picked only when every method answered it exactly,
and only the first such question of each kind."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pick_demo_questions import picked_lines  # noqa: E402


def answer(line, kind, gold, **methods):
    return dict(line=line, kind=kind, gold=gold, **methods)


class PickDemoQuestionsTest(unittest.TestCase):
    def test_first_exact_question_of_each_kind(self):
        result = {"summary": {"full": {}, "scaffold": {}},
                  "answers": [answer(1, "price", "A.", full="A.", scaffold="B."),  # scaffold wrong
                              answer(2, "price", "C.", full="C.", scaffold="C."),
                              answer(3, "price", "D.", full="D.", scaffold="D."),  # not the first
                              answer(4, "phone", "E.", full="E.", scaffold="E."),
                              answer(5, "address", "F.", full="G.", scaffold="F.")]}
        self.assertEqual(picked_lines(result), [2, 4])


if __name__ == "__main__":
    unittest.main()
