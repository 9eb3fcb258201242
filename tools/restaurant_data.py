#!/usr/bin/env python3
"""Synthetic restaurant data for the demo model (issues 7 and 15): seeded, varied, exact.

Restaurant notes are written in many styles, as people write them: key-value lines with varied
labels, prose, bullet lists and tables, several currencies and price formats, 12- and 24-hour
times, day ranges ("Tuesday to Sunday", "Mon-Fri", "every day except Monday"), policies in many
phrasings, sections in any order, one or two restaurants. Guests ask in many wordings, including
yes/no questions, look-ups ("Which desserts do you have?") and questions the notes do not answer.
Instruct tasks (answer from a short document) and plain chat ("Hello", a system prompt alone)
keep the model sensible outside restaurant notes.

Every style choice (label, layout, time and price format, phrasing of notes and questions) has a
pool used in training and a pool held out (`Style(heldout=True)`): the held-out styles are never
drawn for training. Held-out restaurants also belong to owners training never uses.

Training sets can be drawn (`--data`, TRAINING_DATA): v2, which the shipped model was
trained on, and v3 (`wide`), tried for issue 15 and not shipped (docs/accuracy.md, "Demo model v3
attempt"): the v2 training choices plus `extra` ones (labels, headers, question wordings), time
and price formats put together at random, more hours and menu layouts, coined names, streets,
cities and dishes, varied phone numbers, policies in many more phrasings, allergen and policy
answers balanced, and a kind allergen_list. v3 draws none of the held-out choices. Two more
were tried after it and not shipped either: v4, the v2 data with made-up names in a share of the
restaurants (coin_names), and v5, the v2 data with allergen and policy answers that copy first
(`quote`, below). v6, tried and not shipped too, is v2 with fewer made-up names than v4 and,
for 12% of the examples, a look-up in a list of made-up keys and values drawn from the
tokenizer's whole vocabulary (lookup_task); v7 (not trained yet) keeps 5% of those look-ups and
no made-up names. v8 is the v2 data with a share of drills (drill_task): the questions whose
answer needs a look-up that no v2 model learned (policy, allergen, has_dish, open_day), asked over
only the part of the notes that holds the answer, so that the look-up is short to find; v9 has
half drills, for continuing a v2 model's training (docs/accuracy.md: a small model learned the
policy look-up only after some 180k drills); v10 is v9 with allergen drills four times and has_dish
drills twice as often as the others, for continuing v9; v11 adds drills whose answer copies an
unfamiliar name or number (address, phone, cuisine, price; COPY_DRILL_KINDS), for continuing
v10; v12 (for continuing v11) draws half of v11's non-drill examples with v3's wider styles, the
curriculum docs/accuracy.md proposed after v3 (the look-ups first, then the variety); v13 (for
continuing v12) adds drills and a share of restaurants whose times and prices are
written in made-up formats (coin_formats), so that they are copied, not rewritten; v14 (for
continuing v13; the shipped model) writes a share of restaurants with names one step from familiar
ones (near_names: "beef tart", "Harbour Road"), so that the notes' word is copied; v15 (for
continuing v14; tried, not shipped) lays a share of menus out in made-up ways (coin_menu) and words a
share of questions from parts (composed_wording), the two sides of the held-out styles' misses
(docs/accuracy.md, "Where v14's misses ... come from"). The evaluation
sets are drawn without these options, so they are the same with any, byte for byte (v5's house
style for them: --answers quote).

Answers are a pure function of the notes, in one house style (copying times, prices, addresses
and phone numbers exactly as the notes write them), so exact match is a fair measure:
  opening      On Friday we open at 11:30.           | We are closed on Monday.
  closing      On Friday we close at 10 pm.          | We are closed on Monday.
  open_day     Yes, on Friday we are open from 11:30 to 22:00. | No, we are closed on Monday.
  price        The fish pie costs £14.
  allergen     Yes, the fish pie contains milk.      | No, the fish pie does not list nuts.
  has_dish     Yes, we have fish pie.                | No, we do not have fish pie.
  course       We have tiramisu, panna cotta and affogato.
  address      We are at 12 Mill Lane, Leeds.
  phone        You can call us on 0113 496 0000.
  special      Every Tuesday the lasagne is half price.
  cuisine      We serve Italian food.
  policy       Yes, dogs are welcome. (one fixed answer per policy and value, POLICIES)
  unknown      I'm sorry, my notes do not say. Please call the restaurant to ask.
  greeting     Hello! How can I help you?  (thanks: You're welcome!  goodbye: Goodbye, see you soon!)
Dish names are answered in lower case. `--answers quote` (the v5 attempt, docs/accuracy.md) writes
allergen and policy answers that copy first:
  allergen     The fish pie contains fish and milk, so yes, it contains milk. | ..., so it has no nuts.
  policy       Our notes say: Sorry, no pets. (the notes' sentence)

Writes, into --out:
  train.jsonl   --train examples ({"system", "user", "answer", "kind"}); the trainer draws its own;
  eval.jsonl    held-out questions ({"restaurant", "system", "user", "answer", "kind"}), one
                restaurant each, owners never seen in training, styles of --styles;
  eval_scaffold.xml, eval_independent.xml
                the held-out restaurants as one PML schema (instructions, then a union of
                restaurants, each with hours and menu as nested modules), once per encoding mode
                (schemas heldout_scaffold and heldout_independent): what `pcache eval` reads.
  --corpus FILE also writes the text of that many training examples, for training a tokenizer.

Usage: python3 tools/restaurant_data.py --out data/ --eval 400 --seed 1 [--styles heldout]
(--styles heldout-notes or heldout-questions: held-out styles on one side only, docs/accuracy.md)
"""
import argparse
import json
import os
import random
from xml.sax.saxutils import escape

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ABBR = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
NOT_IN_NOTES = "I'm sorry, my notes do not say. Please call the restaurant to ask."
GREETING, THANKS, GOODBYE = "Hello! How can I help you?", "You're welcome!", "Goodbye, see you soon!"


class Pool:
    """Choices for one style dimension: `train` ones, and `held` ones never drawn in training.
    `extra` ones (v3) are training choices too, drawn only for training examples (`wide`): the
    evaluation sets are drawn without them, exactly as before they existed."""

    def __init__(self, train, held, extra=()):
        self.train, self.held, self.extra = train, held, list(extra)

    def pick(self, rng, heldout, wide=False):
        if heldout and self.held:
            return rng.choice(self.held)
        if wide and self.extra and rng.random() < 0.5:
            return rng.choice(self.extra)
        return rng.choice(self.train)


# ---------------------------------------------------------------------------------------------
# Facts.

# cuisine: (kinds of place, starters, mains, desserts); the last three cuisines are held out.
CUISINES = {
    "Italian": (["Trattoria", "Osteria", "Cucina", "Pizzeria"],
                ["bruschetta", "minestrone", "burrata", "arancini", "caprese salad"],
                ["tagliatelle al ragu", "risotto with porcini", "margherita pizza", "lasagne", "saltimbocca",
                 "gnocchi with sage butter", "spaghetti carbonara", "osso buco"],
                ["tiramisu", "panna cotta", "affogato", "cannoli"]),
    "Japanese": (["Izakaya", "Kitchen", "House", "Sushi Bar"],
                 ["miso soup", "edamame", "gyoza", "seaweed salad", "agedashi tofu"],
                 ["chicken yakitori", "salmon teriyaki", "tonkotsu ramen", "vegetable tempura", "katsu curry",
                  "okonomiyaki", "beef udon", "salmon nigiri"],
                 ["matcha ice cream", "mochi", "dorayaki", "black sesame pudding"]),
    "Mexican": (["Cantina", "Taqueria", "Cocina"],
                ["guacamole", "black bean soup", "elote", "nachos", "ceviche tostada"],
                ["tacos al pastor", "chicken enchiladas", "pozole", "quesadilla", "carnitas", "chiles rellenos",
                 "beef burrito", "mole poblano"],
                ["churros", "flan", "tres leches cake", "mango sorbet"]),
    "Indian": (["Tandoor", "Spice House", "Kitchen", "Dhaba"],
               ["vegetable samosa", "onion bhaji", "chicken tikka", "aloo tikki", "paneer pakora"],
               ["butter chicken", "lamb rogan josh", "chana masala", "palak paneer", "dal makhani",
                "chicken biryani", "prawn curry", "lamb korma"],
               ["gulab jamun", "mango kulfi", "rasmalai", "carrot halwa"]),
    "French": (["Bistro", "Brasserie", "Cafe"],
               ["onion soup", "escargots", "pate de campagne", "nicoise salad", "goat cheese tart"],
               ["steak frites", "coq au vin", "ratatouille", "croque monsieur", "duck confit",
                "quiche lorraine", "bouillabaisse", "beef bourguignon"],
               ["creme brulee", "tarte tatin", "chocolate mousse", "profiteroles"]),
    "Greek": (["Taverna", "Kouzina", "Grill"],
              ["tzatziki", "dolmades", "spanakopita", "greek salad", "saganaki"],
              ["moussaka", "chicken souvlaki", "grilled octopus", "lamb kleftiko", "pastitsio",
               "gyros plate", "stifado", "sea bream"],
              ["baklava", "loukoumades", "galaktoboureko", "yogurt with honey"]),
    "Thai": (["Kitchen", "Thai House", "Garden"],
             ["tom yum soup", "spring rolls", "chicken satay", "papaya salad", "fish cakes"],
             ["pad thai", "green curry", "massaman curry", "pad kra pao", "red duck curry", "drunken noodles",
              "crispy pork belly", "jungle curry"],
             ["mango sticky rice", "coconut ice cream", "banana fritters", "pandan custard"]),
    "Spanish": (["Bodega", "Tapas Bar", "Casa"],
                ["patatas bravas", "gazpacho", "croquetas", "pan con tomate", "padron peppers"],
                ["seafood paella", "chorizo stew", "grilled lamb chops", "tortilla espanola", "pork cheeks",
                 "black rice", "hake in green sauce", "chicken al ajillo"],
                ["crema catalana", "churros con chocolate", "tarta de santiago", "flan de huevo"]),
    "British": (["Kitchen", "Arms", "Dining Rooms"],
                ["leek and potato soup", "scotch egg", "potted shrimp", "prawn cocktail", "welsh rarebit"],
                ["fish and chips", "shepherd's pie", "bangers and mash", "steak and ale pie", "roast chicken",
                 "beef wellington", "ploughman's lunch", "cottage pie"],
                ["sticky toffee pudding", "eton mess", "bread and butter pudding", "apple crumble"]),
    "Lebanese": (["Grill", "Kitchen", "Mezze House"],
                 ["hummus", "baba ghanoush", "tabbouleh", "falafel", "fattoush"],
                 ["chicken shawarma", "lamb kofta", "mixed grill", "kibbeh", "stuffed vine leaves",
                  "shish taouk", "moussaka batinjan", "sea bass harra"],
                 ["baklawa", "knafeh", "muhallabia", "maamoul"]),
    # Held-out cuisines: never in training.
    "Portuguese": (["Tasca", "Casa", "Adega"],
                   ["caldo verde", "pasteis de bacalhau", "grilled chourico", "clams bulhao pato"],
                   ["bacalhau a bras", "francesinha", "piri piri chicken", "arroz de marisco", "bitoque",
                    "grilled sardines", "cataplana"],
                   ["pastel de nata", "arroz doce", "serradura"]),
    "Korean": (["Kitchen", "House", "BBQ"],
               ["kimchi pancake", "mandu", "japchae", "tteokbokki"],
               ["bibimbap", "bulgogi", "kimchi stew", "korean fried chicken", "galbi", "sundubu jjigae",
                "dakgalbi"],
               ["bingsu", "hotteok", "yakgwa"]),
    "Peruvian": (["Cocina", "Picanteria", "Casa"],
                 ["ceviche", "papa a la huancaina", "causa limena", "anticuchos"],
                 ["lomo saltado", "aji de gallina", "arroz con pollo", "pollo a la brasa", "seco de cordero",
                  "tacu tacu", "chaufa"],
                 ["picarones", "suspiro limeno", "alfajores"]),
}
HELDOUT_CUISINES = ["Portuguese", "Korean", "Peruvian"]
TRAIN_CUISINES = [c for c in CUISINES if c not in HELDOUT_CUISINES]
# Generic dishes mixed into every menu, so that a model copies names instead of recalling them.
PREPS = ["grilled", "roast", "smoked", "braised", "fried", "baked", "spiced", "slow-cooked", "crispy", "charred",
         "poached", "stuffed", "glazed", "herb-crusted"]
PROTEINS = ["chicken", "lamb", "salmon", "cod", "tofu", "pork belly", "beef", "duck", "prawns", "aubergine",
            "mushrooms", "halloumi", "squid", "trout", "cauliflower", "venison", "sea bass", "pumpkin"]
SIDES = ["rice", "chips", "salad", "mash", "greens", "flatbread", "noodles", "polenta", "lentils", "couscous"]
FLAVOURS = ["chocolate", "lemon", "apple", "vanilla", "raspberry", "coconut", "pistachio", "honey", "ginger",
            "caramel", "cherry", "orange", "hazelnut", "rhubarb"]
SWEETS = ["tart", "cake", "ice cream", "mousse", "pudding", "sorbet", "cheesecake", "crumble", "brownie", "parfait"]
SOUPS = ["tomato", "pea", "carrot", "lentil", "mushroom", "fish", "squash", "bean", "onion", "chicken"]

FIRST = ["Lucia", "Marco", "Sakura", "Rosa", "Amir", "Elena", "Hugo", "Nikos", "Priya", "Ines", "Oscar", "Mei",
         "Tomas", "Leila", "Bruno", "Anya", "Felix", "Dara", "Yusuf", "Clara", "Pablo", "Hana", "Luca", "Sofia",
         "Greta", "Omar", "Vera", "Karim", "Lena", "Diego", "Sam", "Nora", "Ivan", "Zoe", "Rafael", "Ada",
         "Kenji", "Maria", "Paolo", "Fatima", "George", "Helen", "Aiko", "Jamal", "Olga", "Pierre", "Rita",
         "Samir", "Tara", "Ugo", "Wanda", "Yara", "Carlos", "Beatriz", "Dmitri", "Eva", "Farid", "Gemma",
         "Ayla", "Matteo", "Ruth", "Ravi", "Maya", "Jonas", "Nadia", "Theo", "Alma", "Basil", "Chloe", "Emeka"]
HELDOUT_OWNERS = FIRST[-12:]  # never own (or name) a training restaurant
TRAIN_OWNERS = FIRST[:-12]
STREET_WORDS = ["Alder", "Oak", "Harbor", "Mill", "King", "Elm", "Station", "Market", "River", "Chapel", "Cedar",
                "Bridge", "Church", "Park", "Queen", "High", "Castle", "Garden", "Victoria", "Orchard", "Baker",
                "Rose", "Willow", "Spring", "Canal", "North", "West", "Hill", "Abbey", "Mercer", "Fountain", "Hazel",
                "Juniper", "Lime", "Maple", "Quarry", "Rowan", "Tanner", "Weaver", "Windmill"]
STREET_TYPES = ["Street", "Road", "Lane", "Avenue", "Square", "Way", "Place", "Row", "Walk", "Quay", "Terrace"]
CITIES = ["Portland", "Leeds", "Lyon", "Porto", "Osaka", "Austin", "Dublin", "Turin", "Ghent", "Malmo", "Bristol",
          "Denver", "Bologna", "Seville", "Kyoto", "Cork", "Utrecht", "Graz", "Bergen", "Halifax", "Perth",
          "Nantes", "Leipzig", "Bath", "York", "Boston", "Oxford", "Geneva", "Bilbao", "Aarhus"]
ALLERGENS = ["gluten", "milk", "eggs", "nuts", "peanuts", "fish", "shellfish", "soy", "sesame", "celery",
             "mustard", "sulphites"]


def dish_pool(rng, cuisine):
    _, starters, mains, desserts = CUISINES[cuisine]
    starters = starters + [f"{rng.choice(SOUPS)} soup", f"{rng.choice(PREPS)} {rng.choice(PROTEINS)} salad"]
    mains = mains + [f"{rng.choice(PREPS)} {rng.choice(PROTEINS)}" + (f" with {rng.choice(SIDES)}" if rng.random() < 0.6 else "")
                     for _ in range(3)]
    desserts = desserts + [f"{rng.choice(FLAVOURS)} {rng.choice(SWEETS)}" for _ in range(2)]
    return {"starter": list(dict.fromkeys(starters)), "main": list(dict.fromkeys(mains)),
            "dessert": list(dict.fromkeys(desserts))}


def make_hours(rng):
    """{day: None (closed) or ((h, m) open, (h, m) close)}: one or two schedules, 0-2 closed days."""
    closed = rng.choice([[], ["Monday"], ["Monday"], ["Sunday"], ["Monday", "Tuesday"], ["Tuesday"],
                         ["Sunday", "Monday"], [rng.choice(DAYS)]])
    mins = lambda: rng.choice([0, 0, 0, 30, 30, 15])
    week = ((rng.choice([8, 10, 11, 11, 12, 12, 17, 18]), mins()), (rng.choice([21, 22, 22, 23, 23]), mins()))
    weekend = week if rng.random() < 0.5 else ((rng.choice([9, 10, 11, 12]), mins()), (rng.choice([22, 23]), mins()))
    if rng.random() < 0.15:  # one odd day
        odd = rng.choice(DAYS[:5])
        odd_hours = ((rng.choice([12, 17]), 0), (rng.choice([15, 20, 21]), mins()))
    else:
        odd, odd_hours = None, None
    hours = {}
    for d in DAYS:
        hours[d] = None if d in closed else odd_hours if d == odd else weekend if d in ("Saturday", "Sunday") else week
    return hours


def make_restaurant(rng, owners=TRAIN_OWNERS, heldout=False, wide=False):
    """A restaurant's facts and the style its notes are written in. `wide` (training examples
    only, v3): drawn by make_restaurant_wide, with coined names, more varied addresses, phone
    numbers, hours and menus, and the extra style choices; without it (the evaluation sets) the
    draws are those of v2, byte for byte."""
    if wide and not heldout:
        return make_restaurant_wide(rng, owners)
    cuisine = rng.choice(HELDOUT_CUISINES if heldout and rng.random() < 0.5 else TRAIN_CUISINES)
    owner = rng.choice(owners)
    kind = rng.choice(CUISINES[cuisine][0])
    name = rng.choice([f"{kind} {owner}", f"{kind} {owner}", f"{owner}'s", f"{owner}'s {kind}",
                       f"The {rng.choice(STREET_WORDS)} {kind}", f"{kind} {owner}"])
    pool = dish_pool(rng, cuisine)
    menu = []
    for course, n in (("starter", rng.choice([1, 2, 2, 3])), ("main", rng.choice([2, 3, 3, 4])),
                      ("dessert", rng.choice([1, 2, 2, 3]))):
        for dish in rng.sample(pool[course], n):
            cents = rng.choice([0, 0, 0, 50, 50, 95, 25])
            menu.append({"dish": dish, "course": course, "price": (rng.randint(4, 34), cents),
                         "allergens": sorted(rng.sample(ALLERGENS, rng.choice([0, 1, 1, 2, 2, 3])))})
    # Dishes of the same cuisine that are not on the menu (for "Do you have ...?").
    absent = [d for c in pool.values() for d in c if d not in {m["dish"] for m in menu}]
    hours = make_hours(rng)
    num, street, city = rng.randint(1, 399), f"{rng.choice(STREET_WORDS)} {rng.choice(STREET_TYPES)}", rng.choice(CITIES)
    address = rng.choice([f"{num} {street}, {city}", f"{num} {street}, {city}", f"{street} {num}, {city}",
                          f"{num} {street}", f"{num} {street}, {city} {rng.choice('ABCDEFGHJKLMNP')}{rng.randint(1, 20)}"])
    d = lambda k: "".join(str(rng.randint(0, 9)) for _ in range(k))
    phone = rng.choice([f"555-{d(4)}", f"555-{d(4)}", f"(555) {d(3)}-{d(4)}", f"0{d(3)} {d(3)} {d(4)}",
                        f"+44 {d(2)} {d(4)} {d(4)}", f"0{d(1)} {d(2)} {d(2)} {d(2)} {d(2)}", f"{d(3)} {d(4)}"])
    return restaurant_facts(rng, name, cuisine, owner, address, phone, hours, menu, absent,
                            policies=(2, 6), special_rate=0.6,
                            style=lambda currency: Style(rng, heldout, currency))


def restaurant_facts(rng, name, cuisine, owner, address, phone, hours, menu, absent, policies,
                     special_rate, style):
    """The facts both generators finish with, in one draw order: `policies` (fewest, most) of
    them, a weekly special on an open day at `special_rate`, a currency, then `style(currency)`."""
    policy_keys = rng.sample(sorted(POLICIES), rng.randint(*policies))
    open_days = [x for x in DAYS if hours[x]]
    special = (rng.choice(open_days), rng.choice(menu)["dish"]) if rng.random() < special_rate else None
    currency = rng.choice(["$", "£", "€"])
    return {"name": name, "cuisine": cuisine, "owner": owner, "address": address, "phone": phone,
            "hours": hours, "menu": menu, "absent_dishes": absent, "currency": currency,
            "policies": {k: rng.random() < 0.5 for k in policy_keys}, "special": special,
            "style": style(currency)}


# v3, training only: coined words (so that the model copies names rather than recalls them) and
# more varied facts.
SYL_ONSET = ["b", "br", "c", "ch", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "pr", "qu", "r",
             "s", "sh", "st", "t", "th", "tr", "v", "w", "y", "z", "bl", "cl", "sc", "sp"]
SYL_VOWEL = ["a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ou", "ay", "ie", "ee", "oa", "y"]
SYL_CODA = ["", "", "", "n", "r", "l", "s", "th", "ck", "ll", "m", "nd", "rn", "x", "ss", "rd", "lt", "nt", "sk"]
EXTRA_STREET_WORDS = ["Ash", "Birch", "Beech", "Holly", "Ivy", "Laurel", "Poplar", "Thistle", "Meadow", "Brook", "Ferry",
                      "Dock", "Wharf", "Fisher", "Cooper", "Potter", "Granary", "Tower", "Crown", "Bell", "Salt",
                      "Silver", "Copper", "Union", "College", "Regent", "Albert", "Sunset", "Lake", "Ocean", "Forest",
                      "Valley", "Pier", "Saint Mary", "Nelson", "Wellington", "Lincoln", "Jefferson", "Magnolia"]
EXTRA_STREET_TYPES = ["Close", "Gardens", "Crescent", "Drive", "Boulevard", "Parade", "Hill", "Mews", "Green", "Court",
                      "Street", "Road", "Avenue", "Lane"]
STREET_PREFIXES = ["North", "South", "East", "West", "Upper", "Lower", "Old", "New", "Little", "Great"]
FOREIGN_STREETS = ["Rue", "Via", "Calle", "Avenida", "Rua", "Strada"]
EXTRA_CITIES = ["Glasgow", "Cardiff", "Nice", "Lisbon", "Madrid", "Vienna", "Zurich", "Oslo", "Helsinki", "Chicago",
                "Toronto", "Melbourne", "Auckland", "Galway", "Brighton", "Norwich", "Exeter", "Hamburg", "Munich",
                "Krakow", "Prague", "Antwerp", "Lille", "Marseille", "Naples", "Verona", "Valencia", "Malaga", "Tucson",
                "Omaha", "Quebec", "Sheffield", "Dundee", "Hobart", "Adelaide", "Nashville", "Savannah", "Bordeaux"]
# Cuisines a restaurant's notes may name (its dishes still come from a training cuisine): the model
# copies the word rather than recalls one of ten. Not the held-out cuisines.
EXTRA_CUISINE_WORDS = ["Vietnamese", "Turkish", "Ethiopian", "Moroccan", "Georgian", "Nepalese", "Caribbean", "Brazilian",
                       "Filipino", "Malaysian", "Polish", "Hungarian", "Sri Lankan", "Persian", "Syrian", "Scandinavian",
                       "German", "American", "Argentinian", "Cuban", "Basque", "Sicilian", "Cantonese", "Tunisian",
                       "Indonesian", "Mediterranean", "Cajun", "Austrian", "Ukrainian", "Nordic"]
COINED_DISH_WORDS = ["stew", "salad", "pie", "curry", "soup", "tart", "bowl", "skewers", "dumplings", "rolls", "cake",
                     "platter", "bake", "fritters", "noodles", "pudding", "wrap", "flatbread"]


def coined(rng, syllables=None):
    """A made-up capitalised word ("Brailon"), never a held-out owner's name."""
    while True:
        n = syllables or rng.choice([1, 2, 2, 2, 3])
        w = "".join(rng.choice(SYL_ONSET) + rng.choice(SYL_VOWEL) + rng.choice(SYL_CODA) for _ in range(n))
        if len(w) >= 3 and w.capitalize() not in HELDOUT_OWNERS:
            return w.capitalize()


def random_word(rng):
    """Letters at random ("qzoveth", "Xalb", "KTR"): a word of no language, which the model can
    only copy (the pieces it is cut into are trained as output too)."""
    w = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 8)))
    return rng.choice([w, w.capitalize(), w.capitalize(), w.upper() if len(w) <= 4 else w])


def new_word(rng):
    """A made-up word, coined (pronounceable) or of random letters."""
    return coined(rng) if rng.random() < 0.6 else random_word(rng)


def coined_cuisine(rng):
    """A made-up cuisine ("Velorian", "Qzish")."""
    return new_word(rng).capitalize() + rng.choice(["ian", "ese", "ish", "i", "an"])


def rename(rng, r, change, shares):
    """Some of restaurant r's names changed, one word each by change(word): its dishes (and the
    special with its dish, and the dishes it does not have), address, name and owner, each at its
    share of `shares` (dish, address, name, owner)."""
    dish_share, address_share, name_share, owner_share = shares

    def recoin(text, share):
        words = text.split()
        spots = [i for i, w in enumerate(words) if w.isalpha()]
        if spots and rng.random() < share:
            i = rng.choice(spots)
            words[i] = change(words[i])
        return " ".join(words)

    taken = set()
    for m in r["menu"]:
        dish = recoin(m["dish"], dish_share)
        if dish in taken:
            dish = m["dish"]
        if r["special"] and r["special"][1] == m["dish"]:
            r["special"] = (r["special"][0], dish)
        m["dish"] = dish
        taken.add(dish)
    r["absent_dishes"] = [d for d in dict.fromkeys(recoin(d, dish_share) for d in r["absent_dishes"]) if d not in taken]
    r["address"] = recoin(r["address"], address_share)
    r["name"] = recoin(r["name"], name_share)
    r["owner"] = recoin(r["owner"], owner_share)
    return r


def coin_names(rng, r):
    """v4, training only: some of restaurant r's names made up (dishes, the special, the street or
    city, the restaurant's name, owner and cuisine), coined or of random letters, so that answers
    copy what the notes say rather than recall a familiar word ("Quayside" answered "Quarry")."""
    rename(rng, r, lambda w: new_word(rng) if w[0].isupper() else new_word(rng).lower(), (0.4, 0.6, 0.4, 0.3))
    if rng.random() < 0.15:
        r["cuisine"] = coined_cuisine(rng)
    return r


# v14, training only: names one step from familiar ones, where the model wrote the familiar one
# (hand-written notes: "fish pie" -> "fish and pie", "beef burger" -> "beef burrito", "42 Harbour
# Road" -> "42 Harbor Lane"): a word of a training dish swapped for another's, or a word respelled.
LINKING_WORDS = {"with", "and", "al", "de", "la", "di", "in", "of", "a"}  # kept as they are
DISH_WORDS = sorted({w for c in TRAIN_CUISINES for course in CUISINES[c][1:] for d in course for w in d.split()
                     if w.isalpha() and w not in LINKING_WORDS} | set(COINED_DISH_WORDS))
NAME_POOLS = [STREET_WORDS, STREET_TYPES, CITIES, TRAIN_OWNERS]  # a name's word swapped within its pool


def respelled(rng, word):
    """`word` one letter off ("Harbor" -> "Harbour", "Harbr", "Harbar", "Harrbor")."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    while True:
        i = rng.randrange(1, len(word)) if len(word) > 1 else 0
        edit = rng.choice(["insert", "drop", "change", "double"])
        if edit == "insert":
            out = word[:i] + rng.choice(letters) + word[i:]
        elif edit == "drop" and len(word) > 3:
            out = word[:i] + word[i + 1:]
        elif edit == "change":
            out = word[:i] + rng.choice(letters) + word[i + 1:]
        else:
            out = word[:i] + word[i] + word[i:]
        if out != word:
            return out


def near_names(rng, r):
    """v14: some of restaurant r's names one step from familiar ones (another real word of the
    same pool, or respelled), so that the notes' word is copied, not the familiar one recalled."""
    def change(word):
        if word in LINKING_WORDS:
            return word
        pool = DISH_WORDS if word in DISH_WORDS else next((p for p in NAME_POOLS if word in p), None)
        if pool is None or rng.random() < 0.5:
            return respelled(rng, word)
        return rng.choice([w for w in pool if w != word])
    return rename(rng, r, change, (0.5, 0.6, 0.3, 0.3))


def make_hours_wide(rng):
    """Like make_hours, with more varied times (earlier and later, quarter hours) and closed days."""
    closed = rng.choice([[], [], ["Monday"], ["Sunday"], ["Tuesday"], sorted(rng.sample(DAYS, 2), key=DAYS.index),
                         [rng.choice(DAYS)], ["Monday", "Tuesday"], ["Saturday", "Sunday"]])
    mins = lambda: rng.choice([0, 0, 0, 30, 30, 15, 45])
    sched = lambda: ((rng.choice([6, 7, 8, 9, 10, 11, 11, 12, 12, 16, 17, 17, 18]), mins()),
                     (rng.choice([14, 15, 16, 20, 21, 21, 22, 22, 23, 23]), mins()))
    week = sched()
    while week[1][0] <= week[0][0]:
        week = sched()
    groups = {"week": week}
    for g in ("fri_sat", "sun", "weekend", "odd"):
        h = sched()
        groups[g] = h if h[1][0] > h[0][0] and rng.random() < 0.3 else None
    odd = rng.choice(DAYS[:5])
    hours = {}
    for d in DAYS:
        h = week
        if d in ("Saturday", "Sunday") and groups["weekend"]:
            h = groups["weekend"]
        if d in ("Friday", "Saturday") and groups["fri_sat"]:
            h = groups["fri_sat"]
        if d == "Sunday" and groups["sun"]:
            h = groups["sun"]
        if d == odd and groups["odd"]:
            h = groups["odd"]
        hours[d] = None if d in closed else h
    if all(h is None for h in hours.values()):
        hours["Friday"] = week
    return hours


def wide_phone(rng):
    """A phone number in one of many national formats, with any area code (v3, v11's copy drills)."""
    d = lambda k: "".join(str(rng.randint(0, 9)) for _ in range(k))
    area = lambda: str(rng.randint(2, 9)) + d(2)
    return rng.choice([f"555-{d(4)}", f"({area()}) {d(3)}-{d(4)}", f"{area()}-{d(3)}-{d(4)}", f"{area()}.{d(3)}.{d(4)}",
                       f"0{d(3)} {d(3)} {d(4)}", f"0{d(2)} {d(4)} {d(4)}", f"0{d(4)} {d(6)}", f"+{rng.randint(1, 99)} {d(2)} {d(4)} {d(4)}",
                       f"0{d(1)} {d(2)} {d(2)} {d(2)} {d(2)}", f"{d(3)} {d(4)}", f"0{d(2)} {d(3)} {d(4)}",
                       f"+{rng.randint(30, 49)} {d(1)} {d(2)} {d(2)} {d(2)} {d(2)}", f"{area()} {d(3)} {d(4)}"])


def make_restaurant_wide(rng, owners):
    dishes_of = rng.choice(TRAIN_CUISINES)
    cuisine = rng.choice(EXTRA_CUISINE_WORDS) if rng.random() < 0.3 else dishes_of
    owner = rng.choice(owners)
    kind = rng.choice(CUISINES[dishes_of][0])
    word = coined(rng)
    name = rng.choice([f"{kind} {owner}", f"{owner}'s", f"{owner}'s {kind}", f"The {rng.choice(STREET_WORDS)} {kind}",
                       f"{kind} {word}", f"{word}", f"The {word} {kind}", f"{word} {rng.choice(['House', 'Kitchen', 'Table', 'Room'])}",
                       f"{owner} and {rng.choice(owners)}", f"The {rng.choice(EXTRA_STREET_WORDS)} {kind}"])
    pool = dish_pool(rng, dishes_of)
    for course in pool:
        pool[course] += [f"{coined(rng).lower()} {rng.choice(COINED_DISH_WORDS)}" for _ in range(2)]
    menu = []
    for course, n in (("starter", rng.choice([1, 2, 2, 3])), ("main", rng.choice([2, 3, 3, 4, 5])),
                      ("dessert", rng.choice([1, 2, 2, 3]))):
        for dish in rng.sample(pool[course], n):
            cents = rng.choice([0, 0, 0, 50, 50, 95, 25, 75, 90, 45, 99])
            menu.append({"dish": dish, "course": course, "price": (rng.randint(2, 49), cents),
                         "allergens": sorted(rng.sample(ALLERGENS, rng.choice([0, 1, 1, 2, 2, 3, 3, 4])))})
    absent = [d for c in pool.values() for d in c if d not in {m["dish"] for m in menu}]
    hours = make_hours_wide(rng)
    x = rng.random()
    word = rng.choice(STREET_WORDS) if x < 0.3 else rng.choice(EXTRA_STREET_WORDS) if x < 0.55 else coined(rng)
    if rng.random() < 0.15:
        word = f"{rng.choice(STREET_PREFIXES)} {word}"
    street = f"{word} {rng.choice(STREET_TYPES + EXTRA_STREET_TYPES)}"
    if rng.random() < 0.1:
        street = f"{rng.choice(FOREIGN_STREETS)} {coined(rng)}"
    x = rng.random()
    city = rng.choice(CITIES) if x < 0.4 else rng.choice(EXTRA_CITIES) if x < 0.7 else coined(rng)
    num = rng.choice([rng.randint(1, 99), rng.randint(1, 399), rng.randint(100, 2999)])
    d = lambda k: "".join(str(rng.randint(0, 9)) for _ in range(k))
    address = rng.choice([f"{num} {street}, {city}", f"{num} {street}, {city}", f"{street} {num}, {city}",
                          f"{num} {street}", f"{num} {street}, {city} {d(5)}", f"{num}{rng.choice('abc')} {street}, {city}",
                          f"Unit {rng.randint(1, 30)}, {num} {street}, {city}",
                          f"{num} {street}, {city} {rng.choice('ABCDEFGHJKLMNPRSTW')}{rng.randint(1, 20)} {d(1)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"])
    phone = wide_phone(rng)
    return restaurant_facts(rng, name, cuisine, owner, address, phone, hours, menu, absent,
                            policies=(1, 7), special_rate=0.5,
                            style=lambda currency: Style(rng, False, currency, wide=True,
                                                         city=city if not city[0].isdigit() else None))


# ---------------------------------------------------------------------------------------------
# Formats of times, prices, day ranges.

def t12(h, m, sep=" ", dots=False):
    suffix = ("am" if h < 12 else "pm") if not dots else ("a.m." if h < 12 else "p.m.")
    hh = h % 12 or 12
    return (f"{hh}" if m == 0 else f"{hh}:{m:02d}") + sep + suffix


TIME_FORMATS = Pool(
    [lambda h, m: t12(h, m), lambda h, m: t12(h, m, sep=""), lambda h, m: f"{h:02d}:{m:02d}" if h < 10 else f"{h}:{m:02d}",
     lambda h, m: f"{h}:{m:02d}", lambda h, m: f"{h}.{m:02d}", lambda h, m: f"{h % 12 or 12}:{m:02d} {'am' if h < 12 else 'pm'}",
     lambda h, m: (f"{h % 12 or 12}" if m == 0 else f"{h % 12 or 12}.{m:02d}") + ("am" if h < 12 else "pm")],
    [lambda h, m: t12(h, m, dots=True), lambda h, m: f"{h}h{m:02d}" if m else f"{h}h"])


def money(value, fmt, currency):
    whole, cents = value
    words = {"$": "dollars", "£": "pounds", "€": "euros"}[currency]
    codes = {"$": "USD", "£": "GBP", "€": "EUR"}[currency]
    dec, comma = f"{whole}.{cents:02d}", f"{whole},{cents:02d}"
    short = f"{whole}" if cents == 0 else dec
    return {"sym": f"{currency}{dec}", "sym_short": f"{currency}{short}", "words": f"{short} {words}",
            "sym_comma": f"{currency}{comma}" if currency == "€" else f"{currency}{dec}",
            "suffix_comma": f"{comma} {currency}" if currency == "€" else f"{dec} {codes}", "code": f"{codes} {dec}", "code_after": f"{dec} {codes}"}[fmt]


PRICE_FORMATS = Pool(["sym", "sym", "sym_short", "words", "sym_comma"], ["suffix_comma", "code", "code_after"])


def clock24(pad, sep, suffix):
    """A 24-hour time format: "09:30 hrs" (pad, ":", " hrs"), "2130" (no pad, "", "")."""
    return lambda h, m: (f"{h:02d}" if pad else f"{h}") + f"{sep}{m:02d}{suffix}"


def clock12(sep, always, space, am, pm):
    """A 12-hour time format: "9:30 pm", "9pm" (minutes only when not zero unless `always`)."""
    return lambda h, m: ((f"{h % 12 or 12}" if m == 0 and not always else f"{h % 12 or 12}{sep}{m:02d}")
                         + space + (am if h < 12 else pm))


def price_number(value, dec, short):
    """A price's number: "14.50", "14,50", or "14" when `short` and the cents are zero."""
    whole, cents = value
    return f"{whole}" if short and cents == 0 else f"{whole}{dec}{cents:02d}"


def wide_time_format(rng):
    """v3, training only: a time format put together at random, 24-hour ("21:30", "2130",
    "09.30 hrs") or 12-hour ("9:30 PM", "9.30pm", "11:00 am"). Never the held-out formats' dotted
    "p.m." or "21h30"."""
    if rng.random() < 0.45:
        sep = rng.choice([":", ":", ".", ""])
        pad = sep == "" or rng.random() < 0.5
        suffix = rng.choice(["", "", "", " hrs", "hrs"])
        return clock24(pad, sep, suffix)
    sep = rng.choice([":", ":", "."])
    always = rng.random() < 0.3
    am, pm = rng.choice([("am", "pm"), ("am", "pm"), ("AM", "PM"), ("Am", "Pm")])
    space = rng.choice([" ", ""])
    return clock12(sep, always, space, am, pm)


def wide_price_format(rng, currency):
    """v3, training only: a price format put together at random: symbol before the number (with or
    without a space), a bare number, or the currency's word after it; decimal point or comma;
    cents always or only when not zero. Never the held-out formats (a symbol or a code after the
    number, a code before it)."""
    where = rng.choice(["prefix", "prefix", "prefix_space", "bare", "words"])
    dec = "," if (currency == "€" and rng.random() < 0.6) or rng.random() < 0.1 else "."
    short = rng.random() < 0.4
    word = {"$": "dollars", "£": "pounds", "€": "euros"}[currency]

    def fmt(value):
        num = price_number(value, dec, short)
        return {"prefix": f"{currency}{num}", "prefix_space": f"{currency} {num}", "bare": num,
                "words": f"{num} {word}"}[where]
    return fmt

# v13, training only: formats made up per restaurant, so that a time or a price is copied as the
# notes write it rather than rewritten in a familiar format (held-out styles: "5:30 p.m." answered
# "5:30 pm", "12.00 USD" answered "12.00"). The held-out styles' own markers are never drawn.
HELDOUT_MARKERS = {"a.m.", "p.m.", "h", "usd", "gbp", "eur"}


def coined_marker(rng):
    """A made-up unit of one to three letters ("qz", "Vob", "k.t."), now and then dotted."""
    while True:
        w = random_word(rng)[:rng.randint(1, 3)]
        if rng.random() < 0.25:
            w = ".".join(w) + "."
        if w.lower() not in HELDOUT_MARKERS:
            return w


def coined_time_format(rng):
    """A time format with made-up markers: 12-hour with one for the morning and another for the
    afternoon ("9:30 qz", "9.30Vob"), or 24-hour with a unit after ("21:30 kt", "0930k.t.")."""
    sep, space = rng.choice([":", ".", ""]), rng.choice([" ", ""])
    if rng.random() < 0.6:
        am = coined_marker(rng)
        pm = coined_marker(rng)
        while pm.lower() == am.lower():
            pm = coined_marker(rng)
        return clock12(sep, rng.random() < 0.3, space, am, pm)
    unit, pad = coined_marker(rng), rng.random() < 0.5
    return clock24(pad, sep, space + unit)


def coined_price_format(rng):
    """A price with a made-up currency before or after the number ("QZ 14.50", "14,50vb")."""
    mark = coined_marker(rng)
    mark = mark.upper() if rng.random() < 0.5 else mark
    after, space, dec, short = rng.random() < 0.5, rng.choice([" ", ""]), rng.choice([".", ","]), rng.random() < 0.3

    def fmt(value):
        num = price_number(value, dec, short)
        return f"{num}{space}{mark}" if after else f"{mark}{space}{num}"
    return fmt


def coin_formats(rng, r, which=None):
    """v13: restaurant r's times ("time"), prices ("price") or both in coined formats; None: any of
    the three."""
    which = which or rng.choice(["time", "price", "both"])
    if which != "price":
        r["style"].time = coined_time_format(rng)
    if which != "time":
        r["style"].price = coined_price_format(rng)
    return r

# v15, training only: menu lines laid out in a way made up per restaurant, so that a menu in a
# layout never seen is still read as a list of dishes with their prices (held-out styles: the
# numbered and price-first menus were read as no list at all). Never the held-out layouts: no
# digits as markers, no price in parentheses, never the price first.
MENU_MARKERS = ["", "", "~ ", "> ", "+ ", "o ", "# ", ">> ", "= ", "* * ", "-- ", "▪ ", "‣ ", "» "]
MENU_SEPARATORS = ["  ", " :: ", " ~ ", " >> ", " = ", " ... ", " -- ", " · ", ":	", " _ ", " // ", ", only "]
PRICE_WRAPS = [("", ""), ("", ""), ("[", "]"), ("<", ">"), ("{", "}"), ("*", "*"), ("at ", ""), ("for ", "")]


def coin_menu(rng, r):
    """v15: restaurant r's menu lines in a layout made up from a marker, a separator and a wrap
    around the price (MENU_MARKERS, MENU_SEPARATORS, PRICE_WRAPS)."""
    s = r["style"]
    s.menu = "coined"
    s.coined_menu = (rng.choice(MENU_MARKERS), rng.choice(MENU_SEPARATORS)) + rng.choice(PRICE_WRAPS)
    return r


RANGE_STYLES = Pool([lambda a, b: f"{DAYS[a]} to {DAYS[b]}", lambda a, b: f"{ABBR[a]}-{ABBR[b]}",
                     lambda a, b: f"from {DAYS[a]} to {DAYS[b]}", lambda a, b: f"{ABBR[a]} - {ABBR[b]}"],
                    [lambda a, b: f"{DAYS[a]} through {DAYS[b]}", lambda a, b: f"{DAYS[a]}\u2013{DAYS[b]}"],
                    [lambda a, b: f"{ABBR[a]} to {ABBR[b]}", lambda a, b: f"{DAYS[a]}-{DAYS[b]}",
                     lambda a, b: f"{DAYS[a]} - {DAYS[b]}", lambda a, b: f"{DAYS[a].lower()} to {DAYS[b].lower()}",
                     lambda a, b: f"{ABBR[a]}.-{ABBR[b]}.", lambda a, b: f"between {DAYS[a]} and {DAYS[b]}"])
DAY_NAMES = Pool([lambda i: DAYS[i], lambda i: DAYS[i], lambda i: ABBR[i]], [lambda i: DAYS[i].upper()],
                 [lambda i: DAYS[i].lower(), lambda i: ABBR[i] + ".", lambda i: ABBR[i].lower()])
TIME_SPANS = Pool([lambda o, c: f"{o} to {c}", lambda o, c: f"{o}-{c}", lambda o, c: f"{o} - {c}",
                   lambda o, c: f"from {o} to {c}"],
                  [lambda o, c: f"{o} until {c}", lambda o, c: f"{o} \u2013 {c}"],
                  [lambda o, c: f"opens {o}, closes {c}", lambda o, c: f"{o} -{c}", lambda o, c: f"{o} to {c}",
                   lambda o, c: f"open {o}-{c}", lambda o, c: f"{o}/{c}"])


# ---------------------------------------------------------------------------------------------
# Notes phrasings. POLICIES: key -> (questions train, questions held out, answer yes, answer no,
# notes yes train, notes yes held out, notes no train, notes no held out).

POLICIES = {
    "dogs": (["Are dogs allowed?", "Can I bring my dog?", "Do you allow pets?", "Is the restaurant dog-friendly?"],
             ["May I come with my dog?"],
             "Yes, dogs are welcome.", "No, dogs are not allowed.",
             ["Dogs are welcome.", "Dogs welcome.", "We are dog-friendly.", "Pets: allowed.",
              "Well-behaved dogs are welcome on the terrace."], ["Four-legged friends are always welcome."],
             ["Dogs are not allowed.", "No dogs, please.", "Sorry, no pets.", "Pets: not allowed."],
             ["We cannot accommodate animals."]),
    "cards": (["Can I pay by card?", "Do you take credit cards?", "Do you accept cards?"],
              ["Can I pay with my Visa?"],
              "Yes, we accept cards.", "No, we accept cash only.",
              ["We accept all major cards.", "Cards accepted.", "Payment: cash or card.", "You can pay by card."],
              ["Visa and Mastercard are fine."],
              ["Cash only.", "We accept cash only.", "Payment: cash only.", "Sorry, we do not take cards."],
              ["Please bring cash: no card machine."]),
    "booking": (["Can I book a table?", "Do you take reservations?", "Can I reserve a table?"],
                ["Is it possible to make a booking?"],
                "Yes, you can book a table.", "No, we do not take bookings.",
                ["Booking is recommended at weekends.", "Reservations: yes.", "Tables can be booked by phone.",
                 "We take bookings."], ["Reserve ahead to be sure of a table."],
                ["We do not take bookings; tables are first come, first served.", "No reservations.",
                 "Reservations: no, walk-in only.", "Walk-ins only."], ["Just turn up: we keep no reservation book."]),
    "kids": (["Do you have a children's menu?", "Is there a kids' menu?", "Do you have a menu for children?"],
             ["Is there something for little ones?"],
             "Yes, we have a children's menu.", "No, we do not have a children's menu.",
             ["There is a children's menu for under-12s.", "Kids' menu available.", "Children's menu: yes."],
             ["Little ones get their own menu."],
             ["There is no children's menu.", "No kids' menu.", "Children's menu: no."],
             ["We serve no separate menu for little ones."]),
    "vegetarian": (["Do you have vegetarian options?", "Is there anything for vegetarians?",
                    "Do you have vegetarian dishes?"], ["Can a vegetarian eat here?"],
                   "Yes, we have vegetarian options.", "No, we have no vegetarian options.",
                   ["Vegetarian options available.", "We always have vegetarian dishes.", "Vegetarian: yes."],
                   ["Plenty of meat-free choices."],
                   ["No vegetarian options.", "Vegetarian: no.", "Sorry, we have no vegetarian dishes."],
                   ["Our kitchen is meat and fish only."]),
    "parking": (["Is there parking?", "Can I park nearby?", "Do you have a car park?"], ["Where do I leave my car?"],
                "Yes, there is parking.", "No, there is no parking.",
                ["Free parking behind the restaurant.", "Parking: yes.", "We have a car park."],
                ["Guests may leave their car in our yard."],
                ["There is no parking.", "Parking: none.", "Sorry, no parking."], ["Come by bus: there are no car spaces."]),
    "wifi": (["Do you have wifi?", "Is there free wifi?", "Can I use the internet?"], ["Is there wireless internet?"],
             "Yes, we have free wifi.", "No, we do not have wifi.",
             ["Free wifi.", "Wifi: yes.", "Guests can use our free wifi."], ["Wireless network open to guests."],
             ["No wifi.", "Wifi: no.", "There is no wifi."], ["We are an offline place: no network."]),
    "terrace": (["Can we sit outside?", "Do you have outdoor seating?", "Is there a terrace?"],
                ["Are there tables outdoors?"],
                "Yes, we have outdoor seating.", "No, we have no outdoor seating.",
                ["We have a terrace.", "Outdoor seating: yes.", "Sunny terrace open in summer."],
                ["A garden with tables awaits in fine weather."],
                ["No outdoor seating.", "Outdoor seating: no.", "Indoor seating only."],
                ["All our tables are inside."]),
    "wheelchair": (["Is the restaurant wheelchair accessible?", "Do you have wheelchair access?"],
                   ["Can I come in a wheelchair?"],
                   "Yes, we are wheelchair accessible.", "No, we are not wheelchair accessible.",
                   ["Wheelchair accessible.", "Step-free access.", "Accessible: yes."], ["Ramp at the front door."],
                   ["Not wheelchair accessible.", "Accessible: no.", "There are steps at the entrance and no ramp."],
                   ["Sadly there is no step-free way in."]),
}

# v3, training only: more ways to ask and to state each policy: key -> (questions, notes yes,
# notes no). "{q}" takes an optional qualifier (POLICY_QUALIFIERS). None of these is a held-out
# phrasing above, nor shares its distinctive words.
POLICY_WIDE = {
    "dogs": (["Can dogs come in?", "Are pets allowed?", "Is my dog welcome?", "Can I bring a dog?",
              "Are dogs welcome?"],
             ["Dogs are welcome{q}.", "Dogs welcome{q}.", "Dog-friendly{q}.", "We welcome dogs{q}.", "Dogs allowed{q}.",
              "Pets welcome{q}.", "Pets are allowed{q}.", "Your dog is welcome{q}.", "Dogs: yes.", "Dogs: welcome.",
              "Pets: yes.", "Dog friendly: yes.", "Dogs on a lead are welcome."],
             ["No dogs.", "No dogs allowed.", "Dogs are not allowed{q}.", "Dogs not permitted.", "Sorry, no dogs.",
              "No pets.", "Pets are not allowed.", "We do not allow dogs.", "Dogs: no.", "Pets: no.",
              "No pets, please.", "Dogs are not permitted{q}.", "Dogs: not allowed."]),
    "cards": (["Do you take cards?", "Can I pay with a credit card?", "Do you accept card payments?",
               "Can I pay by debit card?", "Is card payment possible?"],
              ["Cards accepted.", "We take cards.", "We accept cards.", "We accept credit and debit cards.",
               "Card payments welcome.", "Pay by card or cash.", "Payment: card or cash.", "Cards: yes.",
               "Contactless and cards accepted.", "We take all cards.", "Credit cards: yes.",
               "Debit and credit cards accepted.", "Payment by card is fine."],
              ["Cash only.", "Cash only, please.", "No cards.", "We do not accept cards.", "Cards: no.",
               "Payment: cash.", "We only take cash.", "Sorry, cash only.", "Card payments are not accepted.",
               "No card payments.", "Cash payments only."]),
    "booking": (["Do you take bookings?", "Can we make a reservation?", "Can I reserve?", "Do I need to book?",
                 "Can I book?"],
                ["Bookings taken{q}.", "We take bookings{q}.", "Reservations accepted{q}.", "Reservations recommended{q}.",
                 "Booking advised{q}.", "Please book{q}.", "Tables can be reserved{q}.", "Reservations: yes.",
                 "Bookings: yes.", "You can reserve a table{q}.", "Booking essential{q}."],
                ["No bookings.", "No reservations.", "We do not take reservations.", "Walk-in only.",
                 "First come, first served: no bookings.", "Bookings: no.", "Reservations: none.",
                 "We cannot take bookings.", "No booking, just walk in."]),
    "kids": (["Do you have a kids' menu?", "Is there a menu for kids?", "Is there a children's menu?"],
             ["Children's menu available.", "Kids' menu.", "Kids menu available.", "We have a kids' menu.",
              "Menu for children available.", "Children have their own menu.", "Kids' menu: yes.",
              "Children's menu{q}."],
             ["No children's menu.", "Kids' menu: no.", "We have no children's menu.", "There is no kids' menu.",
              "No kids menu.", "Children's menu: none."]),
    "vegetarian": (["Are there vegetarian dishes?", "Do you cater for vegetarians?", "Any vegetarian food?",
                    "Is there vegetarian food?"],
                   ["Vegetarian options.", "Vegetarian dishes available.", "Vegetarians welcome.", "Vegetarian friendly.",
                    "Vegetarian and vegan options.", "Veggie options available.", "Lots of choice for vegetarians.",
                    "Vegetarian dishes: yes.", "We cook vegetarian dishes too."],
                   ["No vegetarian dishes.", "Vegetarian options: none.", "Sorry, nothing vegetarian.",
                    "We have no vegetarian options.", "No veggie options.", "Vegetarian dishes: no."]),
    "parking": (["Do you have parking?", "Is there a car park?", "Where can I park?", "Is parking available?"],
                ["Parking available{q}.", "Free parking{q}.", "Car park at the back.", "Parking for guests{q}.",
                 "We have parking{q}.", "Free car park.", "Guest parking: yes.", "Parking: free."],
                ["No parking.", "No car park.", "Parking: no.", "There is no car park.", "We have no parking.",
                 "Sorry, no parking{q}.", "No guest parking."]),
    "wifi": (["Do you have Wi-Fi?", "Is there wifi?", "Can I get online?", "Is there internet?"],
             ["Free wifi{q}.", "Wifi available.", "Free Wi-Fi.", "Wi-Fi: yes.", "Guest wifi.", "We have wifi.",
              "Wi-Fi: free."],
             ["No wifi.", "No Wi-Fi.", "Wi-Fi: no.", "We have no wifi.", "Sorry, no wifi.", "No internet for guests."]),
    "terrace": (["Can we eat outside?", "Do you have a terrace?", "Is there outdoor seating?", "Can we sit outdoors?"],
                ["Terrace{q}.", "Outdoor seating{q}.", "Outdoor tables available{q}.", "We have outdoor seating.",
                 "Seating outside{q}.", "Terrace: yes.", "Patio seating available.", "You can sit outside{q}."],
                ["No outdoor seating.", "No terrace.", "Inside seating only.", "Terrace: no.",
                 "We have no terrace.", "No tables outside."]),
    "wheelchair": (["Is there step-free access?", "Can wheelchair users get in?", "Is it accessible?",
                    "Do you have disabled access?"],
                   ["Wheelchair accessible{q}.", "Step-free entrance.", "Accessible for wheelchairs.", "Wheelchair access.",
                    "Disabled access: yes.", "Wheelchair users welcome: step-free entrance."],
                   ["Not wheelchair accessible.", "No wheelchair access.", "Disabled access: no.",
                    "Sorry, no wheelchair access.", "Steps at the door, no wheelchair access."]),
}
POLICY_QUALIFIERS = ["", "", "", " inside", " on a lead", " at weekends", " by phone", " for groups", " online",
                     " in summer", " all year", " at lunch", " downstairs", " nearby"]
POLICY_QUALIFY = {"dogs": [" inside", " on a lead", " downstairs", " at lunch"],
                  "booking": [" at weekends", " by phone", " for groups", " online"],
                  "kids": [" for under-10s", " at lunch"], "parking": [" nearby", " behind the building", " at night"],
                  "wifi": [" for guests", " all day"], "terrace": [" in summer", " all year", " at the back"],
                  "wheelchair": [" throughout", " on the ground floor"]}


def policy_phrase_wide(rng, k, v):
    """A note stating policy k (v: allowed or not), from the v2 training phrasings or the v3 ones."""
    if rng.random() < 0.35:
        return rng.choice(POLICIES[k][4 if v else 6])
    text = rng.choice(POLICY_WIDE[k][1 if v else 2])
    q = rng.choice(POLICY_QUALIFY.get(k, [""])) if rng.random() < 0.3 else ""
    return text.format(q=q)


LABELS = {  # key-value labels
    "address": Pool(["Address", "Where to find us", "Location", "Find us at", "Address", "Where we are", "Our address"], ["Visit us at", "Our home"],
                    ["ADDRESS", "Street address", "Located at", "Where", "Address line", "Directions", "Find us"]),
    "phone": Pool(["Phone", "Tel", "Telephone", "Call us", "Phone number", "Contact", "Bookings"], ["Reservations line", "Ring us"],
                  ["PHONE", "Tel.", "Phone no.", "Telephone number", "Call", "Contact number", "Mobile", "T"]),
    "cuisine": Pool(["Cuisine", "Food", "Kitchen", "Type"], ["Style of cooking"],
                    ["Cooking", "Cuisine type", "Type of food", "Kind of food", "CUISINE"]),
    "owner": Pool(["Owner", "Run by", "Chef-owner", "Host"], ["Proprietor"], ["Owners", "Managed by", "Owned by", "Family"]),
    "special": Pool(["Special", "Weekly special", "Offer", "Deal", "Special offer", "Promotion"], ["This week's treat"],
                    ["Special deal", "Weekly offer", "Offer of the week", "SPECIAL", "Deal of the week"]),
    "hours": Pool(["Opening hours", "Hours", "Opening times", "When we are open", "Open", "Times", "Open hours"], ["Trading hours", "Our hours"],
                  ["OPENING HOURS", "Opening", "Open times", "Business hours", "Hours of opening", "We're open", "Kitchen hours"]),
    "menu": Pool(["Menu", "Our menu", "Food", "What we serve", "Dishes", "On the menu", "Food menu"], ["Bill of fare", "Today's dishes"],
                 ["MENU", "The menu", "Menu items", "Food and drink", "Dinner menu", "Our dishes", "Carte"]),
    "starter": Pool(["Starters", "Starters", "Small plates", "To start"], ["Appetisers"],
                    ["Starter", "STARTERS", "First courses", "Small bites", "Snacks"]),
    "main": Pool(["Mains", "Main courses", "Mains", "Large plates"], ["Entrees"],
                 ["Main", "MAINS", "Main dishes", "Big plates", "Main course"]),
    "dessert": Pool(["Desserts", "Desserts", "Sweets", "Pudding"], ["Afters"],
                    ["Dessert", "DESSERTS", "Sweet things", "Puddings", "To finish"]),
}
PROSE = {
    "address": Pool(["You will find us at {x}.", "We are at {x}.", "Our address is {x}.", "The restaurant is at {x}."],
                    ["Come and see us at {x}."]),
    "phone": Pool(["Call us on {x}.", "Our phone number is {x}.", "You can reach us on {x}.", "Phone {x} to reach us."],
                  ["For reservations ring {x}."]),
    "cuisine": Pool(["{n} serves {c} food.", "{n} is {a} {c} restaurant.", "We cook {c} food."],
                    ["Expect honest {c} cooking at {n}."]),
    "owner": Pool(["It is run by {o}.", "{o} runs the place.", "Owner and chef: {o}."], ["{o} looks after every guest."]),
    "special": Pool(["Every {d} the {m} is half price.", "Half-price {m} every {d}!", "On {d}s the {m} is half price.",
                     "Special: every {d} the {m} is half price."], ["{d} treat: the {m} at half price."],
                    ["The {m} is half price every {d}.", "Every {d}: {m} at half price.", "{m} half price on {d}s."]),
}
HEADERS = Pool(["Restaurant notes: {n}", "{n}", "# {n}", "About {n}", "{n}\n" + "=" * 8, "Notes for {n}:",
                "Restaurant: {n}", "{n} - restaurant notes", "## {n}"],
               ["Welcome to {n}", "*** {n} ***"],
               ["{n}:", "Name: {n}", "[{n}]", "Restaurant name: {n}", "{n}\n" + "-" * 10, "### {n}", "== {n} ==",
                "{n} (restaurant)", "NOTES - {n}", "{n}\nRestaurant notes"])
# v3, training only: a line about the place, which answers no question.
TAGLINES = ["{c} food, cooked fresh every day.", "Our {c} kitchen has {k} tables.", "Home-style {c} cooking.",
            "{c} dishes and good wine.", "Family {c} cooking since {y}.", "Modern {c} plates to share.",
            "A cosy place for {c} food.", "Serving {c} classics since {y}.", "Relaxed {c} dining."]


class Style:
    """How one restaurant's notes are written: a choice in every dimension, from the training
    pools or the held-out ones."""

    def __init__(self, rng, heldout, currency, wide=False, city=None):
        self.wide = wide and not heldout
        if self.wide:
            return self.init_wide(rng, currency, city)
        h = heldout
        self.heldout = h
        self.header = HEADERS.pick(rng, h)
        self.overview = rng.choice(["kv", "prose", "bullets", "mixed"])
        self.labels = {k: p.pick(rng, h) for k, p in LABELS.items()}
        self.prose = {k: p.pick(rng, h) for k, p in PROSE.items()}
        self.bullet = rng.choice(["- ", "* ", "\u2022 "])
        self.kv_sep = rng.choice([": ", ": ", " - ", " | ", ":  "]) if not h else rng.choice([": ", " = "])
        self.time = TIME_FORMATS.pick(rng, h)
        self.span = TIME_SPANS.pick(rng, h)
        self.range = RANGE_STYLES.pick(rng, h)
        self.dayname = DAY_NAMES.pick(rng, h)
        hours_layouts = ["per_day", "per_day", "ranges", "ranges", "prose", "table"]
        self.hours = rng.choice(["sentence_per_day", "dotted"] if h else hours_layouts)
        menu_layouts = ["lines", "bullets", "dots", "prose", "sections", "table"]
        self.menu = rng.choice(["numbered", "price_first"] if h else menu_layouts)
        self.sections = h and rng.random() < 0.5 or self.menu == "sections"
        self.line_menu = rng.choice(["lines", "bullets", "dots"])
        self.price = PRICE_FORMATS.pick(rng, h)
        self.allergens = Pool(["paren", "label", "brackets", "contains"], ["dash", "info"]).pick(rng, h)
        self.no_allergens = Pool(["(no listed allergens)", "", "Allergens: none.", "(allergen-free)"],
                                 ["(nothing to declare)"]).pick(rng, h)
        self.title_case = rng.random() < 0.4
        self.policy_phrase = {k: (rng.randrange(len(POLICIES[k][5 if h else 4])),
                                  rng.randrange(len(POLICIES[k][7 if h else 6]))) for k in POLICIES}
        self.policy_block = rng.choice(["lines", "one_paragraph", "label"]) if not h else rng.choice(["lines", "one_paragraph"])
        self.order_shuffle = rng.random() < 0.5
        self.terse = rng.random() < 0.5
        self.inline_head = rng.random() < 0.5
        self.rng_seed = rng.random()

    def init_wide(self, rng, currency, city):
        """v3, training only: the v2 training choices and the `extra` ones, and layouts v2 lacks."""
        w = lambda pool: pool.pick(rng, False, wide=True)
        self.heldout = False
        self.header = w(HEADERS)
        self.overview = rng.choice(["kv", "prose", "bullets", "mixed", "kv", "bullets"])
        self.labels = {k: w(p) for k, p in LABELS.items()}
        self.prose = {k: w(p) for k, p in PROSE.items()}
        self.bullet = rng.choice(["- ", "* ", "\u2022 ", "- ", "+ ", "> "])
        self.kv_sep = rng.choice([": ", ": ", ": ", " - ", " | ", ":  ", " : ", " \u2014 ", ":\t"])
        self.time = TIME_FORMATS.pick(rng, False) if rng.random() < 0.4 else wide_time_format(rng)
        self.span = w(TIME_SPANS)
        self.range = w(RANGE_STYLES)
        self.dayname = w(DAY_NAMES)
        self.hours = rng.choice(["per_day", "per_day", "ranges", "ranges", "prose", "table",
                                 "day_lists", "one_line", "ranges_closed", "per_day_plain"])
        self.menu = rng.choice(["lines", "bullets", "dots", "prose", "sections", "table",
                                "comma", "dash", "pipe", "two_line", "slash", "sections", "sections"])
        self.sections = self.menu == "sections" or (self.menu != "prose" and rng.random() < 0.25)
        self.section_head = rng.choice(["{l}:", "{l}:", "{l}", "## {l}", "-- {l} --", "{L}", "[{l}]"])
        self.line_menu = rng.choice(["lines", "bullets", "dots", "comma", "dash", "pipe", "two_line", "slash"])
        self.price = PRICE_FORMATS.pick(rng, False) if rng.random() < 0.4 else wide_price_format(rng, currency)
        self.allergens = rng.choice(["paren", "label", "brackets", "contains", "contains_colon", "allergens_paren",
                                     "bare_paren", "label_colon", "with"])
        self.no_allergens = rng.choice(["(no listed allergens)", "", "Allergens: none.", "(allergen-free)", "(none)",
                                        "(no allergens)", "(allergens: none)", "", "no allergens"])
        self.title_case = rng.random() < 0.4
        self.policy_text = {k: (policy_phrase_wide(rng, k, True), policy_phrase_wide(rng, k, False)) for k in POLICIES}
        self.policy_block = rng.choice(["lines", "one_paragraph", "label", "mixed_in", "lines", "mixed_in", "kv_line"])
        self.policy_label = rng.choice(["Good to know: ", "Please note: ", "Policies: ", "Info: ", "Also: ", "Notes: "])
        self.order_shuffle = rng.random() < 0.6
        self.terse = rng.random() < 0.5
        self.inline_head = rng.random() < 0.5
        self.tagline = rng.choice(TAGLINES) if rng.random() < 0.4 else None
        self.city = city
        self.rng_seed = rng.random()


def fmt_time(r, hm):
    return r["style"].time(*hm)


def dish_text(r, m):
    return m["dish"].title() if r["style"].title_case else m["dish"]


def price_of(r, m):
    fmt = r["style"].price
    return fmt(m["price"]) if callable(fmt) else money(m["price"], fmt, r["currency"])


def allergen_text(r, m):
    s, a = r["style"], m["allergens"]
    if not a:
        return s.no_allergens
    joined = ", ".join(a)
    anded = a[0] if len(a) == 1 else ", ".join(a[:-1]) + " and " + a[-1]
    return {"paren": f"(contains {joined})", "label": f"Allergens: {joined}.", "brackets": f"[{joined}]",
            "contains": "contains " + anded,
            "dash": f"\u2014 {joined}", "info": f"(allergy info: {joined})",
            # v3, training only
            "contains_colon": f"(contains: {joined})", "allergens_paren": f"(allergens: {joined})",
            "bare_paren": f"({joined})", "label_colon": f"- allergens: {joined}", "with": f"(with {anded})"}[s.allergens]


def policy_text(r, k, v):
    s = r["style"]
    if s.wide:
        return s.policy_text[k][0 if v else 1]
    p = POLICIES[k]
    phrases = p[(5 if s.heldout else 4) if v else (7 if s.heldout else 6)]
    return phrases[s.policy_phrase[k][0 if v else 1] % len(phrases)]


def render_overview(r):
    s, rng = r["style"], random.Random(r["style"].rng_seed)
    n = r["name"]
    items = []  # (key, kv text, prose text)
    items.append(("cuisine", f"{s.labels['cuisine']}{s.kv_sep}{r['cuisine']}",
                  s.prose["cuisine"].format(n=n, c=r["cuisine"], a="an" if r["cuisine"][0] in "AEIOU" else "a")))
    if rng.random() < 0.6:
        items.append(("owner", f"{s.labels['owner']}{s.kv_sep}{r['owner']}", s.prose["owner"].format(o=r["owner"])))
    items.append(("address", f"{s.labels['address']}{s.kv_sep}{r['address']}", s.prose["address"].format(x=r["address"])))
    items.append(("phone", f"{s.labels['phone']}{s.kv_sep}{r['phone']}", s.prose["phone"].format(x=r["phone"])))
    if r["special"]:
        d, m = r["special"]
        prose = s.prose["special"].format(d=d, m=m)
        items.append(("special", f"{s.labels['special']}{s.kv_sep}every {d} the {m} is half price.", prose))
    pol = [policy_text(r, k, v) for k, v in r["policies"].items()]
    if s.wide and s.policy_block == "mixed_in":  # v3: policies among the other lines
        items += [("policy", p, p) for p in pol]
        pol = []
    if s.order_shuffle:
        rng.shuffle(items)
    lines = [s.header.format(n=n)]
    if s.wide and s.tagline:
        lines.append(s.tagline.format(c=r["cuisine"], k=rng.choice(["six", "ten", "twelve", "twenty"]),
                                      y=rng.randint(1960, 2022)))
    for key, kv, prose in items:
        style = s.overview if s.overview != "mixed" else rng.choice(["kv", "prose"])
        if style == "bullets":
            lines.append(s.bullet + kv)
        elif style == "kv":
            lines.append(kv)
        else:
            lines.append(prose)
    if s.overview == "prose":  # prose: one paragraph
        lines = [lines[0], " ".join(lines[1:])]
    if not pol:
        pass
    elif s.policy_block == "one_paragraph":
        lines.append(" ".join(pol))
    elif s.policy_block == "label":
        lines.append((s.policy_label if s.wide else "Good to know: ") + " ".join(pol))
    elif s.policy_block == "kv_line":
        lines.append(s.policy_label + " ".join(p.rstrip(".") + ";" for p in pol)[:-1] + ".")
    else:
        lines += [(s.bullet if s.overview == "bullets" else "") + p for p in pol]
    return "\n".join(lines)


def day_runs(r):
    """Runs of consecutive days with the same hours: [(first index, last index, hours)]."""
    runs = []
    for i, d in enumerate(DAYS):
        h = r["hours"][d]
        if runs and runs[-1][2] == h:
            runs[-1][1] = i
        else:
            runs.append([i, i, h])
    return runs


def render_hours(r):
    s = r["style"]
    head = f"{s.labels['hours']}:" if s.hours != "table" else f"{s.labels['hours']}"
    span = lambda h: s.span(fmt_time(r, h[0]), fmt_time(r, h[1]))
    if s.hours == "per_day":
        lines = [f"{s.dayname(i)}{s.kv_sep}{'closed' if r['hours'][d] is None else span(r['hours'][d])}"
                 for i, d in enumerate(DAYS)]
        return "\n".join([head] + lines)
    if s.hours == "sentence_per_day":
        return "\n".join([head] + [f"On {d} we are closed." if r["hours"][d] is None else
                                   f"On {d} we are open {span(r['hours'][d])}." for d in DAYS])
    if s.hours == "dotted":
        return "\n".join([head] + [f"{d} {'.' * (12 - len(d))} {'closed' if r['hours'][d] is None else span(r['hours'][d])}"
                                   for d in DAYS])
    if s.hours == "table":
        rows = ["| Day | Hours |", "|---|---|"] + [f"| {d} | {'closed' if r['hours'][d] is None else span(r['hours'][d])} |"
                                                   for d in DAYS]
        return "\n".join([head] + rows)
    runs = day_runs(r)
    closed = [d for d in DAYS if r["hours"][d] is None]
    open_runs = [x for x in runs if x[2] is not None]
    if s.wide and s.hours in ("day_lists", "one_line", "ranges_closed", "per_day_plain"):
        return render_hours_wide(r, head, span, runs, closed, open_runs)
    if s.hours == "prose":
        parts = []
        terse = s.terse
        distinct = {x[2] for x in open_runs}
        if len(distinct) == 1 and len(closed) == 1:
            parts.append(("Every day except {d}, {s}." if terse else "We are open every day except {d}, {s}.")
                         .format(d=closed[0], s=span(open_runs[0][2])))
        elif len(distinct) == 1 and not closed:
            parts.append(f"Every day, {span(open_runs[0][2])}." if terse else f"We are open every day, {span(open_runs[0][2])}.")
        else:
            for a, b, h in open_runs:
                when = f"on {DAYS[a]}" if a == b else s.range(a, b)
                if terse:
                    parts.append(f"{when[0].upper() + when[1:]} {span(h)}.")
                else:
                    parts.append(f"We are open {when} {span(h)}.")
            if closed:
                parts.append(("Closed on " if terse else "We are closed on ") + " and ".join(f"{d}s" for d in closed) + ".")
        return head + (" " if s.inline_head else "\n") + " ".join(parts)
    # ranges
    lines = [head]
    for a, b, h in runs:
        when = s.dayname(a) if a == b else s.range(a, b)
        lines.append(f"{when}{s.kv_sep}{'closed' if h is None else span(h)}")
    return "\n".join(lines)


def render_hours_wide(r, head, span, runs, closed, open_runs):
    """v3, training only: hours layouts v2 lacks."""
    s = r["style"]
    rng = random.Random(s.rng_seed + 2)
    names = lambda ds: " and ".join(ds) if len(ds) < 3 else ", ".join(ds[:-1]) + " and " + ds[-1]
    if s.hours == "per_day_plain":  # "Monday 11:00-22:00", one line a day
        return "\n".join([head] + [f"{s.dayname(i)} {'closed' if r['hours'][d] is None else span(r['hours'][d])}"
                                   for i, d in enumerate(DAYS)])
    if s.hours == "day_lists":  # days with the same hours listed together
        groups = {}
        for i, d in enumerate(DAYS):
            if r["hours"][d] is not None:
                groups.setdefault(r["hours"][d], []).append(s.dayname(i))
        lines = [f"{', '.join(ds)}{s.kv_sep}{span(h)}" for h, ds in groups.items()]
        if closed:
            lines.append(rng.choice([f"Closed{s.kv_sep}{', '.join(closed)}", f"Closed on {names(closed)}.",
                                     f"{names(closed)}: closed"]))
        return "\n".join([head] + lines)
    when = lambda a, b: s.dayname(a) if a == b else s.range(a, b)
    if s.hours == "one_line":  # "Mon-Fri 11:00-22:00; Sat 10:00-23:00; Sun closed"
        parts = [f"{when(a, b)} {'closed' if h is None else span(h)}" for a, b, h in runs]
        return head + " " + rng.choice(["; ", ", ", " / "]).join(parts) + rng.choice(["", "."])
    # ranges_closed: the open runs, then the closed days on their own
    lines = [f"{when(a, b)}{s.kv_sep}{span(h)}" for a, b, h in open_runs]
    if closed:
        lines.append(rng.choice([f"Closed on {names([d + 's' for d in closed])}.", f"Closed{s.kv_sep}{names(closed)}",
                                 f"We are closed on {names(closed)}.", f"Closed {names(closed)}."]))
    return "\n".join([head] + lines)


def render_menu(r):
    s = r["style"]
    n = r["name"]
    head = rng_head = s.labels["menu"] + (f" of {n}" if random.Random(s.rng_seed + 1).random() < 0.3 else "") + ":"
    if s.wide and random.Random(s.rng_seed + 3).random() < 0.4:
        head = head[:-1]

    def line(m, layout):
        d, p, a = dish_text(r, m), price_of(r, m), allergen_text(r, m)
        tail = f" {a}" if a else ""
        if layout == "lines":
            return f"{d}: {p}{tail}"
        if layout == "bullets":
            return f"{s.bullet}{d} \u2014 {p}{tail}" if a.startswith("(") or not a else f"{s.bullet}{d} \u2014 {p}. {a}"
        if layout == "dots":
            return f"{d} ..... {p}{tail}"
        if layout == "price_first":
            return f"{p}  {d}{tail}"
        if layout == "numbered":
            return f"{d} ({p}){tail}"
        # v3, training only
        if layout == "comma":
            return f"{d}, {p}" + (f", {a}" if a else "")
        if layout == "dash":
            return f"{d} - {p}{tail}"
        if layout == "pipe":
            return f"{d} | {p}" + (f" | {a}" if a else "")
        if layout == "two_line":
            return f"{d}\n  {p}{tail}"
        if layout == "slash":
            return f"{d} / {p}{tail}"
        if layout == "coined":  # v15
            marker, sep, before, after = s.coined_menu
            return f"{marker}{d}{sep}{before}{p}{after}{tail}"
        if layout == "prose":
            if not m["allergens"]:
                return f"Our {d} costs {p} and has no listed allergens."
            return f"Our {d} costs {p} and contains {', '.join(m['allergens'])}."
        raise ValueError(layout)

    if s.menu == "table":
        rows = ["| Dish | Price | Allergens |", "|---|---|---|"]
        for m in r["menu"]:
            rows.append(f"| {dish_text(r, m)} | {price_of(r, m)} | {', '.join(m['allergens']) or 'none'} |")
        if s.sections:
            rows = ["| Course | Dish | Price | Allergens |", "|---|---|---|---|"] + [
                f"| {s.labels[m['course']]} | {dish_text(r, m)} | {price_of(r, m)} | {', '.join(m['allergens']) or 'none'} |"
                for m in r["menu"]]
        return "\n".join([head] + rows)
    layout = s.line_menu if s.menu == "sections" else s.menu
    if s.sections:
        lines = [head]
        for course in ("starter", "main", "dessert"):
            label = s.labels[course]
            lines.append(s.section_head.format(l=label, L=label.upper()) if s.wide else f"{label}:")
            lines += [line(m, layout) for m in r["menu"] if m["course"] == course]
        return "\n".join(lines)
    if layout == "prose":
        return head + "\n" + " ".join(line(m, layout) for m in r["menu"])
    if layout == "numbered":
        return "\n".join([head] + [f"{i}. {line(m, layout)}" for i, m in enumerate(r["menu"], 1)])
    return "\n".join([head] + [line(m, layout) for m in r["menu"]])


def render(r):
    """The restaurant as module text: overview, hours and menu (the last two nested in the schema)."""
    return render_overview(r), render_hours(r), render_menu(r)


# ---------------------------------------------------------------------------------------------
# Questions.

Q = {  # kind: Pool of wordings
    "opening": Pool(["What time do you open on {d}?", "When do you open on {d}?", "What time do you open on {d}s?",
                     "When does the restaurant open on {d}?"], ["At what time do you open on {d}?", "How early can I come on {d}?"],
                    ["What time does the restaurant open on {d}?", "When can I come in on {d}?", "What is your opening time on {d}?", "When do you open {d}?"]),
    "closing": Pool(["What time do you close on {d}?", "Until when are you open on {d}?", "When do you close on {d}?",
                     "What time do you close on {d}s?"], ["How late are you open on {d}?"],
                    ["What time does the kitchen close on {d}?", "When does the restaurant close on {d}?", "What is your closing time on {d}?", "When do you shut on {d}?"]),
    "open_day": Pool(["Are you open on {d}?", "Are you open on {d}s?", "Can I come on {d}?", "What are your hours on {d}?",
                      "Are you open on {d} at all?"], ["Do you open on {d}s?", "Is the restaurant open on {d}?"],
                    ["Are you open {d}?", "Will you be open on {d}?", "Can we come on {d}?", "Is it open on {d}?"]),
    "price": Pool(["How much is the {m}?", "What does the {m} cost?", "What is the price of the {m}?",
                   "How much does the {m} cost?", "how much is the {m}?", "How much for the {m}?", "What's the price of the {m}?"], ["What do you charge for the {m}?", "Price of the {m}?"],
                    ["What's the {m} price?", "What does a {m} cost?", "How much do you charge for the {m}?", "What is the {m}'s price?"]),
    "allergen": Pool(["Does the {m} contain {a}?", "Is there {a} in the {m}?", "I am allergic to {a}. Is the {m} safe?",
                      "Does the {m} have {a}?"], ["Does the {m} have {a} in it?", "Any {a} in the {m}?"],
                    ["Does your {m} contain {a}?", "Can you tell me if the {m} contains {a}?", "Is the {m} made with {a}?", "Does the {m} include {a}?"]),
    "has_dish": Pool(["Do you have {m}?", "Is there {m} on the menu?", "Do you serve {m}?"], ["Can I order {m}?"],
                    ["Do you do {m}?", "Is {m} on your menu?", "Have you got {m}?", "Are you serving {m}?"]),
    "course": Pool(["Which {c}s do you have?", "What {c}s are there?", "Which {c} do you have?",
                    "What do you have for {c}?"], ["What is on the {c} menu?"],
                    ["What {c}s do you serve?", "Which {c}s are on the menu?", "What {c}s can I have?"]),
    "address": Pool(["What is your address?", "Where are you located?", "Where is the restaurant?", "Where can I find you?",
                     "What's your address?", "Where are you?"],
                    ["Where exactly are you?", "How do I find you?"],
                    ["What's the address?", "Where is your restaurant?", "Where are you based?", "What is the address of the restaurant?"]),
    "phone": Pool(["What is your phone number?", "How can I call you?", "What number can I call?"],
                  ["Do you have a telephone number?"],
                    ["What's your number?", "Can I have your phone number?", "What's the phone number?", "How do I phone you?"]),
    "special": Pool(["What is the special offer?", "Do you have any specials?", "Is there a deal this week?"],
                    ["Any special deals?"],
                    ["Are there any offers?", "Do you have any deals?", "What is the weekly special?"]),
    "cuisine": Pool(["What kind of food do you serve?", "What cuisine is it?", "What type of food do you have?"],
                    ["What sort of food do you cook?"],
                    ["What food do you serve?", "What kind of restaurant is this?", "What cuisine do you serve?"]),
    "unknown": Pool(["Who is the head chef's favourite singer?", "Is the music live tonight?", "Do you sell gift cards?",
                     "Can I host a wedding there?", "Do you deliver?", "How old is the building?",
                     "What is the chef's name?", "Do you have a dress code?", "Is there a happy hour?"],
                    ["Do you cater for birthday parties?", "Can I buy your sauce in a jar?", "Is there karaoke?"],
                    ["Do you have a play area?", "Is there a cloakroom?", "Do you show football matches?", "Can I bring my own wine?", "Who designed the interior?",
                     "Do you have high chairs?", "Is there a smoking area?", "Do you sell wine by the glass?",
                     "Do you make birthday cakes?", "Do you have a private room?", "Is the fish local?",
                     "Do you do takeaway?", "Are your eggs free-range?", "Do you have gluten-free bread?"]),
    "greeting": Pool([("Hello", GREETING), ("Hi", GREETING), ("Hello!", GREETING), ("Good evening", GREETING),
                      ("Hi there", GREETING), ("Thank you", THANKS), ("Thanks!", THANKS), ("Goodbye", GOODBYE),
                      ("Bye", GOODBYE)], [("Hey", GREETING), ("Good morning", GREETING), ("Cheers", THANKS)],
                    [("Hello there", GREETING), ("Good afternoon", GREETING), ("Thank you very much", THANKS), ("Bye for now", GOODBYE)]),
}
COURSE_WORD = {"starter": "starter", "main": "main", "dessert": "dessert"}


def listing(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def sentence(text):
    """text with a full stop, unless it ends with one already (a dotted "p.m.")."""
    return text if text.endswith(".") else text + "."


def allergen_answer(m, a, quote):
    """Whether dish m contains allergen a: decided first ("No, the tiramisu does not list nuts."),
    or with `quote` the dish's allergens copied first and the answer drawn from that copy ("The
    tiramisu contains eggs, milk and gluten, so it has no nuts."): a look-up turned into a copy."""
    if not quote:
        return f"Yes, the {m['dish']} contains {a}." if a in m["allergens"] else f"No, the {m['dish']} does not list {a}."
    listed = (f"The {m['dish']} contains {listing(m['allergens'])}" if m["allergens"]
              else f"The {m['dish']} has no listed allergens")
    return f"{listed}, so yes, it contains {a}." if a in m["allergens"] else f"{listed}, so it has no {a}."


# v15, training only: question wordings put together from parts (an opener, a frame, an embedded
# clause, a closer) rather than drawn from fixed templates, so that a wording never seen is still
# read by its parts (held-out questions: "How late are you open", "Can I order", an unknown
# question in a new wording answered as a dish). No composed wording shares a held-out wording's
# distinctive words ("how late", "how early", "order", "menu" after a course, "charge",
# "telephone", "sort", "any", "karaoke") nor a held-out greeting ("Hey", "Cheers").
QUESTION_OPENERS = ["", "", "", "Hi, ", "Hello, ", "Quick question: ", "Excuse me, ", "Sorry, ",
                    "Good evening, ", "One more thing: "]
QUESTION_FRAMES = ["Could you tell me {core}?", "Can you tell me {core}?", "Do you know {core}?",
                   "I'd like to know {core}.", "I want to know {core}.", "Please tell me {core}.",
                   "I was wondering {core}.", "Tell me {core}, please.", "I'd love to know {core}.",
                   "Let me know {core}, please.", "I need to know {core}."]
QUESTION_CLOSERS = ["", "", "", " Thanks!", " Thank you.", " Many thanks."]
QUESTION_CORES = {
    "opening": ["what time you open on {d}", "when you open on {d}", "what time the doors open on {d}",
                "when the kitchen opens on {d}", "what your opening time is on {d}", "when you start serving on {d}",
                "from what time you serve on {d}", "what time I can come in on {d}"],
    "closing": ["what time you close on {d}", "when you close on {d}", "what time you shut on {d}",
                "until what time you serve on {d}", "when the kitchen closes on {d}", "what your closing time is on {d}",
                "what time you finish on {d}", "until when you are open on {d}", "when the doors close on {d}"],
    "open_day": ["if you are open on {d}", "whether you are open on {d}", "if I can come on {d}",
                 "what your hours are on {d}", "if you serve food on {d}", "whether we can come on {d}"],
    "price": ["how much the {m} is", "what the {m} costs", "the price of the {m}", "how much you ask for the {m}",
              "what a {m} costs", "how much I pay for the {m}"],
    "allergen": ["if the {m} contains {a}", "whether there is {a} in the {m}", "if the {m} is made with {a}",
                 "whether the {m} has {a}", "if the {m} is cooked with {a}"],
    "has_dish": ["if you have {m}", "whether {m} is on the menu", "if you serve {m}", "if you do {m}",
                 "whether you have {m} today", "if {m} is available"],
    "course": ["which {c}s you have", "what {c}s you serve", "what the {c}s are", "which {c}s are on offer",
               "what I can have as a {c}"],
    "address": ["your address", "where you are", "where the restaurant is", "where I can find you",
                "what street you are on"],
    "phone": ["your phone number", "what number I can call", "how I can phone you", "what your number is"],
    "cuisine": ["what kind of food you serve", "what cuisine you do", "what type of food you have",
                "what food you make"],
    "special": ["if you have specials", "what the special offer is", "if there is a deal this week",
                "whether you have an offer on"],
    "unknown": ["if you have {x}", "whether there is {x}", "if you offer {x}", "if there is {x}"],
}
# Things no notes mention: their questions are answered NOT_IN_NOTES (none is a dish or a policy).
NON_FACTS = ["live music", "a cloakroom", "a pool table", "gift vouchers", "a loyalty card", "high chairs",
             "a dance floor", "a fireplace", "a sea view", "a private dining room", "table football",
             "board games", "a baby changing room", "a dress code", "valet service", "a quiz night",
             "a cocktail bar", "takeaway boxes", "newspapers", "a pianist", "air conditioning",
             "a big screen for sport", "student discounts", "a coat check", "a jukebox", "a rooftop bar"]


def composed_wording(rng, kind):
    """A question wording of `kind` from QUESTION_CORES, framed; "{d}", "{m}", "{a}", "{c}" stay
    for question() to fill; an unknown question's thing (NON_FACTS) is filled here."""
    core = rng.choice(QUESTION_CORES[kind]).replace("{x}", rng.choice(NON_FACTS))
    text = rng.choice(QUESTION_FRAMES).format(core=core)
    opener = rng.choice(QUESTION_OPENERS)
    if opener.endswith(", "):
        text = text[0].lower() + text[1:]
    return opener + text + rng.choice(QUESTION_CLOSERS)


def question(r, kind, rng, heldout=False, wide=False, quote=False, compose=0.0):
    """(question, answer) of one kind about restaurant r, in the house style of the module docstring.
    `wide` (training examples only, v3): the extra wordings too, allergen and policy answers
    balanced (below), and the kind allergen_list. `quote` (the v5 house style): allergen answers
    copy the dish's allergens before they answer (allergen_answer), policy answers quote the
    notes' sentence ("Our notes say: Sorry, no pets."). `compose` (v15, training only): the share
    of questions worded by composed_wording."""
    wide = wide and not heldout
    pick = lambda k: (composed_wording(rng, k) if compose and not heldout and k in QUESTION_CORES
                      and rng.random() < compose else Q[k].pick(rng, heldout, wide))
    if wide and kind in ("allergen", "policy", "allergen_list"):
        return question_wide(r, kind, rng)
    hours = r["hours"]
    if kind in ("opening", "closing", "open_day"):
        d = rng.choice(DAYS if kind != "closing" else [x for x in DAYS if hours[x]] or DAYS)
        h = hours[d]
        q = pick(kind).format(d=d)
        if h is None:
            return q, (f"No, we are closed on {d}." if kind == "open_day" else f"We are closed on {d}.")
        o, c = fmt_time(r, h[0]), fmt_time(r, h[1])
        # A dotted time ("9 p.m.") ends the sentence itself.
        return q, {"opening": sentence(f"On {d} we open at {o}"), "closing": sentence(f"On {d} we close at {c}"),
                   "open_day": sentence(f"Yes, on {d} we are open from {o} to {c}")}[kind]
    if kind == "price":
        m = rng.choice(r["menu"])
        return pick(kind).format(m=m["dish"]), sentence(f"The {m['dish']} costs {price_of(r, m)}")
    if kind == "allergen":
        m = rng.choice(r["menu"])
        a = rng.choice(m["allergens"]) if m["allergens"] and rng.random() < 0.5 else rng.choice(ALLERGENS)
        return pick(kind).format(m=m["dish"], a=a), allergen_answer(m, a, quote)
    if kind == "has_dish":
        if rng.random() < 0.5 or not r["absent_dishes"]:
            m = rng.choice(r["menu"])["dish"]
            return pick(kind).format(m=m), f"Yes, we have {m}."
        m = rng.choice(r["absent_dishes"])
        return pick(kind).format(m=m), f"No, we do not have {m}."
    if kind == "course":
        c = rng.choice(["starter", "main", "dessert"])
        names = [m["dish"] for m in r["menu"] if m["course"] == c]
        return pick(kind).format(c=COURSE_WORD[c]), f"We have {listing(names)}."
    if kind == "address":
        return pick(kind), f"We are at {r['address']}."
    if kind == "phone":
        return pick(kind), f"You can call us on {r['phone']}."
    if kind == "special":
        if not r["special"]:
            return pick(kind), NOT_IN_NOTES
        return pick(kind), f"Every {r['special'][0]} the {r['special'][1]} is half price."
    if kind == "cuisine":
        return pick(kind), f"We serve {r['cuisine']} food."
    if kind == "policy":
        k = rng.choice(sorted(POLICIES))
        q = rng.choice(POLICIES[k][1] if heldout else POLICIES[k][0])
        if k not in r["policies"]:
            return q, NOT_IN_NOTES
        if quote:
            return q, "Our notes say: " + policy_text(r, k, r["policies"][k])
        return q, POLICIES[k][2] if r["policies"][k] else POLICIES[k][3]
    if kind == "unknown":
        return pick(kind), NOT_IN_NOTES
    if kind == "greeting":
        return pick(kind)
    raise ValueError(kind)


ALLERGEN_LIST_Q = ["What allergens does the {m} contain?", "Which allergens are in the {m}?",
                   "What allergens are in the {m}?", "Does the {m} contain any allergens?"]


def question_wide(r, kind, rng):
    """v3, training only. allergen: "yes" half the time; a "no" asks, when it can, for an allergen
    another dish on the menu lists (so that the answer needs the dish's own line). policy: a
    policy the notes state 70% of the time (half yes, half no), else one they do not. allergen_list
    (a kind of its own): the allergens of one dish, which teaches the same look-up."""
    if kind == "allergen":
        with_any = [m for m in r["menu"] if m["allergens"]]
        if with_any and rng.random() < 0.5:
            m = rng.choice(with_any)
            a = rng.choice(m["allergens"])
        else:
            m = rng.choice(r["menu"])
            elsewhere = sorted({x for o in r["menu"] for x in o["allergens"]} - set(m["allergens"]))
            a = rng.choice(elsewhere) if elsewhere and rng.random() < 0.6 else \
                rng.choice([x for x in ALLERGENS if x not in m["allergens"]])
        ans = f"Yes, the {m['dish']} contains {a}." if a in m["allergens"] else f"No, the {m['dish']} does not list {a}."
        return Q["allergen"].pick(rng, False, True).format(m=m["dish"], a=a), ans
    if kind == "allergen_list":
        m = rng.choice(r["menu"])
        q = rng.choice(ALLERGEN_LIST_Q).format(m=m["dish"])
        if not m["allergens"]:
            return q, f"The {m['dish']} has no listed allergens."
        return q, f"The {m['dish']} contains {listing(m['allergens'])}."
    if kind == "policy":
        stated = sorted(r["policies"])
        if stated and rng.random() < 0.7:
            k = rng.choice(stated)
        else:
            k = rng.choice(sorted(set(POLICIES) - set(stated)) or sorted(POLICIES))
        q = rng.choice(POLICIES[k][0] + POLICY_WIDE[k][0])
        if k not in r["policies"]:
            return q, NOT_IN_NOTES
        return q, POLICIES[k][2] if r["policies"][k] else POLICIES[k][3]
    raise ValueError(kind)


KINDS = ["opening", "closing", "open_day", "price", "allergen", "has_dish", "course", "address", "phone", "special",
         "cuisine", "policy", "unknown", "greeting"]
KIND_WEIGHTS = [2, 2, 2, 3, 2, 1, 4, 1.5, 1, 1, 0.5, 2, 0.7, 0.4]
# v3 training: more of the kinds v2 got wrong (allergen, policy, has_dish, closing), and allergen_list.
WIDE_KINDS = KINDS + ["allergen_list"]
WIDE_KIND_WEIGHTS = [1.7, 2.5, 1.5, 3, 3.5, 1.5, 3, 1.5, 1, 1, 0.7, 3.5, 1.0, 0.4, 1.2]


def can_ask(r, kind):
    # Course look-ups need a menu that says which dish is which course.
    return kind != "course" or r["style"].sections


# The first is the one the generator's held-out schemas use; the held-out ones are for held-out styles.
INSTRUCTIONS = Pool(["You are the friendly host of the restaurant described in the notes below. "
                     "Answer only from these notes; if they do not say, say so.",
                     "You answer guests' questions for the restaurants in the notes below, briefly and "
                     "only from the notes.",
                     "Reply as the restaurant's host. Use only the notes below; never invent prices, times "
                     "or policies.",
                     "You are the host. Answer the guest from the restaurant notes.",
                     "Answer questions about the restaurant below. If the notes do not say, tell the guest."],
                    ["You work at the front desk of the restaurant whose notes follow. Keep answers short and "
                     "stick to the notes."],
                    ["You are a restaurant host. Reply to guests using the notes below only.",
                     "Help guests with questions about the restaurants below. Only use facts from the notes.",
                     "You take calls for the restaurant below. Answer from its notes; if something is not there, say "
                     "you do not know.",
                     "Be the host of the restaurant(s) described here and answer questions from these notes.",
                     "Guest questions: answer them from the notes about the restaurant below, in one sentence."])


def system_text(instructions, parts):
    return instructions + "\n" + "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Instruct tasks and plain chat.

def instruct_task(rng):
    """A short document and a question about one of its facts (the seeds' instruct style)."""
    person, other = rng.sample(FIRST, 2)
    city = rng.choice(CITIES)
    year = rng.randint(1950, 2020)
    n = rng.randint(2, 90)
    day = rng.choice(DAYS)
    kind = rng.randrange(4)
    if kind == 0:
        doc = f"{person} opened a bakery in {city} in {year}. It sells {n} kinds of bread and is closed on {day}s."
        qa = [(f"In which city did {person} open the bakery?", city), ("In which year did the bakery open?", str(year)),
              ("How many kinds of bread does it sell?", str(n)), ("On which day is the bakery closed?", day)]
    elif kind == 1:
        doc = (f"The {city} book club meets every {day} at {rng.randint(5, 8)} pm. It was founded by {person} and "
               f"has {n} members.")
        qa = [("Who founded the book club?", person), ("How many members does the club have?", str(n)),
              ("On which day does the club meet?", day)]
    elif kind == 2:
        email = f"{person.lower()}.{other.lower()}@example.com"
        doc = f"Dear team, please send the invoice to {email} before {day}. Kind regards, {person} {other}"
        qa = [("Extract the email address.", email), ("Who wrote the message?", f"{person} {other}"),
              ("By which day is the invoice needed?", day)]
    else:
        price = f"${rng.randint(5, 60)}"
        doc = f"Tickets for the {city} jazz night cost {price}. Doors open at {rng.randint(6, 9)} pm on {day}, {year}."
        qa = [("How much is a ticket?", price), ("On which day is the jazz night?", day),
              ("Which city hosts the jazz night?", city)]
    q, a = rng.choice(qa)
    system = rng.choice(["Answer the question from the document, as briefly as possible.",
                         "Read the text and answer with the fact asked for, nothing else."])
    return {"system": system, "user": f"Document: {doc}\nQuestion: {q}", "answer": f"{a}.", "kind": "instruct"}


_PIECES = []


def tokenizer_pieces():
    """(word starts, word middles): the printable pieces of tools/demo_tokenizer.model, read once."""
    if not _PIECES:
        import sentencepiece
        sp = sentencepiece.SentencePieceProcessor(
            model_file=os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_tokenizer.model"))
        pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())
                  if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i))]
        _PIECES.append([p[1:] for p in pieces if p.startswith("\u2581") and p.strip("\u2581")])
        _PIECES.append([p for p in pieces if not p.startswith("\u2581")])
    return _PIECES


def piece_phrase(rng, words):
    """`words` words put together from random pieces of the tokenizer (every piece can come up)."""
    starts, middles = tokenizer_pieces()
    return " ".join(rng.choice(starts) + "".join(rng.choice(middles) for _ in range(rng.choice([0, 0, 1, 1, 2])))
                    for _ in range(words))


LOOKUP_QUESTIONS = ["What is the {k}?", "{k}?", "Tell me the {k}.", "What does the list say for {k}?",
                    "Which value has {k}?", "Look up {k}."]


def lookup_task(rng):
    """v6, training only: a list of made-up keys and values, drawn from the tokenizer's whole
    vocabulary, and a question about one key; the answer copies its value, or says the list does
    not have the key. It belongs to no restaurant style: it teaches the copy that every answer
    about notes needs, for any piece."""
    n = rng.randint(3, 9)
    keys = list(dict.fromkeys(piece_phrase(rng, rng.randint(1, 2)) for _ in range(n)))
    values = [piece_phrase(rng, rng.randint(1, 4)) for _ in keys]
    sep = rng.choice([": ", " - ", " = ", " | ", ": ", " \u2014 "])
    lines = [f"{k}{sep}{v}" for k, v in zip(keys, values)]
    if rng.random() < 0.15:
        k, answer = piece_phrase(rng, 1), "The list does not say."
        if k in keys:
            return lookup_task(rng)
    else:
        i = rng.randrange(len(keys))
        k, answer = keys[i], sentence(values[i])
    system = rng.choice(["Answer from the list below, copying the value exactly.", "Look the key up in this list.",
                         "Reply with the value the list gives."])
    return {"system": system + "\n" + "\n".join(lines), "user": rng.choice(LOOKUP_QUESTIONS).format(k=k),
            "answer": answer, "kind": "lookup"}


DRILL_KINDS = {"policy": 0, "allergen": 2, "has_dish": 2, "open_day": 1}  # kind: the part of render() it reads


# v11: kinds whose answer copies a name or a number from the notes; their drills make the names
# unfamiliar (coin_names, any phone format), so that only a copy answers them.
COPY_DRILL_KINDS = {"address": 0, "phone": 0, "cuisine": 0, "price": 2}

# v13: kinds whose answer copies a time or a price, asked over notes in coined formats.
# ("price_format": a price question over a menu with a coined currency.)
FORMAT_DRILL_KINDS = {"opening": 1, "closing": 1, "open_day": 1, "price_format": 2}


def drill_task(rng, owners=TRAIN_OWNERS, weights=None, copy=False, formats=False):
    """v8, training only: one restaurant (v2 styles), a question of a kind that needs a look-up
    (DRILL_KINDS), and as notes only the part that answers it (overview, hours or menu), now and
    then with one other part beside it. Short, so the look-up is found before it is needed in
    whole notes. `weights` (v10): how often each kind is drawn, {kind: weight}; even without.
    `copy` (v11): COPY_DRILL_KINDS too. `formats` (v13): FORMAT_DRILL_KINDS too, half of them over
    notes whose times and prices are in coined formats."""
    r = make_restaurant(rng, owners)
    part_of = {**DRILL_KINDS, **COPY_DRILL_KINDS} if copy else DRILL_KINDS
    if formats:
        part_of = {**part_of, **FORMAT_DRILL_KINDS}
    kinds = sorted(part_of)
    # v8 and v9 drew with choice(): kept, so that their data stays the same byte for byte
    kind = rng.choices(kinds, weights=[weights.get(k, 1) for k in kinds])[0] if weights else rng.choice(kinds)
    part = part_of[kind]
    if formats and kind in FORMAT_DRILL_KINDS:
        if kind == "price_format":
            r, kind = coin_formats(rng, r, "price"), "price"
        elif rng.random() < 0.5:
            r = coin_formats(rng, r, "time")
    elif kind in COPY_DRILL_KINDS:
        r = coin_names(rng, r)
        r["phone"] = wide_phone(rng)
        if kind == "cuisine" and rng.random() < 0.5:
            r["cuisine"] = rng.choice(EXTRA_CUISINE_WORDS + [coined_cuisine(rng)])
    q, a = question(r, kind, rng)
    parts = render(r)
    shown = [parts[part]]
    if rng.random() < 0.3:
        shown.insert(rng.randrange(2), rng.choice([p for i, p in enumerate(parts) if i != part]))
    return {"system": system_text(INSTRUCTIONS.pick(rng, False, False), shown), "user": q, "answer": a,
            "kind": kind}


PERSONAS = ["You are the host of {n}.", "You are a friendly restaurant host at {n}.", "You work at {n}."]


def chat_task(rng, owners=TRAIN_OWNERS, wide=False):
    """A system prompt without notes: greetings get a greeting, questions get "my notes do not say"."""
    r = make_restaurant(rng, owners, wide=wide)
    system = rng.choice(PERSONAS + ["You are a helpful assistant."]).format(n=r["name"])
    if rng.random() < 0.5:
        q, a = question(r, "greeting", rng)
        return {"system": system, "user": q, "answer": a, "kind": "greeting"}
    kind = rng.choice(["opening", "price", "address", "phone", "policy", "unknown", "special"])
    q, _ = question(r, kind, rng)
    return {"system": system, "user": q, "answer": NOT_IN_NOTES, "kind": "unknown"}


def example(rng, owners=TRAIN_OWNERS, instruct_share=0.08, chat_share=0.07, heldout=False, wide=False, coin=0.0,
            quote=False, lookup_share=0.0, drill_share=0.0, drill_weights=None, copy_drills=False, wide_share=0.0,
            format_share=0.0, near_share=0.0, menu_share=0.0, compose=0.0):
    """One example: an instruct task, plain chat, or a question about one of one or two
    restaurants. Restaurant examples also carry their parts ("instructions", "modules": the
    rendered overview, hours and menu of each restaurant) so that the trainer can lay them out
    as a PML prompt would; their "system" (the chat layout) may put the parts in another order.
    `wide` (the v3 data, ignored with `heldout`): the v2 training styles and the `extra` ones, more
    varied facts, balanced allergen and policy answers (question_wide). Without it: the v2
    training data, which the shipped model was trained on (docs/accuracy.md says why v3 is not
    the default). `coin` (the v4 data with v2's, ignored with `heldout`): the share of
    restaurants with some names made up (coin_names); 0 draws the v2 data byte for byte. `quote`:
    the v5 house style of allergen and policy answers (question()). `lookup_share` (v6): the share
    of lookup_task examples. `drill_share` (v8): the share of drill_task examples, `drill_weights`
    (v10) how often each kind of drill comes, `copy_drills` (v11) drills that copy names too.
    `wide_share` (v12): the share of the other examples drawn `wide` (v3's styles). `format_share`
    (v13): format drills (drill_task's `formats`), and the share of the other examples' restaurants
    whose times or prices are in coined formats (coin_formats). `near_share` (v14): the share of
    those restaurants with names one step from familiar ones (near_names). `menu_share` (v15): the
    share of them with menus in coined layouts (coin_menu); `compose` (v15): the share of questions
    in composed wordings (question())."""
    wide = wide and not heldout
    coin = 0.0 if heldout else coin
    if lookup_share and not heldout and rng.random() < lookup_share:
        return lookup_task(rng)
    if drill_share and not heldout and rng.random() < drill_share:
        return drill_task(rng, owners, drill_weights, copy_drills, formats=format_share > 0)
    if wide_share and not heldout and rng.random() < wide_share:
        wide = True
    x = rng.random()
    if x < instruct_share:
        return instruct_task(rng)
    if x < instruct_share + chat_share:
        return chat_task(rng, owners, wide)
    rs = [make_restaurant(rng, owners, heldout, wide) for _ in range(rng.choice([1, 1, 1, 2]))]
    if coin:
        rs = [coin_names(rng, r) if rng.random() < coin else r for r in rs]
    if format_share and not heldout:
        rs = [coin_formats(rng, r) if rng.random() < format_share else r for r in rs]
    if near_share and not heldout:
        rs = [near_names(rng, r) if rng.random() < near_share else r for r in rs]
    if menu_share and not heldout:
        rs = [coin_menu(rng, r) if rng.random() < menu_share else r for r in rs]
    target = rng.choice(rs)
    kinds = [(k, w) for k, w in zip(WIDE_KINDS if wide else KINDS, WIDE_KIND_WEIGHTS if wide else KIND_WEIGHTS)
             if can_ask(target, k)]
    kind = rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])[0]
    q, a = question(target, kind, rng, heldout, wide, quote, compose)
    if len(rs) > 1 and kind != "greeting":
        q = rng.choice([f"At {target['name']}: {q}", f"{target['name']}: {q}"])
    instructions = INSTRUCTIONS.pick(rng, heldout, wide)
    modules = [render(r) for r in rs]
    parts = []
    for m in modules:
        parts += rng.sample(list(m), 3) if rng.random() < 0.3 else list(m)
    return {"system": system_text(instructions, parts), "user": q, "answer": a, "kind": kind,
            "instructions": instructions, "modules": modules}


# The training sets (--data): keyword arguments of example(). v14 and v15 each add to the one before.
V13 = {"drill_share": 0.5, "drill_weights": {"allergen": 2, "has_dish": 2, "price_format": 2}, "copy_drills": True,
       "wide_share": 0.5, "format_share": 0.2}
V14 = {**V13, "near_share": 0.3}
TRAINING_DATA = {"v2": {}, "v3": {"wide": True}, "v4": {"coin": 0.35}, "v5": {"quote": True},
                 "v6": {"coin": 0.2, "lookup_share": 0.12}, "v7": {"lookup_share": 0.05},
                 "v8": {"drill_share": 0.3}, "v9": {"drill_share": 0.5},
                 "v10": {"drill_share": 0.5, "drill_weights": {"allergen": 4, "has_dish": 2}},
                 "v11": {"drill_share": 0.5, "drill_weights": {"allergen": 4, "has_dish": 2}, "copy_drills": True},
                 "v12": {"drill_share": 0.5, "drill_weights": {"allergen": 4, "has_dish": 2}, "copy_drills": True,
                         "wide_share": 0.5},
                 "v13": V13, "v14": V14, "v15": {**V14, "menu_share": 0.35, "compose": 0.5}}


def parse_curriculum(spec):
    """The trainer's --data: one TRAINING_DATA name, or stages drawn in turn over the training time,
    "v2:0.2,v9:0.3,v14:0.5" (each name's share of the time, in order; the shares sum to 1), so that
    one run can follow the data of a chain of continued runs. Returns [(name, fraction of the time
    at which the stage ends)], the last ending at 1. ValueError names what is wrong."""
    parts = spec.split(",")
    stages, end = [], 0.0
    for part in parts:
        name, _, share = part.strip().partition(":")
        if name not in TRAINING_DATA:
            raise ValueError(f"--data {spec!r}: {name!r} is not one of {', '.join(sorted(TRAINING_DATA))}")
        if not share and len(parts) == 1:
            return [(name, 1.0)]
        try:
            share = float(share)
        except ValueError:
            raise ValueError(f"--data {spec!r}: stage {name!r} needs a share of the time, as {name}:0.5") from None
        if not 0 < share <= 1:
            raise ValueError(f"--data {spec!r}: stage {name!r} has share {share}, not in (0, 1]")
        end += share
        stages.append((name, end))
    if abs(end - 1) > 1e-6:
        raise ValueError(f"--data {spec!r}: the shares sum to {end:g}, not 1")
    stages[-1] = (stages[-1][0], 1.0)
    return stages


def curriculum_stage(stages, fraction):
    """The index of the stage that `fraction` (of the training time, 0 to 1) falls in."""
    return next((i for i, (_, end) in enumerate(stages) if fraction < end), len(stages) - 1)


def heldout_question(rng, r, heldout, quote=False):
    kinds = [(k, w) for k, w in zip(KINDS, KIND_WEIGHTS) if can_ask(r, k) and k != "greeting"]
    kind = rng.choices([k for k, _ in kinds], weights=[1 for _ in kinds])[0]
    q, a = question(r, kind, rng, heldout, quote=quote)
    return kind, q, a


def schema_xml(instructions, restaurants, mode, name=None, members=None, comment=""):
    name = name or f"heldout_{mode}"
    members = members or [f"r{i}" for i in range(len(restaurants))]
    parts = [comment + f'<schema name="{name}" mode="{mode}">\n  <system>\n{escape(instructions)}\n    <union scaffold="{members[0]}">']
    for member, r in zip(members, restaurants):
        overview, hours, menu = render(r)
        parts.append(f'      <module name="{member}">\n{escape(overview)}\n'
                     f'        <module name="hours">\n{escape(hours)}\n        </module>\n'
                     f'        <module name="menu">\n{escape(menu)}\n        </module>\n      </module>')
    parts.append("    </union>\n  </system>\n</schema>\n")
    return "\n".join(parts)


# --styles: (notes and instructions held out, questions held out, the evaluation generator's seed
# offset). The one-sided splits have seeds of their own, so the two original sets stay as they were.
STYLE_SPLITS = {"train": (False, False, 1_000_003), "heldout": (True, True, 3_000_017),
                "heldout-notes": (True, False, 5_000_011), "heldout-questions": (False, True, 7_000_003)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--train", type=int, default=0, help="training examples to write (the trainer draws its own)")
    ap.add_argument("--eval", type=int, default=400, help="held-out questions")
    ap.add_argument("--eval-restaurants", type=int, default=40)
    ap.add_argument("--styles", choices=sorted(STYLE_SPLITS), default="train",
                    help="styles of the held-out restaurants: the training pools, the held-out ones, or held-out "
                         "ones on one side only (heldout-notes: the notes and instructions held out, the questions "
                         "worded as in training; heldout-questions: the other way round), to see which side a "
                         "model's misses on the held-out styles come from")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", choices=sorted(TRAINING_DATA), default="v2",
                    help="training data (--train, --corpus): v2 (the shipped model's) or a later attempt, as this "
                         "file's docstring says. The evaluation sets are the same with any")
    ap.add_argument("--answers", choices=["decide", "quote"], default="decide",
                    help="house style of the held-out allergen and policy answers: decide (v2's: \"No, the tiramisu "
                         "does not list nuts.\") or quote (v5's: the allergens or the policy copied first)")
    ap.add_argument("--corpus", help="write the text of --corpus-examples training examples here (tokenizer training)")
    ap.add_argument("--corpus-examples", type=int, default=20000)
    ap.add_argument("--demo-schema", help="also write the restaurant chatbot's demo schema (two held-out "
                    "restaurants, restaurant_a and restaurant_b) to this file")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    heldout_styles, heldout_questions, seed_offset = STYLE_SPLITS[args.styles]
    # Training and held-out restaurants come from separate generators and owners.
    train_rng = random.Random(args.seed)
    eval_rng = random.Random(args.seed + seed_offset)
    with open(os.path.join(args.out, "train.jsonl"), "w") as f:
        for _ in range(args.train):
            ex = example(train_rng, **TRAINING_DATA[args.data])
            f.write(json.dumps({k: ex[k] for k in ("system", "user", "answer", "kind")}) + "\n")
    if args.corpus:
        with open(args.corpus, "w") as f:
            for _ in range(args.corpus_examples):
                ex = example(train_rng, **TRAINING_DATA[args.data])
                f.write(ex["system"] + "\n" + ex["user"] + "\n" + ex["answer"] + "\n")
    instructions = INSTRUCTIONS.held[0] if heldout_styles else INSTRUCTIONS.train[0]
    heldout = [make_restaurant(eval_rng, HELDOUT_OWNERS, heldout_styles) for _ in range(args.eval_restaurants)]
    with open(os.path.join(args.out, "eval.jsonl"), "w") as f:
        for i in range(args.eval):
            idx = i % len(heldout)
            kind, q, a = heldout_question(eval_rng, heldout[idx], heldout_questions, args.answers == "quote")
            f.write(json.dumps({"restaurant": f"r{idx}", "system": system_text(instructions, render(heldout[idx])),
                                "user": q, "answer": a, "kind": kind}) + "\n")
    for mode in ("scaffold", "independent"):
        with open(os.path.join(args.out, f"eval_{mode}.xml"), "w") as f:
            f.write(schema_xml(instructions, heldout, mode))
    if args.demo_schema:
        demo_rng = random.Random(args.seed + 2_000_003)
        comment = ("<!-- The demo model's restaurant chatbot (examples/restaurant_chatbot without arguments):\n"
                   "     two restaurants in styles models/pcache-demo was trained on, written by\n"
                   f"     tools/restaurant_data.py --seed {args.seed} --demo-schema (owners never seen in training). -->\n")
        with open(args.demo_schema, "w") as f:
            f.write(schema_xml(INSTRUCTIONS.train[0], [make_restaurant(demo_rng, HELDOUT_OWNERS) for _ in range(2)],
                               "scaffold", "demo_restaurants", ["restaurant_a", "restaurant_b"], comment))
    print(f"wrote {args.train} training examples, {args.eval} held-out questions on "
          f"{len(heldout)} restaurants ({args.styles} styles) to {args.out}")


if __name__ == "__main__":
    main()
