#!/usr/bin/env python3
"""tools.answer_check: the answer check accepts the same facts in another format and nothing
else. The pairs are real gold answers and model answers of docs/accuracy.md's evaluations."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from answer_check import check, times  # noqa: E402


class AnswerCheckTest(unittest.TestCase):
    def test_times_in_every_format(self):
        self.assertEqual(times("9 p.m.."), [21 * 60])
        self.assertEqual(times("from 10.15am to 17.15pm"), [10 * 60 + 15, 17 * 60 + 15])
        self.assertEqual(times("12h and 21h30 and 23h"), [12 * 60, 21 * 60 + 30, 23 * 60])
        self.assertEqual(times("12pm, 12:00 am, 12:30 PM"), [12 * 60, 0, 12 * 60 + 30])
        self.assertEqual(times("11 hrs"), [11 * 60])
        self.assertEqual(times("table for 4 at 7"), [])  # bare numbers are not times

    def test_price_needs_dish_amount_and_currency(self):
        gold = "The pandan custard costs 19.00 USD."
        self.assertTrue(check("price", gold, "The pandan custard costs 19.00 dollars."))
        self.assertTrue(check("price", gold, "The pandan custard costs $19."))
        self.assertFalse(check("price", gold, "The pandan custard costs 19.00 pounds."))
        self.assertFalse(check("price", gold, "The pandan custard costs 19.00."))
        self.assertFalse(check("price", gold, "The pandan pudding costs 19.00 USD."))
        self.assertFalse(check("price", "The crispy duck salad costs 29,00 €.",
                               "The crispy duck salad costs €0.25."))
        self.assertTrue(check("price", "The crispy duck salad costs 29,00 €.",
                              "The crispy duck salad costs €29.00."))
        self.assertTrue(check("price", "The fish pie costs £14.", "The fish pie costs 14 pounds."))
        self.assertFalse(check("price", "The fish pie costs £14.",
                               "The fish and chips costs £14."))

    def test_opening_and_closing_times(self):
        self.assertTrue(check("opening", "On Monday we open at 5:30 p.m..",
                              "On Monday we open at 5:30 pm."))
        self.assertTrue(check("opening", "On Tuesday we open at 12h.", "On Tuesday we open at 12:00."))
        self.assertFalse(check("opening", "On Tuesday we open at 12h.",
                               "On Tuesday we open at 12.30."))
        self.assertFalse(check("opening", "On Monday we open at 5:30 p.m..",
                               "On Sunday we open at 5:30 pm."))
        self.assertTrue(check("closing", "On Friday we close at 22h15.",
                              "Yes, on Friday we are open from 11:15 to 22:15."))
        self.assertFalse(check("closing", "On Friday we close at 22h.",
                               "Yes, on Friday we are open from 10:30 to 22:30."))
        self.assertTrue(check("opening", "We are closed on Sunday.", "No, we are closed on Sunday."))
        self.assertFalse(check("opening", "We are closed on Sunday.",
                               "On Sunday we open at 11 am."))
        self.assertFalse(check("closing", "On Sunday we close at 6 pm.",
                               "On Sunday we close at 11 pm."))

    def test_open_day(self):
        gold = "Yes, on Saturday we are open from 9 a.m. to 10 p.m.."
        self.assertTrue(check("open_day", gold, "Yes, on Saturday we are open from 9 am to 22:00."))
        self.assertFalse(check("open_day", gold, "Yes, on Saturday we are open from 9 am to 11 pm."))
        self.assertFalse(check("open_day", gold, "No, we are closed on Saturday."))
        self.assertTrue(check("open_day", "No, we are closed on Monday.",
                              "No, we are closed on Monday"))
        self.assertFalse(check("open_day", "No, we are closed on Monday.",
                               "Yes, on Monday we are open from 11:30 to 22:00."))

    def test_phone_course_and_the_rest(self):
        self.assertTrue(check("phone", "You can call us on (503) 555-0187.",
                              "You can call us on 503 555 0187."))
        self.assertFalse(check("phone", "You can call us on (503) 555-0187.",
                               "You can call us on (555) 555-0187."))
        self.assertTrue(check("course", "We have tiramisu and lemon sorbet.",
                              "We have lemon sorbet and tiramisu."))
        self.assertFalse(check("course", "We have tiramisu and lemon sorbet.", "We have tiramisu."))
        self.assertTrue(check("policy", "Yes, dogs are welcome.", "yes, dogs are welcome"))
        self.assertFalse(check("policy", "Yes, dogs are welcome.", "Yes, dogs are allowed."))
        self.assertFalse(check("address", "We are at 14 Quayside Lane, Bristol.",
                               "We are at 14 Quarry Lane, Bristol."))


if __name__ == "__main__":
    unittest.main()
