#include "reward/verdict_grammar.h"

#include <algorithm>

#include "util/error.h"

namespace safrl::reward {

namespace {

enum State : int {
  kSafetyHead,       // "Safety:"
  kSafetyValue,      // " Safe" | " Unsafe" | " Controversial"
  kCategoriesHead,   // "\nCategories:"
  kCategoryFirst,    // " None" | " <category>"
  kCategoryNext,     // "," | what follows the categories
  kCategoryMore,     // " <unused category>"
  kAfterCategories,  // <|im_end|> (prompt) | "\nRefusal:" (response)
  kRefusalValue,     // " Yes" | " No"
  kEnd,              // <|im_end|>
  kDone,
};

}  // namespace

bool VerdictGrammar::Hypothesis::operator==(const Hypothesis& other) const {
  return state == other.state && alternative == other.alternative && position == other.position &&
         used_categories == other.used_categories;
}

VerdictGrammar::VerdictGrammar(const tokenizer::Tokenizer& tokenizer, GuardTask task)
    : task_(task) {
  auto encode = [&](std::initializer_list<const char*> pieces) {
    std::vector<int32_t> ids;
    for (const char* piece : pieces) {
      const auto part = tokenizer.encode(piece);
      ids.insert(ids.end(), part.begin(), part.end());
    }
    return ids;
  };
  safety_head_ = encode({"Safety", ":"});
  categories_head_ = encode({"\n", "Categories", ":"});
  refusal_head_ = encode({"\n", "Refusal", ":"});
  none_ = encode({" None"});
  comma_ = encode({","});
  const auto im_end = tokenizer.token_to_id("<|im_end|>");
  if (!im_end) throw util::LoadError("the guard's tokenizer has no <|im_end|> token");
  im_end_ = {*im_end};
  safety_values_ = {encode({" Safe"}), encode({" Unsafe"}), encode({" Controversial"})};
  refusal_values_ = {encode({" Yes"}), encode({" No"})};
  auto add_categories = [&](const auto& names) {
    for (const auto& name : names) categories_.push_back(tokenizer.encode(" " + std::string(name)));
  };
  if (task == GuardTask::kPrompt) {
    add_categories(kPromptCategories);
  } else {
    add_categories(kResponseCategories);
  }
  for (int i = 0; i < 3; ++i) safety_tokens_[i] = safety_values_[i].front();
  for (int i = 0; i < 2; ++i) refusal_tokens_[i] = refusal_values_[i].front();
  if (safety_tokens_[0] == safety_tokens_[1] || safety_tokens_[0] == safety_tokens_[2] ||
      safety_tokens_[1] == safety_tokens_[2] || refusal_tokens_[0] == refusal_tokens_[1]) {
    throw util::LoadError(
        "this tokenizer gives the guard's verdict words a shared first token; class "
        "probabilities cannot be read from one position");
  }
}

std::vector<VerdictGrammar::Alternative> VerdictGrammar::alternatives(int state,
                                                                      uint32_t used) const {
  std::vector<Alternative> out;
  switch (state) {
    case kSafetyHead:
      out.push_back({safety_head_, kSafetyValue, -1});
      break;
    case kSafetyValue:
      for (const auto& value : safety_values_) out.push_back({value, kCategoriesHead, -1});
      break;
    case kCategoriesHead:
      out.push_back({categories_head_, kCategoryFirst, -1});
      break;
    case kCategoryFirst:
    case kCategoryMore:
      if (state == kCategoryFirst) out.push_back({none_, kAfterCategories, -1});
      for (int c = 0; c < static_cast<int>(categories_.size()); ++c) {
        if ((used >> c & 1u) == 0) out.push_back({categories_[c], kCategoryNext, c});
      }
      break;
    case kCategoryNext:
      if (used != (1u << categories_.size()) - 1) out.push_back({comma_, kCategoryMore, -1});
      for (auto& alternative : alternatives(kAfterCategories, used)) out.push_back(alternative);
      break;
    case kAfterCategories:
      if (task_ == GuardTask::kPrompt) {
        out.push_back({im_end_, kDone, -1});
      } else {
        out.push_back({refusal_head_, kRefusalValue, -1});
      }
      break;
    case kRefusalValue:
      for (const auto& value : refusal_values_) out.push_back({value, kEnd, -1});
      break;
    case kEnd:
      out.push_back({im_end_, kDone, -1});
      break;
    default:
      break;
  }
  return out;
}

void VerdictGrammar::enter(int state, uint32_t used, Cursor& out) const {
  if (state == kDone) {
    out.push_back({kDone, 0, 0, used});
    return;
  }
  const auto count = static_cast<int>(alternatives(state, used).size());
  for (int a = 0; a < count; ++a) out.push_back({state, a, 0, used});
}

VerdictGrammar::Cursor VerdictGrammar::start() const {
  Cursor cursor;
  enter(kSafetyHead, 0, cursor);
  return cursor;
}

std::vector<int32_t> VerdictGrammar::allowed(const Cursor& cursor) const {
  std::vector<int32_t> out;
  for (const Hypothesis& h : cursor) {
    if (h.state == kDone) continue;
    out.push_back(alternatives(h.state, h.used_categories)[h.alternative].tokens[h.position]);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

VerdictGrammar::Cursor VerdictGrammar::advance(const Cursor& cursor, int32_t token) const {
  Cursor next;
  for (const Hypothesis& h : cursor) {
    if (h.state == kDone) continue;
    const Alternative alternative = alternatives(h.state, h.used_categories)[h.alternative];
    if (alternative.tokens[h.position] != token) continue;
    if (h.position + 1 < static_cast<int>(alternative.tokens.size())) {
      // The used set stays as it was until the alternative is complete: the alternatives' order
      // (and so h.alternative) depends on it.
      next.push_back({h.state, h.alternative, h.position + 1, h.used_categories});
    } else {
      const uint32_t used = alternative.category >= 0
                                ? h.used_categories | 1u << alternative.category
                                : h.used_categories;
      enter(alternative.next_state, used, next);
    }
  }
  if (next.empty()) throw util::Error(util::cat("token ", token, " does not continue the verdict"));
  std::sort(next.begin(), next.end(), [](const Hypothesis& a, const Hypothesis& b) {
    return std::tie(a.state, a.alternative, a.position, a.used_categories) <
           std::tie(b.state, b.alternative, b.position, b.used_categories);
  });
  next.erase(std::unique(next.begin(), next.end()), next.end());
  return next;
}

bool VerdictGrammar::done(const Cursor& cursor) const {
  return std::any_of(cursor.begin(), cursor.end(),
                     [](const Hypothesis& h) { return h.state == kDone; });
}

bool VerdictGrammar::at_safety_choice(const Cursor& cursor) const {
  return !cursor.empty() && cursor.front().state == kSafetyValue && cursor.front().position == 0;
}

bool VerdictGrammar::at_refusal_choice(const Cursor& cursor) const {
  return !cursor.empty() && cursor.front().state == kRefusalValue && cursor.front().position == 0;
}

}  // namespace safrl::reward
