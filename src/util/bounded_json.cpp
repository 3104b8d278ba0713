#include "util/bounded_json.h"

#include <string>

#include "util/utf8.h"

namespace safrl::util {

namespace {

using nlohmann::json;

// nlohmann's DOM builder behind the bounds: returning false stops the parse at the first value or
// level over, before it is added to the tree.
class BoundedBuilder : public nlohmann::json_sax<json> {
 public:
  BoundedBuilder(BoundedJson& out, JsonLimits limits, bool check_utf8)
      : out_(out), dom_(out.value, true), limits_(limits), check_utf8_(check_utf8) {}

  bool null() override { return count() && dom_.null(); }
  bool boolean(bool v) override { return count() && dom_.boolean(v); }
  bool number_integer(number_integer_t v) override { return count() && dom_.number_integer(v); }
  bool number_unsigned(number_unsigned_t v) override { return count() && dom_.number_unsigned(v); }
  bool number_float(number_float_t v, const string_t& s) override {
    return count() && dom_.number_float(v, s);
  }
  bool string(string_t& v) override { return text(v) && dom_.string(v); }
  bool binary(binary_t& v) override { return count() && dom_.binary(v); }
  bool key(string_t& v) override { return text(v) && dom_.key(v); }
  bool start_object(std::size_t n) override { return enter() && dom_.start_object(n); }
  bool end_object() override {
    --depth_;
    return dom_.end_object();
  }
  bool start_array(std::size_t n) override { return enter() && dom_.start_array(n); }
  bool end_array() override {
    --depth_;
    return dom_.end_array();
  }
  bool parse_error(std::size_t position, const std::string& token,
                   const nlohmann::detail::exception& e) override {
    return dom_.parse_error(position, token, e);  // throws json::parse_error
  }

 private:
  bool count() {
    if (++values_ <= limits_.max_values) return true;
    out_.stopped = JsonStop::kTooMany;
    return false;
  }
  bool text(const string_t& v) {
    if (check_utf8_) out_.all_utf8 = out_.all_utf8 && utf8::is_valid(v);
    return count();
  }
  bool enter() {
    if (!count()) return false;
    if (++depth_ <= limits_.max_depth) return true;
    out_.stopped = JsonStop::kTooDeep;
    return false;
  }

  BoundedJson& out_;
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  const JsonLimits limits_;
  const bool check_utf8_;
  size_t values_ = 0;
  size_t depth_ = 0;
};

}  // namespace

BoundedJson parse_bounded(std::string_view input, JsonLimits limits, json::input_format_t format,
                          bool check_utf8) {
  BoundedJson out;
  BoundedBuilder builder(out, limits, check_utf8);
  json::sax_parse(input.begin(), input.end(), &builder, format);
  return out;
}

}  // namespace safrl::util
