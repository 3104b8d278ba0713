// Every conversation in tests/data/chat/conversations.json, rendered in the qwen3 and chatml
// formats, must equal the rendering of the real Jinja template byte for byte. The references are
// produced by scripts/reference/render_reference.py.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chat/render.h"

namespace safrl::chat {
namespace {

nlohmann::json read_json(const std::string& name) {
  const std::string path = std::string(SAFRL_SOURCE_DIR) + "/tests/data/chat/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

// Byte offset of the first difference, for a failure message that points at it.
size_t first_difference(const std::string& a, const std::string& b) {
  return std::mismatch(a.begin(), a.begin() + std::min(a.size(), b.size()), b.begin()).first -
         a.begin();
}

void expect_matches_reference(ChatFormat format, const std::string& reference_file,
                              size_t expected_count) {
  const nlohmann::json conversations = read_json("conversations.json");
  const nlohmann::json renderings = read_json(reference_file).at("renderings");
  ASSERT_EQ(conversations.size(), renderings.size());
  ASSERT_EQ(conversations.size(), expected_count);
  for (size_t i = 0; i < conversations.size(); ++i) {
    const std::string name = conversations[i].at("name");
    SCOPED_TRACE(name);
    ASSERT_EQ(renderings[i].at("name"), name);
    const std::string expected = renderings[i].at("text");
    const std::string actual = render(format, messages_from_json(conversations[i].at("messages")));
    EXPECT_EQ(actual, expected) << "first difference at byte "
                                << first_difference(actual, expected);
  }
}

TEST(Reference, Qwen3MatchesTheJinjaTemplate) {
  expect_matches_reference(ChatFormat::kQwen3, "qwen3_reference.json", 28);
}

TEST(Reference, ChatmlMatchesTheJinjaTemplate) {
  expect_matches_reference(ChatFormat::kChatml, "chatml_reference.json", 28);
}

}  // namespace
}  // namespace safrl::chat
