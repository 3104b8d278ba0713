// Where utf8proc 2.8's tables (Unicode 15.0) differ from the Unicode versions of Hugging Face
// tokenizers 0.23: its regex engines match \p{L}, \p{N} and \w with Unicode 16.0, its NFC has
// Unicode 9.0 tables. unicode.cpp consults these before utf8proc. unicode_tables.cpp is generated
// by make_unicode_tables.py next to it; the data is constant, so reading it is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace safrl::tokenizer::unicode {

struct CategoryRange {
  char32_t first;
  char32_t last;     // inclusive
  uint8_t category;  // a utf8proc_category_t
};

struct CodePointRange {
  char32_t first;
  char32_t last;  // inclusive
};

// Unicode 16.0 general categories where utf8proc's differ: the code points assigned in Unicode
// 15.1 and 16.0, and U+1171E, Mn in 15.0 and Mc in 16.0. Sorted by `first`, not overlapping.
extern const CategoryRange kUnicode16Categories[];
extern const size_t kUnicode16CategoryCount;

// Code points Unicode 9.0 had not assigned that have a non-zero combining class or a canonical
// decomposition, or are part of one, in utf8proc 2.8 or in Unicode 16.0 (so that a utf8proc of
// Unicode 16.0 needs no other table). Hugging Face's NFC never reorders, decomposes or composes
// them. Sorted by `first`, not overlapping.
extern const CodePointRange kNfcUnassignedInUnicode9[];
extern const size_t kNfcUnassignedInUnicode9Count;

}  // namespace safrl::tokenizer::unicode
