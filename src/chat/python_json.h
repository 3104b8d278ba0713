// JSON text as Python's json.dumps(value, ensure_ascii=False) writes it: separators ", " and
// ": ", non-ASCII kept as UTF-8, floats in Python's repr form (1.0, 1e-05, 1e+16). The Qwen3
// template writes non-string tool-call arguments with transformers' `tojson` filter, which is
// that call, so this is what makes an object-valued argument render as the template renders it.
// Keys come in nlohmann's order (sorted), not the order they were sent in: json.dumps keeps the
// sender's order, so a client that needs it sends the arguments as a string. Integers beyond
// 64 bits are parsed by nlohmann as floats and written as such. Pure; thread-safe.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace safrl::chat {

std::string python_json_dumps(const nlohmann::json& value);

}  // namespace safrl::chat
