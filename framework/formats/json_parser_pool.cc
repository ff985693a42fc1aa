#include "framework/formats/json_parser_pool.h"

#include <utility>

namespace framework {

JsonParserPool::JsonParserPool(size_t max_idle, size_t max_kept_capacity)
    : max_idle_(max_idle), max_kept_capacity_(max_kept_capacity) {}

JsonParserPool& JsonParserPool::Default() {
  static JsonParserPool* const pool = new JsonParserPool(4, size_t{16} << 20);  // never destroyed
  return *pool;
}

JsonParserPool::Lease::~Lease() {
  if (pool_ != nullptr && parser_ != nullptr) pool_->GiveBack(std::move(parser_));
}

JsonParserPool::Lease JsonParserPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<simdjson::dom::parser> parser = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(parser));
    }
  }
  return Lease(this, std::make_unique<simdjson::dom::parser>());
}

void JsonParserPool::GiveBack(std::unique_ptr<simdjson::dom::parser> parser) {
  if (parser->capacity() > max_kept_capacity_) return;  // its buffers go back to the system
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(parser));
}

size_t JsonParserPool::idle() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return idle_.size();
}

}  // namespace framework
