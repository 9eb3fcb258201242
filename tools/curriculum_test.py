#!/usr/bin/env python3
"""tools.curriculum: the trainer's --data stages (restaurant_data.parse_curriculum) are read as
written, and anything else is refused with what is wrong."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from restaurant_data import curriculum_stage, parse_curriculum  # noqa: E402


class CurriculumTest(unittest.TestCase):
    def test_one_set_is_one_stage(self):
        self.assertEqual(parse_curriculum("v14"), [("v14", 1.0)])

    def test_stages_end_where_their_shares_add_up(self):
        stages = parse_curriculum("v2:0.2, v9:0.3,v14:0.5")
        self.assertEqual([name for name, _ in stages], ["v2", "v9", "v14"])
        self.assertAlmostEqual(stages[0][1], 0.2)
        self.assertAlmostEqual(stages[1][1], 0.5)
        self.assertEqual(stages[2][1], 1.0)
        self.assertEqual([curriculum_stage(stages, f) for f in (0.0, 0.19, 0.2, 0.49, 0.5, 0.99, 1.0)],
                         [0, 0, 1, 1, 2, 2, 2])

    def test_shares_that_float_arithmetic_rounds_still_end_at_one(self):
        stages = parse_curriculum(",".join(f"v{n}:0.1" for n in range(2, 12)))
        self.assertEqual(stages[-1], ("v11", 1.0))
        self.assertEqual(curriculum_stage(stages, 0.95), 9)

    def test_bad_specs_say_what_is_wrong(self):
        for spec, words in [("v99", "'v99' is not one of"), ("v2:0.5,v99:0.5", "'v99'"),
                            ("v2:0.5,v14:0.6", "sum to 1.1, not 1"), ("v2:0.5,v14", "needs a share"),
                            ("v2:half,v14:0.5", "needs a share"), ("v2:0,v14:1", "share 0.0, not in (0, 1]"),
                            ("", "'' is not one of"), ("v2:1,", "'' is not one of")]:
            with self.assertRaises(ValueError, msg=spec) as caught:
                parse_curriculum(spec)
            self.assertIn(words, str(caught.exception), spec)
            self.assertIn(repr(spec), str(caught.exception), spec)


if __name__ == "__main__":
    unittest.main()
