// Tokenizer: a SentencePiece model (tokenizer.model) or a byte-level BPE
// tokenizer.json (Llama 3, Qwen 2; docs/formats.md), plus the chat templates
// of the instruct models pcache serves.
//
// Contract
// - Loading reads the file once; afterwards every method is const and safe to
//   call from several threads at once.
// - Control (special) tokens (<s>, </s>, [INST], <|eot_id|>, <|im_end|>, ...)
//   are never produced by encode(): callers insert them as ids, looked up with
//   piece_to_id(). Their text in the input is plain text.
// - A tokenizer.json encodes exactly as Hugging Face tokenizers does (with
//   its special tokens not parsed from the text); bytes that are not UTF-8 are
//   first replaced as Python's decode(errors="replace") does.
// - SentencePiece lives behind a private shared library loaded on first use, so
//   that its bundled protobuf never meets libtorch's in one symbol namespace.
//   The library is found beside the running program, in ../lib relative to it,
//   at its build location, or at $PCACHE_SENTENCEPIECE_LIB.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pcache/status.h"

namespace pcache {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatTemplate {
  kMistral,  // Mistral v0.3 instruct: <s>[INST] user[/INST] answer</s>[INST] ...
  kLlama2,   // Llama-2 chat: <s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] answer </s>
  // Llama 3.x: <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\ntext<|eot_id|>...
  // (3.1 and later: a system header with the knowledge and today's dates first).
  kLlama3,
  // ChatML (Qwen 2 and 2.5): <|im_start|>user\ntext<|im_end|>\n..., with the
  // checkpoint template's default system prompt when it has one.
  kChatml,
};

// "mistral", "llama2", "llama3" or "chatml"; InvalidArgument naming those for
// anything else.
StatusOr<ChatTemplate> parse_chat_template(std::string_view name);
const char* chat_template_name(ChatTemplate t);

// Tokenizer files are read up to this size (Mistral's is 0.6 MB, Llama 2's 0.5 MB).
inline constexpr unsigned long long kMaxTokenizerFileBytes = 64ull << 20;

class Tokenizer {
 public:
  // `model_path`: a tokenizer.model (SentencePiece), or a tokenizer.json,
  // whose folder's tokenizer_config.json (bos, eos, chat_template) and
  // chat_template.jinja are read too. Errors: NotFound (no file), IoError (not
  // a regular file), InvalidArgument (over kMaxTokenizerFileBytes), Corruption
  // (not a SentencePiece model; tokenizer.json not JSON or keys missing),
  // Unsupported (a tokenizer.json that is not byte-level BPE, naming the part),
  // Internal (the private SentencePiece library cannot be loaded).
  static StatusOr<std::unique_ptr<Tokenizer>> load(const std::string& model_path);
  // The tokenizer file of a model folder: tokenizer.model when it has one
  // (SentencePiece, preferred where both are), else tokenizer.json when it
  // has that (Llama 3, Qwen 2 ship only it), else tokenizer.model.
  static std::string path_in(const std::string& model_dir);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Plain text to ids, with SentencePiece's own normalisation (a leading "▁" on
  // the first word); no bos/eos.
  std::vector<int> encode(std::string_view text) const;
  // As the tokenizer does for a whole input by default (Hugging Face's
  // encode(text), llama.cpp's tokenize with special parsing): special tokens
  // written in the text become their ids, and those the format starts a
  // sequence with are added (bos; Llama 3's <|begin_of_text|>; nothing for Qwen).
  std::vector<int> encode_with_special_tokens(std::string_view text) const;
  // Ids to text; control tokens decode to nothing. Ids out of range are
  // skipped.
  std::string decode(const std::vector<int>& ids) const;

  // The id of a piece such as "[INST]", or nullopt when the vocabulary lacks it.
  std::optional<int> piece_to_id(std::string_view piece) const;
  std::string id_to_piece(int id) const;
  bool is_control(int id) const;

  int vocab_size() const;
  // A lower bound on the tokens of any text of this many bytes, known without
  // encoding it: long inputs are refused at once instead of after seconds of
  // encoding (a 4 MiB schema takes 10 s to encode on 2 cores).
  int64_t min_tokens(size_t text_bytes) const;
  // -1 when the tokenizer has none (Qwen 2 has no bos; a tokenizer.json
  // without a tokenizer_config.json has no eos). eos_id() is the token that
  // ends an answer in the chat template (Llama 3 instruct: <|eot_id|>).
  int bos_id() const;
  int eos_id() const;
  int unk_id() const;
  // What a plain text starts with: {bos_id()}, or nothing when there is no bos.
  std::vector<int> bos_ids() const;

  // The checkpoint's chat template (Jinja text; "" when it ships none) and the
  // file it came from.
  const std::string& chat_template_text() const;
  const std::string& chat_template_file() const;

  // The built-in template of the checkpoint's chat template family (Llama 3,
  // ChatML, Mistral, Llama 2, recognised from its text); without one, the
  // family whose control tokens the vocabulary has (a SentencePiece
  // vocabulary without [INST]: kLlama2). InvalidArgument naming the file, the
  // template's start and the families pcache implements when the template is
  // of none of them, or when a tokenizer.json has neither template nor markers.
  StatusOr<ChatTemplate> default_chat_template() const;

  // Token ids of a conversation in the given template, equal to those of
  // transformers' apply_chat_template(messages, tokenize=True) with the
  // checkpoint's template of that family (a message's text is encoded as
  // text even where it spells a special token). Messages: an optional first "system", then "user" and "assistant"
  // alternating, starting with "user". With add_generation_prompt the last
  // message must be "user" and the ids end where the answer starts; without
  // it a final "assistant" message is closed with eos.
  // Errors: InvalidArgument naming the offending message index and role.
  StatusOr<std::vector<int>> apply_chat_template(const std::vector<ChatMessage>& messages,
                                                 ChatTemplate chat_template,
                                                 bool add_generation_prompt) const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Turns a stream of generated ids into text pieces as they come, holding back
// bytes until they form whole UTF-8 characters. Not thread-safe; one per
// stream.
class TokenStreamDecoder {
 public:
  explicit TokenStreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}
  // The text that `id` adds (possibly empty while a character is incomplete).
  std::string push(int id);
  // Whatever is still held back (an incomplete character decodes as U+FFFD).
  std::string flush();

 private:
  std::string decode_from(size_t begin) const;
  // The part of `text` (the window's decoding) not yet returned; moves the window.
  std::string take(const std::string& text);

  const Tokenizer& tokenizer_;
  std::vector<int> ids_;
  // Each push decodes ids_[window_begin_, end): ids_[window_begin_,
  // window_read_) went out before, as the first window_emitted_ bytes of it.
  size_t window_begin_ = 0, window_read_ = 0, window_emitted_ = 0;
};

}  // namespace pcache
