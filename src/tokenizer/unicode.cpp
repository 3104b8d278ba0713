#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>

#include <utf8proc.h>

#include "tokenizer/unicode_tables.h"
#include "util/utf8.h"

namespace safrl::tokenizer::unicode {
namespace {

constexpr char32_t kHangulJamoFirst = 0x1100;
constexpr char32_t kHangulJamoLast = 0x11FF;
constexpr char32_t kHangulSyllableFirst = 0xAC00;
constexpr char32_t kHangulSyllableLast = 0xD7A3;

// The range of the sorted, disjoint `ranges` that holds `cp`, or nullptr.
template <typename Range>
const Range* find_range(const Range* ranges, size_t count, char32_t cp) {
  const Range* const after =
      std::upper_bound(ranges, ranges + count, cp,
                       [](char32_t value, const Range& range) { return value < range.first; });
  return after != ranges && cp <= after[-1].last ? after - 1 : nullptr;
}

// The general category of Unicode 16.0, the version Hugging Face tokenizers classifies with:
// utf8proc's, unless unicode_tables.h has a newer one.
int category(char32_t cp) {
  const CategoryRange* newer = find_range(kUnicode16Categories, kUnicode16CategoryCount, cp);
  if (newer != nullptr) return newer->category;
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp));
}

// Hugging Face's NFC, of Unicode 9.0, takes a code point assigned later for an unassigned starter
// that it leaves alone, where utf8proc's may reorder, decompose or compose it.
bool is_unassigned_for_nfc(char32_t cp) {
  return find_range(kNfcUnassignedInUnicode9, kNfcUnassignedInUnicode9Count, cp) != nullptr;
}

bool is_white_space(char32_t cp, int category) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || category == UTF8PROC_CATEGORY_ZS ||
         category == UTF8PROC_CATEGORY_ZL || category == UTF8PROC_CATEGORY_ZP;
}

// Rust regex's \w is Alphabetic | M | Nd | Pc | Join_Control. Alphabetic is L, Nl and
// Other_Alphabetic; outside the marks, Other_Alphabetic holds only these circled and squared
// Latin letters (category So).
bool is_word(char32_t cp, int category) {
  switch (category) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return cp == 0x200C || cp == 0x200D || (cp >= 0x24B6 && cp <= 0x24E9) ||
             (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) ||
             (cp >= 0x1F170 && cp <= 0x1F189);
  }
}

// Whether NFC may compose this code point onto the starter before it. utf8proc 2.8 marks such
// "second" code points with comb_index >= 0x8000; for any other layout every code point counts as
// a possible second one, which only sends more text to the full normalizer.
bool may_compose_with_previous(const utf8proc_property_t* property) {
#if UTF8PROC_VERSION_MAJOR == 2 && UTF8PROC_VERSION_MINOR <= 8
  return property->comb_index != UINT16_MAX && property->comb_index >= 0x8000;
#else
  (void)property;
  return true;
#endif
}

bool has_canonical_decomposition(const utf8proc_property_t* property) {
  return property->decomp_seqindex != UINT16_MAX && property->decomp_type == 0;
}

// A starter that nothing before it can absorb, and that no context can change.
bool is_inert_starter(char32_t cp) {
  const utf8proc_property_t* property = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  return property->combining_class == 0 && !may_compose_with_previous(property) &&
         !(cp >= kHangulJamoFirst && cp <= kHangulJamoLast);
}

std::string nfc_with_utf8proc(std::string_view text) {
  utf8proc_uint8_t* normalized = nullptr;
  const utf8proc_ssize_t length =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &normalized,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  // Input is valid UTF-8, so the only possible failure is running out of memory.
  if (length < 0) throw std::bad_alloc();
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(normalized, &std::free);
  return std::string(reinterpret_cast<const char*>(normalized), static_cast<size_t>(length));
}

// Hugging Face's NFC of `text`: nothing reorders or composes across a starter that composes with
// nothing, so the pieces between the code points it takes for unassigned are normalized one by
// one, and those code points kept as they are.
std::string nfc_as_unicode9(std::string_view text) {
  std::string result;
  size_t piece = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t start = pos;
    if (!is_unassigned_for_nfc(util::utf8::decode(text, pos))) continue;
    result += nfc_with_utf8proc(text.substr(piece, start - piece));
    result += text.substr(start, pos - start);
    piece = pos;
  }
  return result += nfc_with_utf8proc(text.substr(piece));
}

// NFC leaves a string unchanged when each of its code points is unchanged in any context: an
// inert starter that is either not decomposable (or a Hangul syllable: a following T jamo is not
// inert) or a primary composite that NFC rebuilds from a decomposition that starts inert; or a
// code point Hugging Face's NFC takes for unassigned.
bool is_nfc_stable(char32_t cp) {
  if (is_unassigned_for_nfc(cp)) return true;
  if (!is_inert_starter(cp)) return false;
  if (cp >= kHangulSyllableFirst && cp <= kHangulSyllableLast) return true;
  const utf8proc_property_t* property = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
  if (!has_canonical_decomposition(property)) return true;
  utf8proc_int32_t decomposed[8];
  int boundclass = 0;
  const utf8proc_ssize_t count = utf8proc_decompose_char(
      static_cast<utf8proc_int32_t>(cp), decomposed, 8, UTF8PROC_DECOMPOSE, &boundclass);
  if (count <= 0 || count > 8 || !is_inert_starter(static_cast<char32_t>(decomposed[0]))) {
    return false;
  }
  std::string encoded;
  util::utf8::append(encoded, cp);
  return nfc_with_utf8proc(encoded) == encoded;
}

uint8_t compute_flags(char32_t cp) {
  const int category = unicode::category(cp);
  uint8_t result = 0;
  if (category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_LO) result |= kLetter;
  if (category >= UTF8PROC_CATEGORY_ND && category <= UTF8PROC_CATEGORY_NO) result |= kNumber;
  if (is_white_space(cp, category)) result |= kWhiteSpace;
  if (is_word(cp, category)) result |= kWord;
  if (is_nfc_stable(cp)) result |= kNfcStable;
  return result;
}

using BmpTable = std::array<uint8_t, 0x10000>;

const BmpTable& bmp_table() {
  static const std::unique_ptr<const BmpTable> table = [] {
    auto built = std::make_unique<BmpTable>();
    for (char32_t cp = 0; cp < 0x10000; ++cp) (*built)[cp] = compute_flags(cp);
    return built;
  }();
  return *table;
}

}  // namespace

uint8_t flags(char32_t cp) {
  if (cp < 0x10000) return bmp_table()[cp];
  return compute_flags(cp);
}

std::string_view nfc(std::string_view text, std::string& buffer) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    if (!(flags(util::utf8::decode(text, pos)) & kNfcStable)) {
      buffer = nfc_as_unicode9(text);
      return buffer;
    }
  }
  return text;
}

}  // namespace safrl::tokenizer::unicode
