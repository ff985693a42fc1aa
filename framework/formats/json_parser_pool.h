// simdjson DOM parsers kept between parses, lent out one at a time.
//
// A parser's buffers (structural indexes, tape, strings) come to several
// times the size of the document, and the kernel zero-fills every page of
// fresh ones the first time it is touched: a 10,000-tensor checkpoint
// manifest (1.5 MB) took 8-11 ms to read with a new parser and 3-5 ms with a
// reused one (benchmarks/checkpoint_load, 2026-12-06). simdjson's own
// performance notes say the same: make a parser once and reuse it. Parses
// that run at once (a resume parses the manifest while its reading thread
// parses a safetensors header) each get a parser of their own.
//
// What is kept is bounded: a few idle parsers, none that grew for a document
// larger than the pool keeps (a huge one's buffers go back to the system).
// A parser sized for a document of n bytes holds about 14n bytes of address
// space (structural indexes 4n, tape 8n, strings 5n/3: simdjson 3.0's
// dom::parser::allocate), resident only where a parse touched them; the pool
// holds no more parsers than were ever in use at once (two in a resume).
//
//   JsonParserPool::Lease parser = JsonParserPool::Default().Acquire();
//   simdjson::dom::element document;
//   if (parser->parse(text).get(document) != simdjson::SUCCESS) ...
//   // `document` lives as long as `parser`.
#ifndef FRAMEWORK_FORMATS_JSON_PARSER_POOL_H_
#define FRAMEWORK_FORMATS_JSON_PARSER_POOL_H_

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "simdjson.h"

namespace framework {

class JsonParserPool {
 public:
  // Keeps up to `max_idle` parsers, each only if the documents it was sized
  // for were at most `max_kept_capacity` bytes.
  JsonParserPool(size_t max_idle, size_t max_kept_capacity);

  // The process's pool: 4 parsers, documents up to 16 MiB (a manifest of
  // 100,000 tensors is about 15 MB).
  static JsonParserPool& Default();

  // A parser on loan; it goes back to the pool when the lease ends.
  class Lease {
   public:
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    simdjson::dom::parser& operator*() { return *parser_; }
    simdjson::dom::parser* operator->() { return parser_.get(); }

   private:
    friend class JsonParserPool;
    Lease(JsonParserPool* pool, std::unique_ptr<simdjson::dom::parser> parser)
        : pool_(pool), parser_(std::move(parser)) {}
    JsonParserPool* pool_;
    std::unique_ptr<simdjson::dom::parser> parser_;
  };

  // An idle parser, or a new one.
  Lease Acquire();

  size_t idle() const;

 private:
  void GiveBack(std::unique_ptr<simdjson::dom::parser> parser);

  const size_t max_idle_;
  const size_t max_kept_capacity_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<simdjson::dom::parser>> idle_;  // guarded by mutex_
};

}  // namespace framework

#endif  // FRAMEWORK_FORMATS_JSON_PARSER_POOL_H_
