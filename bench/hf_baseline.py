#!/usr/bin/env python3
"""Hugging Face transformers baseline for pcache's benchmarks (issue 6).

What it measures
----------------
A Llama or Mistral model at its real shape (from a Hugging Face config.json)
with random weights -- random weights do not change what a forward pass costs --
in plain transformers, the way a user of transformers would run it. For every
module length L (``--module-tokens``) and new-text length N (``--new-tokens``):

``naive``          time to first token for the whole prompt: one forward of the
                   L module tokens + N new tokens (use_cache=True, logits of
                   the last token only), argmax, ``.item()``.
``prefix_cached``  time to first token when the module's K/V was computed
                   earlier (not timed) and is reused: each run builds a fresh
                   ``DynamicCache`` from the stored module K/V (timed: reuse
                   needs a cache object the forward may extend, and
                   ``DynamicCache.update`` copies the K/V), then a forward of
                   the N new tokens at positions L..L+N-1 over that cache,
                   argmax, ``.item()``. Reported as ``cached_ms``.
``floor``          the N new tokens alone after a BOS, no context: what no
                   cache can beat. Reported as ``floor_ms``.
``decode``         after a (not timed) naive prefill, greedy decoding of
                   ``--decode-tokens`` tokens one step at a time in a Python
                   loop (model(...) with past_key_values, argmax, ``.item()``).
                   Reported as tokens/s from the per-step times.
memory             peak ``torch.cuda.max_memory_allocated()`` per (L, N) (weights
                   included; reset between configurations) and the bytes of the
                   module's K/V.

Times are taken with CUDA events (on ``--device cpu``: ``time.perf_counter``):
``--warmup`` runs first, then ``--repeats`` timed runs; the JSON holds the
median and the 90th percentile (linear interpolation between order
statistics) in milliseconds. An out-of-memory error is recorded for the
method and configuration it hit, and the run goes on.

Token ids come from English text (generated sentences about restaurants)
encoded with the SentencePiece ``--tokenizer``; ids are taken modulo the
model's vocabulary (ids >= vocab_size are folded into [3, vocab_size), so they
never become unk/bos/eos). The module text starts with BOS (id 1) and is
exactly L tokens; the new text is exactly N tokens. Without the
``sentencepiece`` module (or the tokenizer file) the ids are random and the
JSON says so (``settings.tokens``).

How to run (on the GPU machine: torch 2.x + CUDA, transformers 5.x; nothing is
downloaded)::

    python3 bench/hf_baseline.py \\
        --config ../shared/fixtures/configs/mistral-7b-instruct-v0.3.json \\
        --tokenizer ../shared/fixtures/tiny-mistral/tokenizer.model \\
        --name mistral-7b-instruct-v0.3 --out hf-h100-mistral.json

Defaults: ``--module-tokens 512,1024,2048,4096,8192,16384 --new-tokens 32,256
--warmup 2 --repeats 10 --decode-tokens 128 --decode-repeats 3 --dtype
bfloat16 --attn sdpa --device cuda``. The JSON (same shape as ``pcache bench``
writes; ``bench/plot.py`` reads both) is rewritten after every configuration,
so an interrupted run keeps what it measured. A table is printed as it goes.
"""

import argparse
import contextlib
import datetime
import gc
import inspect
import json
import os
import platform
import random
import socket
import sys
import time
import traceback

BOS_ID = 1
CACHED_INCLUDES = ("building a fresh DynamicCache from the stored module K/V "
                   "(DynamicCache.update per layer) is inside cached_ms")
FIRST_ORDINARY_ID = 3  # 0 unk, 1 bos, 2 eos in both the Llama-2 and Mistral vocabularies


# --------------------------------------------------------------------------- arguments


def int_list(text):
    """'512,1k,2048' -> [512, 1024, 2048]."""
    values = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        scale = 1
        if part.endswith("k"):
            scale, part = 1024, part[:-1]
        value = int(part) * scale
        if value <= 0:
            raise argparse.ArgumentTypeError(f"lengths must be positive: {text!r}")
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError(f"no lengths in {text!r}")
    return values


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Time naive prefill, DynamicCache prefix reuse, the no-context floor and greedy "
        "decoding in plain transformers, with random weights at a real model shape.")
    p.add_argument("--config", required=True, help="Hugging Face config.json of the model")
    p.add_argument("--tokenizer", default=None, help="SentencePiece tokenizer.model for the prompt text")
    p.add_argument("--name", default=None, help="model name written to the JSON (default: config file name)")
    p.add_argument("--module-tokens", type=int_list, default=int_list("512,1024,2048,4096,8192,16384"),
                   help="comma-separated module lengths L (default %(default)s)")
    p.add_argument("--new-tokens", type=int_list, default=int_list("32,256"),
                   help="comma-separated new-text lengths N (default %(default)s)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs before each measurement")
    p.add_argument("--repeats", type=int, default=10, help="timed runs of each TTFT method")
    p.add_argument("--decode-tokens", type=int, default=128, help="greedy decode steps per decode run (0: no decode)")
    p.add_argument("--decode-repeats", type=int, default=3, help="timed decode runs")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    p.add_argument("--attn", default="sdpa", help="attn_implementation (sdpa, eager, flash_attention_2, ...)")
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and of the text")
    p.add_argument("--out", required=True, help="JSON file to write")
    args = p.parse_args(argv)
    if args.warmup < 0 or args.repeats < 1 or args.decode_tokens < 0 or args.decode_repeats < 0:
        p.error("--warmup and --decode-tokens must be >= 0, --repeats >= 1, --decode-repeats >= 0")
    return args


# --------------------------------------------------------------------------- statistics


def percentile(values, q):
    """q-th percentile (0..100) with linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100.0
    lo = int(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


def summarize_ms(times_ms):
    return {"median": round(percentile(times_ms, 50), 3), "p90": round(percentile(times_ms, 90), 3)}


def summarize_rate(step_ms):
    """Tokens/s from per-step times. "median" is 1000 / median step time; "p90" is
    1000 / (90th percentile of the step time), i.e. the slow end of the steps (a
    lower rate than the median), not the 90th percentile of the rates."""
    return {"median": round(1000.0 / percentile(step_ms, 50), 2),
            "p90": round(1000.0 / percentile(step_ms, 90), 2)}


# --------------------------------------------------------------------------- machine


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Timer:
    """Start/stop pairs, resolved to milliseconds in one go at the end.

    On CUDA the pairs are CUDA events on the current stream; every timed function
    ends in ``.item()``, so the stream is idle at both events and the interval is
    what a caller waits. On the CPU it is ``time.perf_counter``."""

    def __init__(self, torch, device):
        self.torch = torch
        self.cuda = device.type == "cuda"

    def synchronize(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def start(self):
        if self.cuda:
            event = self.torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def stop(self, started):
        if self.cuda:
            event = self.torch.cuda.Event(enable_timing=True)
            event.record()
            return started, event
        return started, time.perf_counter()

    def resolve_ms(self, pairs):
        if self.cuda:
            self.torch.cuda.synchronize()
            return [a.elapsed_time(b) for a, b in pairs]
        return [(b - a) * 1000.0 for a, b in pairs]


# --------------------------------------------------------------------------- model


def version_at_least(version, major, minor):
    numbers = []
    for part in version.split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        numbers.append(int(digits) if digits else 0)
    while len(numbers) < 2:
        numbers.append(0)
    return tuple(numbers) >= (major, minor)


def load_config(transformers, path):
    """A config object of the right class from a config.json file (no network)."""
    with open(path) as f:
        data = json.load(f)
    model_type = data.get("model_type", "")
    classes = {"llama": "LlamaConfig", "mistral": "MistralConfig"}
    if model_type in classes and hasattr(transformers, classes[model_type]):
        return getattr(transformers, classes[model_type]).from_dict(data)
    # Any other architecture transformers knows.
    return transformers.AutoConfig.for_model(model_type, **{k: v for k, v in data.items() if k != "model_type"})


def build_model(torch, transformers, config, dtype, attn, device):
    """Random weights at the config's shape, built directly on the device, eval mode."""
    previous_default = torch.get_default_dtype()
    # The default dtype makes parameters be created in `dtype` even where a
    # transformers version ignores the dtype argument.
    try:
        torch.set_default_dtype(dtype)
    except (TypeError, RuntimeError):  # old torch: only float32/float64 defaults
        pass
    # torch >= 2.0: a device is a context manager, so parameters are created on the GPU at once.
    placement = device if hasattr(device, "__enter__") else contextlib.nullcontext()
    try:
        with placement:
            try:
                model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
            except TypeError:  # transformers before `dtype` was the name
                model = transformers.AutoModelForCausalLM.from_config(
                    config, torch_dtype=dtype, attn_implementation=attn)
    finally:
        torch.set_default_dtype(previous_default)
    first = next(model.parameters())
    if first.dtype != dtype or first.device != device:
        model = model.to(device=device, dtype=dtype)
    model.eval()
    model.requires_grad_(False)
    return model


def head_dim_of(config):
    head_dim = getattr(config, "head_dim", None)
    return head_dim if head_dim else config.hidden_size // config.num_attention_heads


def kv_heads_of(config):
    return getattr(config, "num_key_value_heads", None) or config.num_attention_heads


def model_summary(config):
    return (f"{config.model_type}: {config.num_hidden_layers} layers, hidden {config.hidden_size}, "
            f"heads {config.num_attention_heads}/{kv_heads_of(config)} x {head_dim_of(config)}, "
            f"ffn {config.intermediate_size}, vocab {config.vocab_size}")


class Runner:
    """The model plus how to call its forward in this transformers version."""

    def __init__(self, torch, transformers, model, device, timer):
        self.torch = torch
        self.model = model
        self.device = device
        self.timer = timer
        self.DynamicCache = transformers.DynamicCache
        try:  # with the config a DynamicCache has the model's layer types (sliding window or not)
            self.DynamicCache(config=model.config)
            self.cache_kwargs = {"config": model.config}
        except TypeError:
            self.cache_kwargs = {}
        params = inspect.signature(model.forward).parameters
        if "logits_to_keep" in params:
            self.keep_kwarg = "logits_to_keep"
        elif "num_logits_to_keep" in params:
            self.keep_kwarg = "num_logits_to_keep"
        elif (any(p.kind is p.VAR_KEYWORD for p in params.values())
              and version_at_least(transformers.__version__, 4, 50)):
            self.keep_kwarg = "logits_to_keep"  # forward hidden behind a decorator; the name since 4.50
        else:
            self.keep_kwarg = None
        self.pass_cache_position = "cache_position" in params

    def new_cache(self):
        return self.DynamicCache(**self.cache_kwargs)

    def forward(self, ids, cache=None, start=0):
        """Forward of ids [1, T] at positions start..start+T-1 over `cache` (None: empty);
        returns the model output (logits of the last token only where supported)."""
        n = ids.shape[1]
        positions = self.torch.arange(start, start + n, device=self.device)
        kwargs = {"input_ids": ids, "position_ids": positions.unsqueeze(0), "use_cache": True}
        if self.pass_cache_position:
            kwargs["cache_position"] = positions
        if cache is not None:
            kwargs["past_key_values"] = cache
        if self.keep_kwarg:
            kwargs[self.keep_kwarg] = 1
        return self.model(**kwargs)

    @staticmethod
    def first_token(output):
        return output.logits[0, -1].argmax().item()


def cache_layers(cache):
    """[(K, V)] per layer of a transformers cache, whatever its version's layout."""
    if hasattr(cache, "layers"):  # transformers >= 4.56: DynamicLayer objects
        return [(layer.keys, layer.values) for layer in cache.layers]
    if hasattr(cache, "key_cache"):  # 4.36 .. 4.55
        return list(zip(cache.key_cache, cache.value_cache))
    return [(k, v) for k, v in cache]  # legacy tuple of tuples


# --------------------------------------------------------------------------- methods


def measure(runner, fn, warmup, repeats):
    """Milliseconds of `repeats` calls of fn after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    runner.timer.synchronize()
    pairs = []
    for _ in range(repeats):
        started = runner.timer.start()
        fn()
        pairs.append(runner.timer.stop(started))
    return runner.timer.resolve_ms(pairs)


def naive_ttft(runner, prompt_ids):
    """Whole prompt in one forward, first token."""
    return runner.first_token(runner.forward(prompt_ids))


def compute_module_kv(runner, module_ids):
    """The module's K/V per layer, [(K, V)] of [1, Hkv, L, D] (not timed)."""
    output = runner.forward(module_ids)
    return cache_layers(output.past_key_values)


def fresh_cache(runner, module_kv):
    """A new DynamicCache holding the module's K/V. In transformers >= 4.56 `update`
    concatenates onto the layer's empty tensor, a copy; either way DynamicCache
    never writes into the stored tensors, so they serve every run."""
    cache = runner.new_cache()
    for layer, (keys, values) in enumerate(module_kv):
        cache.update(keys, values, layer)
    return cache


def fresh_cache_copies(runner, module_kv):
    """Whether a fresh cache holds copies of the stored K/V (else the same tensors)."""
    keys = cache_layers(fresh_cache(runner, module_kv))[0][0]
    return keys.data_ptr() != module_kv[0][0].data_ptr()


def prefix_cached_ttft(runner, module_kv, new_ids, module_len):
    """Fresh cache from the stored module K/V + forward of the new tokens after it, first token."""
    cache = fresh_cache(runner, module_kv)
    return runner.first_token(runner.forward(new_ids, cache=cache, start=module_len))


def floor_ttft(runner, floor_ids):
    """BOS + new tokens alone, no context, first token."""
    return runner.first_token(runner.forward(floor_ids))


def decode_step_ms(runner, prompt_ids, steps):
    """Naive prefill (not timed), then `steps` greedy steps of one token each; ms per step."""
    output = runner.forward(prompt_ids)
    cache = output.past_key_values
    next_id = output.logits[:, -1:].argmax(-1)  # [1, 1]
    generated = [next_id.item()]
    position = prompt_ids.shape[1]
    pairs = []
    for _ in range(steps):
        started = runner.timer.start()
        output = runner.forward(next_id, cache=cache, start=position)
        cache = output.past_key_values
        next_id = output.logits[:, -1:].argmax(-1)
        generated.append(next_id.item())
        pairs.append(runner.timer.stop(started))
        position += 1
    del output, cache
    return runner.timer.resolve_ms(pairs)


def measure_decode(runner, prompt_ids, steps, warmup, repeats):
    """Per-step ms pooled over `repeats` decode runs, after `warmup` short ones."""
    for _ in range(warmup):
        decode_step_ms(runner, prompt_ids, min(steps, 8))
    step_ms = []
    for _ in range(repeats):
        step_ms.extend(decode_step_ms(runner, prompt_ids, steps))
    return step_ms


# --------------------------------------------------------------------------- prompt text

_NAMES = ["The Blue Heron", "Casa Lucia", "Golden Lantern", "Harbor Street Kitchen", "Le Petit Jardin",
          "Saffron House", "The Copper Pot", "Osteria Verde", "Maple & Rye", "Sakura Garden",
          "The Old Mill", "Taqueria El Sol", "Bistro Nord", "Olive Tree Taverna", "The Salt Cellar"]
_CUISINES = ["Italian", "French", "Japanese", "Mexican", "Greek", "Indian", "Thai", "Spanish",
             "Lebanese", "Korean", "Peruvian", "Vietnamese", "Ethiopian", "Turkish", "Scandinavian"]
_PLACES = ["the old town", "the harbour district", "a quiet side street", "the university quarter",
           "the market square", "the riverside", "a converted warehouse", "the train station",
           "the hills above the city", "the financial district"]
_DISHES = ["hand-made pasta", "wood-fired pizza", "slow-braised lamb", "grilled sea bass", "mushroom risotto",
           "spicy noodle soup", "roast chicken with herbs", "fresh oysters", "vegetable curry",
           "duck confit", "corn tortillas with salsa", "lemon tart", "chocolate souffle", "dumplings",
           "charcoal-grilled skewers", "seasonal salads"]
_ADJECTIVES = ["small", "busy", "family-run", "elegant", "relaxed", "lively", "cosy", "modern",
               "traditional", "bright", "candle-lit", "popular"]
_TEMPLATES = [
    "{name} is a {adj} {cuisine} restaurant in {place}, known for its {dish}.",
    "Guests at {name} often order the {dish}, and many come back for the {dish2}.",
    "The kitchen at {name} opens at {hour} and the last table is seated at {late}.",
    "A dinner for two at {name} costs about {price} dollars without wine.",
    "Reviewers praise the service at {name} but say the room gets loud on weekends.",
    "{name} takes reservations up to {days} days ahead and keeps a few tables for walk-ins.",
    "The chef of {name} trained in {cuisine} kitchens before opening this place in {place}.",
    "On {weekday}s, {name} serves a set menu with {dish} and {dish2}.",
    "Vegetarian guests can choose {dish2} at {name}, and the staff explain every allergen.",
    "Parking near {name} is hard to find, so most people arrive by bus or on foot.",
]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def restaurant_text(rng, sentences):
    """`sentences` varied English sentences about restaurants, in paragraphs."""
    out = []
    for i in range(sentences):
        template = rng.choice(_TEMPLATES)
        dish, dish2 = rng.sample(_DISHES, 2)
        out.append(template.format(
            name=rng.choice(_NAMES), adj=rng.choice(_ADJECTIVES), cuisine=rng.choice(_CUISINES),
            place=rng.choice(_PLACES), dish=dish, dish2=dish2, hour=f"{rng.randint(11, 18)}:00",
            late=f"{rng.randint(21, 23)}:{rng.choice(['00', '15', '30', '45'])}",
            price=rng.randint(40, 180), days=rng.randint(7, 60), weekday=rng.choice(_WEEKDAYS)))
        out.append("\n\n" if i % 6 == 5 else " ")
    return "".join(out)


def fold_id(token_id, vocab_size):
    """An id of the tokenizer's vocabulary mapped into the model's (never onto unk/bos/eos)."""
    if token_id < vocab_size:
        return token_id
    return FIRST_ORDINARY_ID + (token_id - FIRST_ORDINARY_ID) % (vocab_size - FIRST_ORDINARY_ID)


def load_sentencepiece(path):
    """A SentencePieceProcessor, or (None, reason)."""
    if not path:
        return None, "no --tokenizer given"
    if not os.path.isfile(path):
        return None, f"{path} does not exist"
    try:
        import sentencepiece
    except ImportError:
        return None, "the sentencepiece module is not importable"
    processor = sentencepiece.SentencePieceProcessor()
    processor.Load(path)
    return processor, None


def text_ids(processor, seed, count, vocab_size):
    """`count` ids of generated restaurant text (no BOS)."""
    rng = random.Random(seed)
    ids = []
    while len(ids) < count:
        ids.extend(fold_id(t, vocab_size) for t in processor.EncodeAsIds(restaurant_text(rng, 40)))
    return ids[:count]


def random_ids(torch, seed, count, vocab_size):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(FIRST_ORDINARY_ID, vocab_size, (count,), generator=generator).tolist()


def make_prompt_ids(torch, tokenizer_path, vocab_size, module_len_max, new_len_max, seed):
    """(module stream, new-text stream, source): the module text of length L is
    [BOS] + module_stream[:L-1], the new text of length N is new_stream[:N]."""
    processor, reason = load_sentencepiece(tokenizer_path)
    if processor is None:
        print(f"hf_baseline: using random token ids: {reason}", file=sys.stderr)
        return (random_ids(torch, seed + 1, module_len_max, vocab_size),
                random_ids(torch, seed + 2, new_len_max, vocab_size), "random")
    return (text_ids(processor, seed + 1, module_len_max, vocab_size),
            text_ids(processor, seed + 2, new_len_max, vocab_size), "sentencepiece")


# --------------------------------------------------------------------------- one configuration


def is_oom(torch, error):
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(error, oom_type):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def release_memory(torch, device):
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def attempt(torch, device, label, thunk):
    """(value, None) or (None, error text); OOM gives "out of memory"."""
    try:
        return thunk(), None
    except Exception as error:  # noqa: BLE001 -- any failure is recorded for this method only
        if is_oom(torch, error):
            message = "out of memory"
        else:
            message = f"{type(error).__name__}: {error}"
            traceback.print_exc(file=sys.stderr)
    # Out of the except block the traceback, and the tensors its frames hold, are gone.
    print(f"hf_baseline: {label}: {message}", file=sys.stderr)
    release_memory(torch, device)
    return None, message


def run_configuration(runner, args, module_len, new_len, module_ids, new_ids, module_kv, module_kv_error,
                      kv_bytes):
    torch, device = runner.torch, runner.device
    prompt_ids = torch.cat([module_ids, new_ids], dim=1)
    floor_ids = torch.cat([torch.tensor([[BOS_ID]], device=device), new_ids], dim=1)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    result = {"module_tokens": module_len, "new_tokens": new_len}
    errors = {}

    def record(key, label, thunk):
        value, error = attempt(torch, device, f"L={module_len} N={new_len} {label}", thunk)
        if error is None:
            result[key] = value
        else:
            errors[key] = error

    record("naive_ms", "naive", lambda: summarize_ms(
        measure(runner, lambda: naive_ttft(runner, prompt_ids), args.warmup, args.repeats)))
    if module_kv is None:
        errors["cached_ms"] = module_kv_error
    else:
        record("cached_ms", "prefix_cached", lambda: summarize_ms(measure(
            runner, lambda: prefix_cached_ttft(runner, module_kv, new_ids, module_len), args.warmup, args.repeats)))
    record("floor_ms", "floor", lambda: summarize_ms(
        measure(runner, lambda: floor_ttft(runner, floor_ids), args.warmup, args.repeats)))
    if args.decode_tokens > 0 and args.decode_repeats > 0:
        record("decode_tokens_per_s", "decode", lambda: summarize_rate(measure_decode(
            runner, prompt_ids, args.decode_tokens, min(args.warmup, 1), args.decode_repeats)))

    result["kv_bytes"] = kv_bytes
    if device.type == "cuda":
        result["peak_device_bytes"] = int(torch.cuda.max_memory_allocated(device))
    if errors:
        result["errors"] = errors
    return result


# --------------------------------------------------------------------------- output


def fmt_ms(result, key):
    entry = result.get(key)
    return f"{entry['median']:10.2f}" if entry else f"{'-':>10}"


def print_header():
    print(f"{'L':>6} {'N':>5} {'naive ms':>10} {'cached ms':>10} {'floor ms':>10} {'naive/cached':>12} "
          f"{'decode tok/s':>12} {'peak GiB':>9}  errors", flush=True)


def print_row(result):
    naive, cached = result.get("naive_ms"), result.get("cached_ms")
    speedup = f"{naive['median'] / cached['median']:12.1f}" if naive and cached else f"{'-':>12}"
    decode = result.get("decode_tokens_per_s")
    decode_text = f"{decode['median']:12.1f}" if decode else f"{'-':>12}"
    peak = result.get("peak_device_bytes")
    peak_text = f"{peak / 2**30:9.2f}" if peak is not None else f"{'-':>9}"
    errors = ", ".join(f"{k}: {v}" for k, v in result.get("errors", {}).items())
    print(f"{result['module_tokens']:>6} {result['new_tokens']:>5} {fmt_ms(result, 'naive_ms')} "
          f"{fmt_ms(result, 'cached_ms')} {fmt_ms(result, 'floor_ms')} {speedup} {decode_text} {peak_text}  "
          f"{errors}", flush=True)


def write_json(path, document):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(document, f, indent=2)
        f.write("\n")
    os.replace(temporary, path)


# --------------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    import torch
    import transformers

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("hf_baseline: CUDA is not available (use --device cpu for a functional check)")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    dtype = getattr(torch, args.dtype)

    config = load_config(transformers, args.config)
    torch.manual_seed(args.seed)
    model = build_model(torch, transformers, config, dtype, args.attn, device)
    runner = Runner(torch, transformers, model, device, Timer(torch, device))
    attn_used = getattr(model.config, "_attn_implementation", None) or args.attn
    if attn_used != args.attn:
        print(f"hf_baseline: asked for attention {args.attn!r}, the model uses {attn_used!r}", file=sys.stderr)

    vocab = config.vocab_size
    module_lens = sorted(set(args.module_tokens))
    new_lens = sorted(set(args.new_tokens))
    module_stream, new_stream, token_source = make_prompt_ids(
        torch, args.tokenizer, vocab, max(module_lens) - 1, max(new_lens), args.seed)

    element_bytes = torch.tensor([], dtype=dtype).element_size()
    kv_bytes_per_token = 2 * config.num_hidden_layers * kv_heads_of(config) * head_dim_of(config) * element_bytes

    document = {
        "tool": "hf_baseline",
        "machine": {
            "hostname": socket.gethostname(),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "cpu": cpu_name(),
        },
        "model": {
            "name": args.name or os.path.splitext(os.path.basename(args.config))[0],
            "config": args.config,
            "summary": model_summary(config),
            "parameters": sum(p.numel() for p in model.parameters()),
            "weights": "random",
        },
        "dtype": args.dtype,
        "versions": {
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "transformers": transformers.__version__,
            "attn_implementation": attn_used,
        },
        "settings": {
            "warmup": args.warmup,
            "repeats": args.repeats,
            "decode_tokens": args.decode_tokens,
            "decode_repeats": args.decode_repeats,
            "tokens": token_source,
            "cached_includes": CACHED_INCLUDES,
            "logits": f"last token only ({runner.keep_kwarg}=1)" if runner.keep_kwarg else "all positions",
        },
        "date": utc_now(),
        "results": [],
    }
    settings = document["settings"]
    print(f"hf_baseline: {document['model']['summary']}, {document['model']['parameters'] / 1e9:.2f} B "
          f"parameters, {args.dtype}, attention {attn_used}, on {document['machine']['device']}; "
          f"torch {torch.__version__}, transformers {transformers.__version__}; tokens: {token_source}",
          flush=True)
    print_header()

    with torch.inference_mode():
        for module_len in module_lens:
            module_ids = torch.tensor([[BOS_ID] + module_stream[:module_len - 1]], device=device)
            module_kv, module_kv_error = attempt(
                torch, device, f"L={module_len} module K/V", lambda: compute_module_kv(runner, module_ids))
            if module_kv is not None and "copied" not in settings["cached_includes"]:
                copies = fresh_cache_copies(runner, module_kv)
                settings["cached_includes"] = CACHED_INCLUDES + (
                    "; the K/V are copied" if copies else "; the K/V tensors are shared, not copied")
            if module_kv is not None:
                kv_bytes = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in module_kv)
            else:
                kv_bytes = kv_bytes_per_token * module_len
            for new_len in new_lens:
                new_ids = torch.tensor([new_stream[:new_len]], device=device)
                result = run_configuration(runner, args, module_len, new_len, module_ids, new_ids,
                                           module_kv, module_kv_error, kv_bytes)
                document["results"].append(result)
                print_row(result)
                write_json(args.out, document)
            module_kv = None
            release_memory(torch, device)

    write_json(args.out, document)
    print(f"hf_baseline: wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
