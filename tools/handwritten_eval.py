#!/usr/bin/env python3
"""Assemble a hand-written evaluation set for `pcache eval` (issue 15).

The folder holds two hand-written files:
  eval_scaffold.xml  the restaurants as one PML schema `heldout_scaffold` (instructions, then a
                     union of restaurants r0, r1, ..., each with nested `hours` and `menu` modules,
                     the shape `pcache eval` imports);
  questions.jsonl    {"restaurant", "user", "answer", "kind"} per line: a guest's question about one
                     restaurant and the expected answer, in the house style of tools/restaurant_data.py;
                     allergen and policy questions also have "answer_quote", the answer in the house
                     style that copies first (restaurant_data.py --answers quote, the v5 attempt).
This writes beside them what `pcache eval` reads as well:
  eval.jsonl         each question with "system": the instructions and that restaurant's notes, as one
                     chat system turn (instructions, overview, hours, menu: each text trimmed, joined by
                     newlines, as tools/restaurant_data.py lays out its own held-out questions);
  eval_quote.jsonl   the same, with the "answer_quote" answers (pcache eval --questions);
  eval_independent.xml  the same schema, named heldout_independent, in independent mode.

Usage: python3 tools/handwritten_eval.py tests/fixtures/eval-handwritten
"""
import json
import os
import sys
import xml.etree.ElementTree as ET


def main():
    folder = sys.argv[1]
    path = os.path.join(folder, "eval_scaffold.xml")
    text = open(path, encoding="utf-8").read()
    schema = ET.fromstring(text[text.index("<schema"):])
    system = schema.find("system")
    instructions = system.text.strip()
    notes = {}
    for module in system.find("union").findall("module"):
        parts = [module.text.strip()] + [module.find(f"module[@name='{n}']").text.strip() for n in ("hours", "menu")]
        notes[module.get("name")] = instructions + "\n" + "\n".join(parts)
    with open(os.path.join(folder, "questions.jsonl"), encoding="utf-8") as f:
        questions = [json.loads(line) for line in f]
    for name, style in (("eval.jsonl", "answer"), ("eval_quote.jsonl", "answer_quote")):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as out:
            for q in questions:
                out.write(json.dumps({"restaurant": q["restaurant"], "system": notes[q["restaurant"]], "user": q["user"],
                                      "answer": q.get(style, q["answer"]), "kind": q["kind"]}, ensure_ascii=False) + "\n")
    independent = text.replace('<schema name="heldout_scaffold" mode="scaffold">',
                               '<schema name="heldout_independent" mode="independent">')
    assert independent != text, "the schema must be named heldout_scaffold, in scaffold mode"
    with open(os.path.join(folder, "eval_independent.xml"), "w", encoding="utf-8") as f:
        f.write(independent)
    print(f"{folder}: {len(notes)} restaurants, eval.jsonl, eval_quote.jsonl and eval_independent.xml written")


if __name__ == "__main__":
    main()
