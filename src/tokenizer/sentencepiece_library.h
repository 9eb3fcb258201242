// Finds and opens libpcache_sentencepiece at run time (see sentencepiece_shim.h
// for why SentencePiece is not linked in directly).
#pragma once

#include "pcache/status.h"
#include "tokenizer/sentencepiece_shim.h"

namespace pcache::tokenizer_internal {

// The shim's entry points, typed from the declarations in sentencepiece_shim.h.
struct SentencePieceApi {
  decltype(&pcache_sp_load) load;
  decltype(&pcache_sp_free) free;
  decltype(&pcache_sp_encode) encode;
  decltype(&pcache_sp_decode) decode;
  decltype(&pcache_sp_piece_to_id) piece_to_id;
  decltype(&pcache_sp_id_to_piece) id_to_piece;
  decltype(&pcache_sp_is_control) is_control;
  decltype(&pcache_sp_vocab_size) vocab_size;
  decltype(&pcache_sp_bos_id) bos_id;
  decltype(&pcache_sp_eos_id) eos_id;
  decltype(&pcache_sp_unk_id) unk_id;
  decltype(&pcache_sp_free_buffer) free_buffer;
};

// Opens the library on the first call (thread-safe) and returns the same
// result ever after. Internal, with the dlerror text of every path tried, when
// it cannot be opened.
StatusOr<const SentencePieceApi*> sentencepiece_api();

}  // namespace pcache::tokenizer_internal
