// The C ABI of libpcache_sentencepiece, the private module that wraps
// SentencePiece. Debian's libsentencepiece exports a bundled protobuf-lite 3.14
// that clashes with libtorch's protobuf 3.21; keeping it behind this module,
// opened with dlmopen(LM_ID_NEWLM) in a link namespace of its own (with its own
// libc and libstdc++), lets both live in one process. Only plain C types cross
// the boundary, no exception leaves it, and every buffer the module returns is
// freed by the module (pcache_sp_free_buffer), by the allocator that made it.
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PCACHE_SP_EXPORT __attribute__((visibility("default")))

typedef struct PcacheSpModel PcacheSpModel;

// Loads the model file at `path`. Returns 0 and sets *model, or returns
// SentencePiece's status code (5: not found) and sets *error to a message.
PCACHE_SP_EXPORT int pcache_sp_load(const char* path, PcacheSpModel** model, char** error);
PCACHE_SP_EXPORT void pcache_sp_free(PcacheSpModel* model);

// text[0, len) to ids: returns 0 and sets *ids (*n of them), nonzero on failure.
PCACHE_SP_EXPORT int pcache_sp_encode(const PcacheSpModel* model, const char* text, size_t len,
                                      int** ids, size_t* n);
// Ids (all in range) to text: returns 0 and sets *text (NUL-terminated, *len
// bytes), nonzero on failure.
PCACHE_SP_EXPORT int pcache_sp_decode(const PcacheSpModel* model, const int* ids, size_t n,
                                      char** text, size_t* len);

// The id of piece[0, len); the unk id when the vocabulary lacks it.
PCACHE_SP_EXPORT int pcache_sp_piece_to_id(const PcacheSpModel* model, const char* piece,
                                           size_t len);
// The piece of an in-range id (NUL-terminated, *len bytes).
PCACHE_SP_EXPORT char* pcache_sp_id_to_piece(const PcacheSpModel* model, int id, size_t* len);
PCACHE_SP_EXPORT int pcache_sp_is_control(const PcacheSpModel* model, int id);

PCACHE_SP_EXPORT int pcache_sp_vocab_size(const PcacheSpModel* model);
PCACHE_SP_EXPORT int pcache_sp_bos_id(const PcacheSpModel* model);
PCACHE_SP_EXPORT int pcache_sp_eos_id(const PcacheSpModel* model);
PCACHE_SP_EXPORT int pcache_sp_unk_id(const PcacheSpModel* model);

// Frees a buffer returned by any function above (ids, text, piece, error).
PCACHE_SP_EXPORT void pcache_sp_free_buffer(void* buffer);

#ifdef __cplusplus
}  // extern "C"
#endif
