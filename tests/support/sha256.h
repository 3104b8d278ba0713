// SHA-256 (FIPS 180-4) of a byte string as 64 lowercase hex digits, for checking rendered text
// against the digests published in docs. Test-only: small and slow is fine.
#pragma once

#include <string>
#include <string_view>

namespace safrl::test {

std::string sha256_hex(std::string_view data);

}  // namespace safrl::test
