// tests/data/chat/qwen3_tool_reference.json holds conversations with tool calls and results and
// their rendering by transformers' apply_chat_template with the Qwen3 template (written by
// scripts/reference/render_tool_reference.py). The qwen3 format must give those bytes, and
// parse_qwen3_text must read each text back into turns that render to it again, finding every
// tool call and tool result.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "chat/qwen3_parse.h"
#include "chat/render.h"

namespace safrl::chat {
namespace {

nlohmann::json read_reference() {
  const std::string path =
      std::string(SAFRL_SOURCE_DIR) + "/tests/data/chat/qwen3_tool_reference.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str()).at("renderings");
}

// How many tool calls and tool messages a conversation holds.
std::pair<size_t, size_t> tool_turns(const std::vector<Message>& messages) {
  std::pair<size_t, size_t> counts{0, 0};
  for (const Message& m : messages) {
    counts.first += m.tool_calls.size();
    counts.second += m.role == "tool";
  }
  return counts;
}

TEST(ToolReference, Qwen3MatchesTheJinjaTemplateAndParsesBack) {
  const nlohmann::json renderings = read_reference();
  ASSERT_EQ(renderings.size(), 69u);
  size_t calls = 0;
  for (const nlohmann::json& r : renderings) {
    SCOPED_TRACE(r.at("name").get<std::string>());
    const std::string expected = r.at("text");
    const std::vector<Message> messages = messages_from_json(r.at("messages"));
    EXPECT_EQ(render(ChatFormat::kQwen3, messages), expected);
    const std::vector<Message> parsed = parse_qwen3_text(expected);
    EXPECT_EQ(render(ChatFormat::kQwen3, parsed), expected);
    EXPECT_EQ(tool_turns(parsed), tool_turns(messages));
    calls += tool_turns(messages).first;
  }
  EXPECT_GE(calls, 60u);  // the file really exercises tool calls
}

}  // namespace
}  // namespace safrl::chat
