// Error types shared by every layer.
//
// Load-time problems (a bad checkpoint, config or tokenizer file) throw LoadError; a bad user
// input (a JSON line, a request field) throws InputError; a model output that cannot be used
// throws ModelError; a remote model that does not answer throws UnavailableError. Each carries a
// message that says what is wrong and how to fix it; callers at a boundary (CLI main, the server's
// request loop) catch them.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace safrl::util {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A model, config or tokenizer file that cannot be used as it is.
class LoadError : public Error {
 public:
  using Error::Error;
};

// A value a user sent (CLI input line, request field) that is invalid.
class InputError : public Error {
 public:
  using Error::Error;
};

// Concatenates any streamable values into one message: cat("tensor ", name, " has ", n, " dims").
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

// A model produced a value that cannot be used (a non-finite score): the server's side, not the
// request's; scoring the same input again gives the same value.
class ModelError : public Error {
 public:
  using Error::Error;
};

// A service the work depends on (a model served by vLLM) did not answer, after the retries its
// config allows: the request was valid and the same request can succeed later, so the server
// answers `unavailable` and clients retry.
class UnavailableError : public Error {
 public:
  using Error::Error;
};

// An input longer than a model's context.
class TooLongError : public InputError {
 public:
  using InputError::InputError;
};

}  // namespace safrl::util
