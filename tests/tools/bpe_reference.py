"""The tokenizer half of make_reference.py's Llama 3 and Qwen 2 variants: a byte-level BPE
tokenizer.json trained with `tokenizers` on the pre-tokenizer, normalizer, decoder and
post-processor settings those checkpoints publish, their special tokens at the end of the
vocabulary as there, their tokenizer_config.json / chat_template.jinja and
generation_config.json, and tokenizer_reference.json (docs/formats.md, "Tokenizer reference"):

- "texts": each text (or, for bytes that are not UTF-8, "bytes_hex" and the text that
  Python's bytes.decode("utf-8", "replace") makes of them, which is what is encoded: neither
  `tokenizers` nor transformers take anything but str) with the ids and pieces of
  encode(text, add_special_tokens=False) where special tokens are never parsed from the text
  (encode_special_tokens = True), "special_ids" (encode(text) with the defaults: special
  tokens in the text parsed, the post-processor's added), and "decoded"
  (decode(ids, skip_special_tokens=True)).
- "chat": conversations rendered by transformers' apply_chat_template with the checkpoint's
  template and with other templates of the same families ("templates"), as text and as the
  ids of that text (special tokens parsed, nothing added).

Needs tokenizers and transformers (the GPU machine). `python3 bpe_reference.py FOLDER FAMILY`
rewrites FOLDER/tokenizer_reference.json alone, from the folder's tokenizer files.
"""
import json
import os

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

BASE_VOCAB = 2048

# As in Meta-Llama-3(.1)-*/tokenizer.json and Qwen2.5-*/tokenizer.json.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# (content, special), in vocabulary order after the trained pieces.
LLAMA3_ADDED = [("<|begin_of_text|>", True), ("<|end_of_text|>", True),
                ("<|reserved_special_token_0|>", True), ("<|reserved_special_token_1|>", True),
                ("<|finetune_right_pad_id|>", True), ("<|reserved_special_token_2|>", True),
                ("<|start_header_id|>", True), ("<|end_header_id|>", True), ("<|eom_id|>", True),
                ("<|eot_id|>", True), ("<|python_tag|>", True)]
QWEN2_ADDED = [("<|endoftext|>", True), ("<|im_start|>", True), ("<|im_end|>", True),
               ("<|object_ref_start|>", True), ("<|object_ref_end|>", True),
               ("<tool_call>", False), ("</tool_call>", False)]

LLAMA30_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim "
    "+ '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

LLAMA31_TEMPLATE = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\\n\\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

QWEN25_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# Qwen 2 (before 2.5): a plain default system prompt.
QWEN2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

# Plain ChatML, no default system prompt.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}")

FAMILIES = {
    "llama3": dict(
        pattern=LLAMA3_PATTERN, added=LLAMA3_ADDED, normalizer=None, ignore_merges=True,
        byte_level=dict(add_prefix_space=False, trim_offsets=True, use_regex=False),
        decoder=dict(add_prefix_space=True, trim_offsets=True, use_regex=True),
        bos="<|begin_of_text|>", eos="<|eot_id|>", config_eos=["<|end_of_text|>"],
        generation_eos=["<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"],
        template=LLAMA31_TEMPLATE, template_file=True,
        templates={"llama3.1": LLAMA31_TEMPLATE, "llama3": LLAMA30_TEMPLATE},
        tokenizer_class="PreTrainedTokenizerFast", legacy_merges=False),
    "qwen2": dict(
        pattern=QWEN2_PATTERN, added=QWEN2_ADDED, normalizer="NFC", ignore_merges=False,
        byte_level=dict(add_prefix_space=False, trim_offsets=False, use_regex=False),
        decoder=dict(add_prefix_space=False, trim_offsets=False, use_regex=False),
        bos=None, eos="<|im_end|>", config_eos=["<|im_end|>"],
        generation_eos=["<|im_end|>", "<|endoftext|>"],
        template=QWEN25_TEMPLATE, template_file=False,
        templates={"qwen2.5": QWEN25_TEMPLATE, "qwen2": QWEN2_TEMPLATE, "chatml": CHATML_TEMPLATE},
        tokenizer_class="Qwen2Tokenizer", legacy_merges=True),
}

MULTILINGUAL = [
    "The quick brown fox jumps over the lazy dog. It's 2024; we'll see what they've done.",
    "Je n'ai pas dîné à l'hôtel, mais l'été dernier c'était très agréable — déjà vu.",
    "Größere Äpfel schmecken süßer als die kleinen Birnen aus Österreich.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "我们今天去北京大学的图书馆看书，然后在食堂吃午饭。",
    "東京の天気は晴れです。ラーメンを食べに行きましょう！",
    "서울에서 부산까지 기차로 세 시간이 걸립니다.",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "Καλημέρα κόσμε, τι κάνεις σήμερα;",
    "😀 🎉 👍🏽 👨‍👩‍👧‍👦 🇵🇹 ❤️ ✨ emoji everywhere 🚀🚀🚀",
    "def f(x):\n    return x ** 2  # squares\n\n\tif x >= 10: print('big')\n",
    "Prices: $1,234.56, €99, ¥1000, 3.14159, 1e-9, 0x1F, 12345678901234567890.",
    "    indented   text\twith\t\ttabs and  double  spaces\r\nand CRLF\r\n\r\n",
    "I'M SHOUTING, YOU'RE LISTENING, HE'D KNOW, WE'LL SEE, THEY'VE GONE, IT'S DONE.",
]

TEXTS = [
    "Hello world",
    " Hello world",
    "Hello  world   with    spaces",
    "hello\n\nworld\n",
    "   leading and trailing   ",
    "\n\n\n",
    " ",
    "",
    "It's, I'm, you're, we've, they'll, he'd, don't: contractions.",
    "IT'S, I'M, YOU'RE, WE'VE, THEY'LL, HE'D: shouted contractions.",
    "'ſ and 'S: the long s folds to s in caseless matching",
    "1234567890 12 123 1234 12345",
    "3.14159265358979 and 1,000,000 and ２０２４ and ٣٤٥ and ⅫⅣ",
    "tab\tseparated\tvalues\t\t\tend",
    "a\r\nb\rc\n\rd",
    "trailing spaces before newline   \nnext",
    "Déjà vu: naïve café, Ångström, façade",
    "e\u0301 (e + combining acute) and \u00e9 (precomposed) and \u212b (angstrom sign)",
    "中文文本和English混合，还有数字123。",
    "日本語のテキスト、カタカナ、ひらがな。",
    "한국어 텍스트 🇰🇷",
    "😀😃😄 👨‍👩‍👧‍👦 👍🏽 🏳️‍🌈 \U0001F9D1\u200D\U0001F4BB",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝓂𝒶𝓉𝒽 and 𐍈 (gothic) and \U0010FFFD",
    "zero\u200bwidth\u200cjoiner\u200dand\ufeffbom",
    "no-break\u00a0space, ideographic\u3000space, nel\u0085line, em\u2003space",
    "<|begin_of_text|>special <|eot_id|> tokens <|im_start|>as text<|im_end|>",
    "a <tool_call>{\"x\": 1}</tool_call> b",
    "x" * 300,
    " " * 100 + "end",
    "!!!??? ... --- *** ### @@@",
    "print(\"Hello, world!\")  # 🐍\nfor i in range(10):\n\tprint(i)",
    "control\x00chars\x01\x1f\x7f here",
    "Ünïcödé ÜNÏCÖDÉ ŞİŞLİ istanbul İSTANBUL",
] + MULTILINGUAL[:6]

# Not UTF-8: encoded as the text Python's decode(errors="replace") makes of them.
BYTES = [
    b"valid \xe2\x82\xac then lone \x80 continuation",
    b"truncated \xe2\x82 at the end \xf0\x9f\x98",
    b"overlong \xc0\xaf and surrogate \xed\xa0\x80 and \xff\xfe",
]

# Random texts (fixed seed) over characters assigned long ago (so that PCRE2's Unicode tables,
# which may be older than Oniguruma's, agree on their properties): every script, number, mark
# and space class the pre-tokenizer regexes distinguish, contractions and digit runs.
POOLS = [
    [chr(c) for c in range(0x20, 0x7F)],
    list("\t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u2003\u200a\u2028\u2029\u202f\u205f\u3000"
         "\u180e\u200b\u200d\ufeff\ufe0f") + ["  ", "\r\n", "\n\n"],
    [chr(c) for c in range(0xC0, 0x180)] + [chr(c) for c in range(0x300, 0x370)],
    [chr(c) for c in range(0x391, 0x3CA)] + [chr(c) for c in range(0x410, 0x450)],
    [chr(c) for c in range(0x620, 0x64B)] + [chr(c) for c in range(0x660, 0x66A)] +
    [chr(c) for c in range(0x900, 0x970)],
    [chr(c) for c in range(0x4E00, 0x4F00)] + [chr(c) for c in range(0x3041, 0x3097)] +
    [chr(c) for c in range(0xAC00, 0xAD00)] + [chr(c) for c in range(0xFF01, 0xFF5F)],
    [chr(c) for c in range(0x2150, 0x218A)] + list("\xb2\xb3\xb9\u2070\u2074\u2075"),
    [chr(c) for c in range(0x1F600, 0x1F650)] + [chr(c) for c in range(0x1F300, 0x1F400)] +
    [chr(c) for c in range(0x1F3FB, 0x1F400)] + [chr(c) for c in range(0x1D400, 0x1D455)],
    ["'s", "'T", "'re", "'VE", "'m", "'LL", "'d", "'ſ", "123", "4567", "00000", " '", "''"],
]


def random_texts(count=120, seed=2024):
    import random
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        n = rng.randint(1, 48)
        texts.append("".join(rng.choice(rng.choice(POOLS)) for _ in range(n)))
    return texts


CONVERSATIONS = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are a helpful assistant."},
     {"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "  Be brief.\n"},
     {"role": "user", "content": " Hi there \n"},
     {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me about 東京 🗼."}],
    [{"role": "user", "content": "One"}, {"role": "assistant", "content": "Two"},
     {"role": "user", "content": "Three"}, {"role": "assistant", "content": "Four\n"}],
    # Unicode spaces around the text (Jinja's trim is Python's str.strip()).
    [{"role": "system", "content": "\u2003Sys\u3000"},
     {"role": "user", "content": "\u3000\u00a0 Hi\u00a0\n\u2029"}],
]


def corpus():
    """Deterministic training text: the multilingual lines, and the Python standard library's
    sources (English prose and code)."""
    lines = MULTILINGUAL * 50
    root = os.path.dirname(os.__file__)
    total = 0
    for name in sorted(os.listdir(root)):
        if name.endswith(".py") and total < 3_000_000:
            with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
                text = f.read()
            total += len(text)
            lines.extend(text.splitlines(keepends=True))
    return lines


def train(family):
    spec = FAMILIES[family]
    tok = Tokenizer(models.BPE(ignore_merges=spec["ignore_merges"]))
    if spec["normalizer"] == "NFC":
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(spec["pattern"]), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(**spec["byte_level"])])
    tok.decoder = decoders.ByteLevel(**spec["decoder"])
    trainer = trainers.BpeTrainer(vocab_size=BASE_VOCAB, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer)
    for content, special in spec["added"]:
        token = AddedToken(content, special=special, normalized=False)
        (tok.add_special_tokens if special else tok.add_tokens)([token])
    if family == "llama3":
        bos = tok.token_to_id(spec["bos"])
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
            processors.TemplateProcessing(
                single=f"{spec['bos']} $A", pair=f"{spec['bos']} $A {spec['bos']}:1 $B:1",
                special_tokens=[(spec["bos"], bos)])])
    else:
        tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False,
                                                  use_regex=False)
    # Settings the trainer may reset, and the merges in the older "a b" form for one family
    # (both forms are in published files).
    data = json.loads(tok.to_str())
    data["model"]["ignore_merges"] = spec["ignore_merges"]
    if spec["legacy_merges"]:
        data["model"]["merges"] = [m if isinstance(m, str) else " ".join(m)
                                   for m in data["model"]["merges"]]
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return Tokenizer.from_str(text), text


def write_tokenizer(folder, family):
    """tokenizer.json and tokenizer_config.json (+ chat_template.jinja for Llama 3); returns
    the model's vocabulary size and config.json's token ids."""
    spec = FAMILIES[family]
    tok, text = train(family)
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(text)
    size = tok.get_vocab_size(with_added_tokens=True)
    added = {str(tok.token_to_id(c)): {"content": c, "lstrip": False, "normalized": False,
                                       "rstrip": False, "single_word": False, "special": s}
             for c, s in spec["added"]}
    config = {"added_tokens_decoder": added, "bos_token": spec["bos"],
              "clean_up_tokenization_spaces": family == "llama3", "eos_token": spec["eos"],
              "model_max_length": 131072, "tokenizer_class": spec["tokenizer_class"]}
    if family == "qwen2":
        config.update({"pad_token": "<|endoftext|>", "split_special_tokens": False,
                       "errors": "replace", "add_prefix_space": False})
    if spec["template_file"]:
        with open(os.path.join(folder, "chat_template.jinja"), "w", encoding="utf-8") as f:
            f.write(spec["template"])
    else:
        config["chat_template"] = spec["template"]
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
    extra = {"eos_token_id": tok.token_to_id(spec["config_eos"][0])}
    if family == "llama3":
        extra["bos_token_id"] = tok.token_to_id(spec["bos"])
        return size, extra
    extra.update({"bos_token_id": tok.token_to_id("<|endoftext|>"), "use_sliding_window": False,
                  "sliding_window": 32768, "max_window_layers": 2})
    return (size + 63) // 64 * 64, extra


def write_generation_config(folder, family):
    spec = FAMILIES[family]
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    eos = [tok.token_to_id(n) for n in spec["generation_eos"]]
    config = {"bos_token_id": tok.token_to_id(spec["bos"] or "<|endoftext|>"), "do_sample": True,
              "eos_token_id": eos, "temperature": 0.6 if family == "llama3" else 0.7,
              "top_p": 0.9 if family == "llama3" else 0.8}
    with open(os.path.join(folder, "generation_config.json"), "w") as f:
        json.dump(config, f, indent=2)


def encode_case(tok, text):
    tok.encode_special_tokens = True
    plain = tok.encode(text, add_special_tokens=False)
    tok.encode_special_tokens = False
    special = tok.encode(text, add_special_tokens=True)
    return {"ids": plain.ids, "pieces": plain.tokens, "special_ids": special.ids,
            "decoded": tok.decode(plain.ids, skip_special_tokens=True)}


def render_chat(folder, tok):
    """apply_chat_template as a user calls it, on the folder as saved."""
    from transformers import AutoTokenizer
    try:
        hf = AutoTokenizer.from_pretrained(folder)
    except Exception as e:  # recorded in the note; the fallback reads the same files
        print("AutoTokenizer failed:", e)
        from transformers import PreTrainedTokenizerFast
        hf = PreTrainedTokenizerFast(tokenizer_file=os.path.join(folder, "tokenizer.json"))
        family_ = "llama3" if tok.token_to_id("<|eot_id|>") is not None else "qwen2"
        hf.bos_token = FAMILIES[family_]["bos"]
    spec_templates = {}
    cases = []
    family = "llama3" if tok.token_to_id("<|eot_id|>") is not None else "qwen2"
    for name, template in FAMILIES[family]["templates"].items():
        spec_templates[name] = template
        for i, messages in enumerate(CONVERSATIONS):
            for gen in (True, False):
                if gen and messages[-1]["role"] != "user":
                    continue
                if not gen and messages[-1]["role"] != "assistant" and i != 0:
                    continue
                text = hf.apply_chat_template(messages, chat_template=template, tokenize=False,
                                              add_generation_prompt=gen)
                ids = tok.encode(text, add_special_tokens=False).ids
                hf_ids = hf.apply_chat_template(messages, chat_template=template, tokenize=True,
                                                add_generation_prompt=gen)
                if not isinstance(hf_ids, list):
                    hf_ids = hf_ids["input_ids"]
                case = {"template": name, "messages": messages,
                        "add_generation_prompt": gen, "text": text, "ids": ids}
                if list(hf_ids) != ids:
                    print("MISMATCH between transformers and tokenizers ids:", name, i, gen)
                    case["transformers_ids"] = list(hf_ids)
                cases.append(case)
    # The checkpoint's own template, as transformers finds it in the folder.
    try:
        own = hf.apply_chat_template(CONVERSATIONS[1], tokenize=False, add_generation_prompt=True)
        found = own == hf.apply_chat_template(
            CONVERSATIONS[1], chat_template=FAMILIES[family]["template"], tokenize=False,
            add_generation_prompt=True)
    except Exception as e:
        print("the folder's own template:", e)
        found = False
    if not found:
        print("MISMATCH: transformers did not find the folder's chat template")
    return spec_templates, cases, type(hf).__name__ + ("" if found else "; own template NOT found")


def write_tokenizer_reference(folder, family):
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    texts = []
    for text in TEXTS:
        texts.append(dict(text=text, **encode_case(tok, text)))
    for text in random_texts():
        texts.append(dict(text=text, random=True, **encode_case(tok, text)))
    for raw in BYTES:
        text = raw.decode("utf-8", errors="replace")
        texts.append(dict(bytes_hex=raw.hex(), text=text, **encode_case(tok, text)))
    templates, chat, hf_class = render_chat(folder, tok)
    import tokenizers
    import transformers
    reference = {
        "note": "written by tests/tools/make_reference.py (bpe_reference.py) with tokenizers " +
                tokenizers.__version__ + " and transformers " + transformers.__version__ +
                " (" + hf_class + ")",
        "texts": texts, "templates": templates, "chat": chat}
    with open(os.path.join(folder, "tokenizer_reference.json"), "w", encoding="utf-8") as f:
        json.dump(reference, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    # Rewrites FOLDER/tokenizer_reference.json from the folder's tokenizer files alone.
    import sys
    write_tokenizer_reference(sys.argv[1], sys.argv[2])
