#include "framework/formats/json_parser_pool.h"

#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace framework {
namespace {

int64_t ParseNumber(JsonParserPool::Lease& parser, const std::string& text) {
  simdjson::padded_string padded(text);
  int64_t value = 0;
  EXPECT_EQ(parser->parse(padded).get_int64().get(value), simdjson::SUCCESS) << text;
  return value;
}

TEST(JsonParserPoolTest, AReturnedParserIsLentAgain) {
  JsonParserPool pool(2, 1 << 20);
  const simdjson::dom::parser* first = nullptr;
  {
    JsonParserPool::Lease parser = pool.Acquire();
    first = &*parser;
    EXPECT_EQ(ParseNumber(parser, "42"), 42);
    EXPECT_EQ(pool.idle(), 0u);
  }
  EXPECT_EQ(pool.idle(), 1u);
  JsonParserPool::Lease again = pool.Acquire();
  EXPECT_EQ(&*again, first);
  EXPECT_EQ(ParseNumber(again, "7"), 7);
}

TEST(JsonParserPoolTest, ParsesAtOnceGetParsersOfTheirOwn) {
  JsonParserPool pool(2, 1 << 20);
  JsonParserPool::Lease a = pool.Acquire();
  JsonParserPool::Lease b = pool.Acquire();
  EXPECT_NE(&*a, &*b);
  simdjson::padded_string first(std::string("[1, 2, 3]"));
  simdjson::padded_string second(std::string("{\"x\": 5}"));
  simdjson::dom::element one, two;
  ASSERT_EQ(a->parse(first).get(one), simdjson::SUCCESS);
  ASSERT_EQ(b->parse(second).get(two), simdjson::SUCCESS);
  // Each document lives in its own parser: the first is intact after the second.
  EXPECT_EQ(simdjson::minify(one), "[1,2,3]");
  EXPECT_EQ(simdjson::minify(two), "{\"x\":5}");
}

TEST(JsonParserPoolTest, KeepsAFewSmallParsersOnly) {
  JsonParserPool pool(1, 4096);
  {
    JsonParserPool::Lease a = pool.Acquire();
    JsonParserPool::Lease b = pool.Acquire();
    EXPECT_EQ(ParseNumber(a, "1"), 1);
    EXPECT_EQ(ParseNumber(b, "2"), 2);
  }
  EXPECT_EQ(pool.idle(), 1u);  // the second one back was dropped
  {
    JsonParserPool::Lease grown = pool.Acquire();
    // A document larger than the pool keeps parsers for.
    std::string big = "[";
    for (int i = 0; i < 4000; ++i) big += "1,";
    big += "1]";
    simdjson::padded_string padded(big);
    simdjson::dom::element document;
    ASSERT_EQ(grown->parse(padded).get(document), simdjson::SUCCESS);
    EXPECT_GT(grown->capacity(), 4096u);
  }
  EXPECT_EQ(pool.idle(), 0u);
}

TEST(JsonParserPoolTest, AMovedLeaseReturnsItsParserOnce) {
  JsonParserPool pool(4, 1 << 20);
  {
    JsonParserPool::Lease a = pool.Acquire();
    JsonParserPool::Lease moved = std::move(a);
    EXPECT_EQ(ParseNumber(moved, "3"), 3);
  }
  EXPECT_EQ(pool.idle(), 1u);
}

}  // namespace
}  // namespace framework
