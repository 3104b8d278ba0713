"""Writes unicode_tables.cpp: where utf8proc 2.8's Unicode 15.0 tables differ from the versions
Hugging Face tokenizers 0.23 works with.

- Its regex engines (Oniguruma for the split pattern, Rust regex for single_word) match \\p{L},
  \\p{N} and \\w with Unicode 16.0: kUnicode16Categories has the Unicode 16.0 general category of
  every code point whose utf8proc category is another one.
- Its NFC (the unicode-normalization-alignments crate) has Unicode 9.0 tables:
  kNfcUnassignedInUnicode9 has the code points Unicode 9.0 had not assigned that utf8proc's NFC
  (or Unicode 16.0's) reorders, decomposes or composes; Hugging Face's leaves them alone.

Needs Python 3, the libutf8proc 2.8 shared library (the tables are differences from it), the PyPI
package unicodedata2 16.0.0 and Perl's Unicode::UCD (for which code points Unicode 9.0 had). The
output is committed; none of these is a build dependency.

    pip install --target /tmp/ud2 unicodedata2==16.0.0
    PYTHONPATH=/tmp/ud2 python3 src/tokenizer/make_unicode_tables.py
"""
import ctypes
import ctypes.util
import pathlib
import subprocess
import sys

import unicodedata2

UNICODE_VERSION = "16.0.0"
UTF8PROC_VERSION = "2.8.0"
OUTPUT = pathlib.Path(__file__).resolve().with_name("unicode_tables.cpp")
# utf8proc_category_t, in the order of its values.
CATEGORIES = ("Cn Lu Ll Lt Lm Lo Mn Mc Me Nd Nl No Pc Pd Ps Pe Pi Pf Po Sm Sc Sk So Zs Zl Zp Cc Cf "
              "Cs Co").split()
SCALARS = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]


class Utf8procProperty(ctypes.Structure):
    """The leading fields of utf8proc_property_t."""
    _fields_ = [("category", ctypes.c_int16), ("combining_class", ctypes.c_int16)]


class Utf8proc:
    def __init__(self):
        lib = ctypes.CDLL(ctypes.util.find_library("utf8proc") or "libutf8proc.so.2")
        lib.utf8proc_version.restype = ctypes.c_char_p
        version = lib.utf8proc_version().decode()
        if version != UTF8PROC_VERSION:
            sys.exit(f"libutf8proc is {version}, the tables are made against {UTF8PROC_VERSION}")
        lib.utf8proc_get_property.argtypes = [ctypes.c_int32]
        lib.utf8proc_get_property.restype = ctypes.POINTER(Utf8procProperty)
        lib.utf8proc_decompose_char.argtypes = [
            ctypes.c_int32, ctypes.POINTER(ctypes.c_int32), ctypes.c_ssize_t, ctypes.c_int,
            ctypes.POINTER(ctypes.c_int)]
        lib.utf8proc_decompose_char.restype = ctypes.c_ssize_t
        self.lib = lib

    def category(self, cp):
        return CATEGORIES[self.lib.utf8proc_get_property(cp).contents.category]

    def combining_class(self, cp):
        return self.lib.utf8proc_get_property(cp).contents.combining_class

    def canonical_decomposition(self, cp):
        buffer = (ctypes.c_int32 * 8)()
        boundclass = ctypes.c_int(0)
        # UTF8PROC_COMPOSE; utf8proc_decompose_char decomposes under it as under DECOMPOSE (1 << 4).
        decompose = 1 << 3
        count = self.lib.utf8proc_decompose_char(cp, buffer, 8, decompose, ctypes.byref(boundclass))
        if not 0 < count <= 8:
            sys.exit(f"utf8proc_decompose_char(U+{cp:04X}) returned {count}")
        return list(buffer[:count])


def ranges_of(values):
    """[first, last, value] runs of consecutive code points with one value; `values` maps code
    points (ascending) to values."""
    ranges = []
    for cp, value in values:
        if ranges and ranges[-1][1] == cp - 1 and ranges[-1][2] == value:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp, value])
    return ranges


def unicode16_categories(utf8proc):
    return ranges_of((cp, unicodedata2.category(chr(cp))) for cp in SCALARS
                     if unicodedata2.category(chr(cp)) != utf8proc.category(cp))


def present_in_unicode9():
    """The code points Unicode 9.0 had assigned, from Perl's Unicode::UCD."""
    program = 'use Unicode::UCD "prop_invlist"; print join(" ", prop_invlist("Present_In=9.0"))'
    bounds = [int(n) for n in subprocess.run(["perl", "-e", program], capture_output=True,
                                             text=True, check=True).stdout.split()]
    bounds.append(0x110000)  # an inversion list ends inside the set when its length is odd
    return {cp for start, end in zip(bounds[0::2], bounds[1::2]) for cp in range(start, end)}


def nfc_unassigned_in_unicode9(utf8proc):
    """Code points that Unicode 9.0 had not assigned and that have a non-zero combining class or a
    canonical decomposition, or are part of one, in utf8proc or in Unicode 16.0 (so that the table
    still holds with a utf8proc of Unicode 16.0)."""
    in_nfc = set()
    for cp in SCALARS:
        unicode16 = [ord(c) for c in unicodedata2.normalize("NFD", chr(cp))]
        for combining_class, decomposition in (
                (utf8proc.combining_class(cp), utf8proc.canonical_decomposition(cp)),
                (unicodedata2.combining(chr(cp)), unicode16)):
            if combining_class != 0 or decomposition != [cp]:
                in_nfc.add(cp)
                in_nfc.update(decomposition)
    return ranges_of((cp, None) for cp in sorted(in_nfc - present_in_unicode9()))


def main():
    if unicodedata2.unidata_version != UNICODE_VERSION:
        sys.exit(f"unicodedata2 has Unicode {unicodedata2.unidata_version}, not {UNICODE_VERSION}")
    utf8proc = Utf8proc()
    categories = unicode16_categories(utf8proc)
    unassigned = nfc_unassigned_in_unicode9(utf8proc)

    def size(ranges):
        count = sum(last - first + 1 for first, last, _ in ranges)
        return f"{count} code points in {len(ranges)} ranges"

    category_rows = "".join(
        f"    {{0x{first:04X}, 0x{last:04X}, UTF8PROC_CATEGORY_{value.upper()}}},\n"
        for first, last, value in categories)
    unassigned_rows = "".join(f"    {{0x{first:04X}, 0x{last:04X}}},\n"
                              for first, last, _ in unassigned)
    OUTPUT.write_text(f"""\
// Generated by src/tokenizer/make_unicode_tables.py from unicodedata2 {UNICODE_VERSION}
// (Unicode {UNICODE_VERSION}), Perl's Unicode::UCD (for Unicode 9.0) and
// utf8proc {UTF8PROC_VERSION}: do not edit.
#include "tokenizer/unicode_tables.h"

#include <iterator>

#include <utf8proc.h>

namespace safrl::tokenizer::unicode {{

// clang-format off
// {size(categories)}.
const CategoryRange kUnicode16Categories[] = {{
{category_rows}}};

// {size(unassigned)}.
const CodePointRange kNfcUnassignedInUnicode9[] = {{
{unassigned_rows}}};
// clang-format on

const size_t kUnicode16CategoryCount = std::size(kUnicode16Categories);
const size_t kNfcUnassignedInUnicode9Count = std::size(kNfcUnassignedInUnicode9);

}}  // namespace safrl::tokenizer::unicode
""", encoding="utf-8")
    print(f"{OUTPUT}: categories {size(categories)}; NFC {size(unassigned)}")


if __name__ == "__main__":
    main()
