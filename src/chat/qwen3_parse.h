// Reading text rendered by the Qwen3 chat template back into messages (the inverse of
// render(ChatFormat::kQwen3, ...)), for trainers that hand over the rendered text, not the
// messages (OpenRLHF's query text).
//
// The text is a sequence of turns "<|im_start|>ROLE\n" + content + "<|im_end|>\n", ROLE one of
// system, user, assistant. An assistant turn's trailing "<tool_call>\n{\"name\": \"N\",
// \"arguments\": A}\n</tool_call>" blocks (joined by "\n", one "\n" before the first when there
// is content) become its tool_calls, A kept as text; a user turn made only of
// "<tool_response>\nC\n</tool_response>" blocks (joined by "\n") becomes one tool message per
// block. Think blocks stay in the content. The last turn may lack its "<|im_end|>\n" or just the
// "\n" (a generation cut off, or decoded without the stop token). For any conversation the
// template renders, render_qwen3(parse(text)) == text. Throws util::InputError naming the byte
// offset and turn where the text does not follow the template. Pure; thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "chat/message.h"

namespace safrl::chat {

std::vector<Message> parse_qwen3_text(std::string_view text);

}  // namespace safrl::chat
