#include "cache/remote_tier.h"

#include <xxhash.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <iostream>
#include <utility>

namespace pcache {

namespace fmt = remote_format;

namespace {

// Chunks sent or asked for in one round trip: enough to keep the link busy,
// few enough that hiredis' buffers hold a few MiB, not the whole value (its
// output buffer is moved down after every partial write).
constexpr size_t kChunksPerRoundTrip = 4;
// Chunks outlive their manifest by this much, so that a reader of an
// unexpired manifest finds its chunks.
constexpr int64_t kChunkTtlMarginSeconds = 60;
// Idle connections kept for reuse at most.
constexpr size_t kMaxIdleConnections = 8;

using Type = RedisReplyView::Type;

std::string hex16(uint64_t x) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, x);
  return buf;
}

std::string chunk_key(const std::string& full_key, uint64_t generation, uint32_t i) {
  return full_key + fmt::kChunkSeparator + hex16(generation) + ":" + std::to_string(i);
}

bool is_oom(std::string_view error) { return error.substr(0, 3) == "OOM"; }

}  // namespace

RemoteTier::RemoteTier(RemoteTierOptions options)
    : options_(std::move(options)), generations_(std::random_device{}()) {}

RemoteTier::~RemoteTier() = default;

StatusOr<std::unique_ptr<RemoteTier>> RemoteTier::create(RemoteTierOptions options) {
  if (options.chunk_bytes < 1 || static_cast<uint64_t>(options.chunk_bytes) > fmt::kMaxChunkBytes ||
      options.ttl_seconds < 0 || options.timeout_ms < 1 || options.backoff_initial_ms < 0 ||
      options.backoff_max_ms < options.backoff_initial_ms) {
    return Status::invalid_argument(
        "remote tier: chunk_bytes must be in 1 .. 512 MiB, timeout_ms >= 1, ttl_seconds >= 0 and "
        "0 <= backoff_initial_ms <= backoff_max_ms");
  }
  return std::unique_ptr<RemoteTier>(new RemoteTier(std::move(options)));
}

void RemoteTier::warn(const std::string& message) const {
  if (options_.warn) {
    options_.warn(message);
  } else {
    std::cerr << "pcache: " << message << "\n";
  }
}

Status RemoteTier::with_connection(const std::function<Status(RedisConnection&)>& fn) {
  std::unique_ptr<RedisConnection> conn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (down_ && Clock::now() < retry_at_) {
      ++stats_.skipped;
      return Status::io_error(describe() + ": unreachable, next try within " +
                              std::to_string(backoff_ms_) + " ms");
    }
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  Status result = Status::ok_status();
  if (conn) {
    result = fn(*conn);
    // A kept connection that broke may only be stale (Redis restarted since):
    // those kept with it are too, and a new one decides.
    if (conn->broken()) {
      conn.reset();
      std::lock_guard<std::mutex> lock(mu_);
      idle_.clear();
    }
  }
  if (!conn) {
    auto opened = RedisConnection::open(options_.endpoint, options_.timeout_ms);
    if (opened.ok()) {
      conn = std::move(*opened);
      result = fn(*conn);
    } else {
      result = opened.status();
    }
  }
  const bool outage = !conn || conn->broken();
  std::string message;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // NotFound and Corruption are answers; the rest are failures of Redis.
    if (!result.ok() && result.code() != StatusCode::kNotFound &&
        result.code() != StatusCode::kCorruption) {
      ++stats_.errors;
    }
    if (outage) {
      backoff_ms_ = backoff_ms_ == 0 ? options_.backoff_initial_ms
                                     : std::min(options_.backoff_max_ms, 2 * backoff_ms_);
      retry_at_ = Clock::now() + std::chrono::milliseconds(backoff_ms_);
      if (!down_) {
        down_ = true;
        ++stats_.outages;
        message = "remote tier " + describe() + " unreachable (" + result.message() +
                  "); answering from the local tiers, retrying with back-off";
      }
    } else {
      if (down_) message = "remote tier " + describe() + " answers again";
      down_ = false;
      backoff_ms_ = 0;
      if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(conn));
    }
  }
  if (!message.empty()) warn(message);
  return result;
}

void RemoteTier::note_full(bool full) {
  std::string message;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (full && !full_) {
      ++stats_.full;
      message = "remote tier " + describe() +
                " refuses writes (out of memory: see its maxmemory and maxmemory-policy); "
                "values stay local until it takes them again";
    } else if (!full && full_) {
      message = "remote tier " + describe() + " takes writes again";
    }
    full_ = full;
  }
  if (!message.empty()) warn(message);
}

StatusOr<RemoteManifest> RemoteTier::read_manifest(RedisConnection& c,
                                                   const std::string& full_key) {
  std::string bytes;
  bool found = false;
  Status refused = Status::ok_status();
  PCACHE_RETURN_IF_ERROR(c.pipeline({{"GET", full_key}}, [&](size_t, const RedisReplyView& r) {
    if (r.type == Type::kString) {
      found = true;
      bytes = r.str;
    } else if (r.type == Type::kError) {
      // WRONGTYPE: something else than a string under the key, not ours.
      refused = r.str.substr(0, 9) == "WRONGTYPE"
                    ? Status::corruption(full_key + ": not a string")
                    : Status::io_error(describe() + ": GET refused: " + std::string(r.str));
    }
    return Status::ok_status();
  }));
  PCACHE_RETURN_IF_ERROR(refused);
  if (!found) return Status::not_found(full_key + ": no value");
  return RemoteManifest::decode(bytes, full_key);
}

Status RemoteTier::unlink_chunks(RedisConnection& c, const std::string& full_key,
                                 std::string_view manifest) {
  const StatusOr<RemoteManifest> decoded = RemoteManifest::decode(manifest, full_key);
  if (!decoded.ok()) return Status::ok_status();  // not ours: no chunks known
  const RemoteManifest& m = *decoded;
  std::vector<std::string> keys;
  for (uint32_t i = 0; i < m.chunks; ++i) keys.push_back(chunk_key(full_key, m.generation, i));
  for (size_t first = 0; first < keys.size(); first += kChunksPerRoundTrip) {
    RedisCommand unlink = {"UNLINK"};
    for (size_t i = first; i < std::min(keys.size(), first + kChunksPerRoundTrip); ++i) {
      unlink.push_back(keys[i]);
    }
    PCACHE_RETURN_IF_ERROR(
        c.pipeline({unlink}, [](size_t, const RedisReplyView&) { return Status::ok_status(); }));
  }
  return Status::ok_status();
}

StatusOr<TierValue> RemoteTier::get(const std::string& key) {
  const std::string full_key = options_.key_prefix + key;
  std::string value;
  Status s = with_connection([&](RedisConnection& c) -> Status {
    PCACHE_ASSIGN_OR_RETURN(RemoteManifest m, read_manifest(c, full_key));
    value.clear();
    try {
      value.reserve(m.value_bytes);
    } catch (const std::exception&) {  // a claim (sound or not) that memory cannot hold
      return Status::resource_exhausted(full_key + ": " + std::to_string(m.value_bytes) +
                                        " bytes do not fit in memory");
    }
    Status bad = Status::ok_status();
    for (uint32_t first = 0; first < m.chunks && bad.ok(); first += kChunksPerRoundTrip) {
      std::vector<std::string> keys;
      std::vector<RedisCommand> gets;
      for (uint32_t i = first; i < std::min<uint32_t>(m.chunks, first + kChunksPerRoundTrip); ++i) {
        keys.push_back(chunk_key(full_key, m.generation, i));
      }
      for (const std::string& k : keys) gets.push_back({"GET", k});
      PCACHE_RETURN_IF_ERROR(c.pipeline(gets, [&](size_t j, const RedisReplyView& r) {
        const uint32_t i = first + static_cast<uint32_t>(j);
        const uint64_t expected = m.chunk_size(i);
        if (!bad.ok()) return Status::ok_status();
        if (r.type != Type::kString) {
          bad = Status::corruption(full_key + ": chunk " + std::to_string(i) + " of " +
                                   std::to_string(m.chunks) + " is missing");
        } else if (r.str.size() != expected) {
          bad = Status::corruption(full_key + ": chunk " + std::to_string(i) + " holds " +
                                   std::to_string(r.str.size()) + " bytes, the manifest says " +
                                   std::to_string(expected));
        } else {
          value.append(r.str);
        }
        return Status::ok_status();
      }));
    }
    PCACHE_RETURN_IF_ERROR(bad);
    if (XXH64(value.data(), value.size(), fmt::kChecksumSeed) != m.value_hash) {
      return Status::corruption(full_key + ": value checksum mismatch");
    }
    return Status::ok_status();
  });
  if (s.code() == StatusCode::kCorruption) {
    // Gone for every reader: the next put stores a fresh value. A failure to
    // erase (Redis gone meanwhile) leaves it to the next reader.
    (void)erase(key);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (s.ok()) {
    ++stats_.hits;
    stats_.bytes_read += static_cast<int64_t>(value.size());
    return TierValue(std::move(value));
  }
  if (s.code() == StatusCode::kNotFound) ++stats_.misses;
  if (s.code() == StatusCode::kCorruption) ++stats_.corrupt;
  return s;
}

StatusOr<int64_t> RemoteTier::size(const std::string& key) {
  int64_t bytes = 0;
  PCACHE_RETURN_IF_ERROR(with_connection([&](RedisConnection& c) -> Status {
    PCACHE_ASSIGN_OR_RETURN(RemoteManifest m, read_manifest(c, options_.key_prefix + key));
    bytes = static_cast<int64_t>(m.value_bytes);
    return Status::ok_status();
  }));
  return bytes;
}

Status RemoteTier::put(const std::string& key, std::string_view value) {
  const std::string full_key = options_.key_prefix + key;
  RemoteManifest m;
  {
    std::lock_guard<std::mutex> lock(mu_);
    m.generation = generations_();
  }
  m.chunk_bytes = static_cast<uint64_t>(options_.chunk_bytes);
  m.value_bytes = value.size();
  m.chunks = static_cast<uint32_t>((value.size() + m.chunk_bytes - 1) / m.chunk_bytes);
  m.value_hash = XXH64(value.data(), value.size(), fmt::kChecksumSeed);
  if (m.chunks > fmt::kMaxChunks) {
    return Status::invalid_argument(full_key + ": " + std::to_string(value.size()) +
                                    " bytes is more than " + std::to_string(fmt::kMaxChunks) +
                                    " chunks");
  }
  const std::string manifest = m.encode();
  const std::string chunk_ttl = std::to_string(options_.ttl_seconds + kChunkTtlMarginSeconds);
  const std::string ttl = std::to_string(options_.ttl_seconds);
  bool refused_oom = false;
  Status s = with_connection([&](RedisConnection& c) -> Status {
    Status refused = Status::ok_status();
    auto expect_ok = [&](size_t, const RedisReplyView& r) {
      if (r.type == Type::kError && refused.ok()) {
        refused_oom = is_oom(r.str);
        refused = refused_oom ? Status::resource_exhausted(describe() + ": " + std::string(r.str))
                              : Status::io_error(describe() + ": SET refused: " + std::string(r.str));
      }
      return Status::ok_status();
    };
    // The chunks first; a failure leaves no manifest naming them.
    for (uint32_t first = 0; first < m.chunks && refused.ok(); first += kChunksPerRoundTrip) {
      std::vector<std::string> keys;
      std::vector<RedisCommand> sets;
      for (uint32_t i = first; i < std::min<uint32_t>(m.chunks, first + kChunksPerRoundTrip); ++i) {
        keys.push_back(chunk_key(full_key, m.generation, i));
      }
      for (size_t j = 0; j < keys.size(); ++j) {
        const uint64_t offset = (first + j) * m.chunk_bytes;
        RedisCommand set = {"SET", keys[j], value.substr(offset, m.chunk_bytes)};
        if (options_.ttl_seconds > 0) set.insert(set.end(), {"EX", chunk_ttl});
        sets.push_back(std::move(set));
      }
      PCACHE_RETURN_IF_ERROR(c.pipeline(sets, expect_ok));
    }
    if (!refused.ok()) {
      (void)unlink_chunks(c, full_key, manifest);
      return refused;
    }
    // Then the manifest, atomically replacing the previous one, whose chunks
    // are unlinked: readers see the old value or the new, whole.
    RedisCommand set = {"SET", full_key, manifest};
    if (options_.ttl_seconds > 0) set.insert(set.end(), {"EX", ttl});
    set.push_back("GET");
    std::string previous;
    bool other_type = false;  // something not ours under the key: SET ... GET refuses it
    PCACHE_RETURN_IF_ERROR(c.pipeline({set}, [&](size_t i, const RedisReplyView& r) {
      if (r.type == Type::kString) previous = r.str;
      other_type = r.type == Type::kError && r.str.substr(0, 9) == "WRONGTYPE";
      return other_type ? Status::ok_status() : expect_ok(i, r);
    }));
    if (other_type) {
      set.pop_back();
      PCACHE_RETURN_IF_ERROR(c.pipeline({{"UNLINK", full_key}, set}, expect_ok));
    }
    if (!refused.ok()) {
      (void)unlink_chunks(c, full_key, manifest);
      return refused;
    }
    return unlink_chunks(c, full_key, previous);
  });
  note_full(refused_oom);
  std::lock_guard<std::mutex> lock(mu_);
  if (s.ok()) {
    ++stats_.puts;
    stats_.bytes_written += static_cast<int64_t>(value.size());
  } else {
    ++stats_.put_failures;
  }
  return s;
}

Status RemoteTier::erase(const std::string& key) {
  const std::string full_key = options_.key_prefix + key;
  return with_connection([&](RedisConnection& c) -> Status {
    std::string previous;
    PCACHE_RETURN_IF_ERROR(c.pipeline({{"GETDEL", full_key}}, [&](size_t, const RedisReplyView& r) {
      if (r.type == Type::kString) previous = r.str;
      return Status::ok_status();
    }));
    // A key of another type (not ours) goes too.
    PCACHE_RETURN_IF_ERROR(c.pipeline(
        {{"UNLINK", full_key}}, [](size_t, const RedisReplyView&) { return Status::ok_status(); }));
    return unlink_chunks(c, full_key, previous);
  });
}

RemoteTierStats RemoteTier::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace pcache
