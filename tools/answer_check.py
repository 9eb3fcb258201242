#!/usr/bin/env python3
"""The answer check of docs/accuracy.md: is an answer right in content, whatever its format?

Exact match (pcache eval's figure) asks the model to copy the notes' formats as the house style
does ("19.00 USD", "9 p.m."). This check asks what a guest would: the same facts. It reads
the facts of the kinds whose gold answers carry a formatted value and compares values, not text:
  price                the dish, the amount and the currency ("19.00 dollars" = "19.00 USD",
                       "£14" = "14 pounds"; a missing or different currency is wrong)
  opening / closing    the day and the time ("5:30 pm" = "5:30 p.m." = "17:30", "12h" = "12:00");
                       an answer that gives the day's hours ("open from 9 am to 10 pm") is
                       right when its first (opening) or last (closing) time is; a closed day
                       must be said closed
  open_day             yes or no as the gold, and for a yes the same hours
  phone                the same digits
  course               the same dishes, in any order
Every other kind (yes/no answers among them) must match the gold exactly once case, spaces and
the final full stops are set aside: there the wording is the content.

  python3 tools/answer_check.py EVAL.json [EVAL.json ...]   # files written by `pcache eval --out`
prints, per file and method, exact match and this check (%), and the kinds where they differ.
"""
import argparse
import json
import re
import sys

CURRENCIES = [("GBP", r"£|\bgbp\b|\bpounds?\b"), ("USD", r"\$|\busd\b|\bdollars?\b"),
              ("EUR", r"€|\beur\b|\beuros?\b")]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
# A time: hours, then minutes after ":", "." or "h", or a suffix (am, pm, h, hrs) that makes a
# bare hour a time. Bare numbers are not times.
TIME = re.compile(r"\b(\d{1,2})(?:[:.h](\d{2}))?\s*(a\.?\s?m\b\.?|p\.?\s?m\b\.?|hrs?\b|h\b)?")
AMOUNT = re.compile(r"\d+(?:[.,]\d{1,2})?")


def normalize(text):
    """Lower case, one space between words, no final full stops."""
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip(". ")


def times(text):
    """Every time in text, as minutes after midnight, in order."""
    found = []
    for m in TIME.finditer(text.lower()):
        hour, minute, suffix = int(m.group(1)), m.group(2), (m.group(3) or "").replace(" ", "")
        if minute is None and not suffix:
            continue
        if hour > 24 or (minute is not None and int(minute) > 59):
            continue
        if suffix.startswith("p") and hour < 12:
            hour += 12
        elif suffix.startswith("a") and hour == 12:
            hour = 0
        found.append(hour * 60 + int(minute or 0))
    return found


def currency(text):
    """The one currency text names, or None (none or several)."""
    named = {code for code, pattern in CURRENCIES if re.search(pattern, text.lower())}
    return named.pop() if len(named) == 1 else None


def amount(text):
    m = AMOUNT.search(text)
    return float(m.group(0).replace(",", ".")) if m else None


def day(text):
    named = [d for d in DAYS if d in text.lower()]
    return named[0] if len(named) == 1 else None


def says_closed(text):
    return "closed" in text.lower() and "open from" not in text.lower()


def polarity(text):
    first = normalize(text).split(" ")[0].rstrip(",")
    return first if first in ("yes", "no") else None


def dishes(text):
    """"We have a, b and c." -> {a, b, c}"""
    body = re.sub(r"^we have ", "", normalize(text))
    return {d.strip() for d in re.split(r",| and ", body) if d.strip()}


def check_price(gold, answer):
    def parts(text):
        m = re.match(r"the (.+?) costs (.+)$", normalize(text))
        return (m.group(1), amount(m.group(2)), currency(m.group(2))) if m else None
    g, a = parts(gold), parts(answer)
    return g is not None and a is not None and g[0] == a[0] and g[1] is not None and \
        a[1] is not None and abs(g[1] - a[1]) < 1e-6 and g[2] is not None and g[2] == a[2]


def check_time(gold, answer, pick):
    if day(gold) != day(answer):
        return False
    if says_closed(gold):
        return says_closed(answer)
    g, a = times(gold), times(answer)
    return len(g) == 1 and len(a) >= 1 and not says_closed(answer) and pick(a) == g[0]


def check_open_day(gold, answer):
    if polarity(gold) is None or polarity(gold) != polarity(answer) or day(gold) != day(answer):
        return False
    if polarity(gold) == "no":
        return says_closed(answer)
    return times(gold) == times(answer) and len(times(gold)) == 2


def check(kind, gold, answer):
    """Whether `answer` gives the facts of `gold` (a house-style answer of `kind`)."""
    if kind == "price":
        return check_price(gold, answer)
    if kind == "opening":
        return check_time(gold, answer, lambda ts: ts[0])
    if kind == "closing":
        return check_time(gold, answer, lambda ts: ts[-1])
    if kind == "open_day":
        return check_open_day(gold, answer)
    if kind == "phone":
        digits = [re.sub(r"\D", "", t) for t in (gold, answer)]
        return digits[0] != "" and digits[0] == digits[1]
    if kind == "course":
        return dishes(gold) == dishes(answer)
    return normalize(gold) == normalize(answer)


def report(path):
    data = json.load(open(path))
    answers = data["answers"]
    methods = [m for m in ("full", "prefix", "scaffold", "independent", "pml_nocache")
               if m in answers[0]]
    print(f"{path}: {len(answers)} questions")
    print("method        exact match  answer check")
    for m in methods:
        exact = sum(a[m] == a["gold"] for a in answers)
        checked = sum(check(a["kind"], a["gold"], a[m]) for a in answers)
        print(f"{m:<13} {100 * exact / len(answers):10.1f}% {100 * checked / len(answers):12.1f}%")
    kinds = sorted({a["kind"] for a in answers})
    print("by kind (full): right of n, exact / checked")
    for k in kinds:
        rows = [a for a in answers if a["kind"] == k]
        exact = sum(a["full"] == a["gold"] for a in rows)
        checked = sum(check(k, a["gold"], a["full"]) for a in rows)
        if exact != checked:
            print(f"  {k:<10} n {len(rows):3}: {exact:3} / {checked:3}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("evals", nargs="+", help="JSON files written by pcache eval --out")
    for path in parser.parse_args().evals:
        report(path)


if __name__ == "__main__":
    sys.exit(main())
